#include "broker/worker.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <exception>
#include <system_error>

#include "base/log.hpp"
#include "base/release_memory.hpp"
#include "net/endpoint_text.hpp"
#include "net/proxy_protocol.hpp"
#include "net/tcp_stream.hpp"

namespace hermod::broker {

namespace {
constexpr std::size_t kScratchSize = 64 * 1024;
constexpr auto kSweepInterval = std::chrono::milliseconds(250);
// How long a link closed after an error waits for its client to read why and close.
constexpr auto kLingerTime = std::chrono::seconds(1);
// Connections taken from a listener's queue per wake-up.
constexpr int kAcceptsPerRound = 64;
// Sweeps that give freed memory back after the queues emptied (two seconds of them: a publisher
// resumed by the fall still has its socket's backlog to go through, and allocates meanwhile).
constexpr int kReleaseSweeps = 8;
// How often worker 0 writes the memory budget's summary line (when the budget did something).
constexpr auto kMemoryLogInterval = std::chrono::seconds(10);
}  // namespace

Worker::Worker(const Services& services, std::uint32_t index, const std::vector<Worker*>& peers)
    : services_(services),
      index_(index),
      peers_(peers),
      io_(1),  // one thread runs this context: Asio may skip its internal locking
      poller_(io_),
      memory_(services.memory, index),
      handshakes_(services.config.limits.max_tls_handshakes),
      sweep_timer_(io_),
      accept_retry_timer_(io_),
      deadline_timer_(io_),
      scratch_(kScratchSize),
      policy_(services.policy.current()),
      sessions_(index, services.directory, stats_),
      routes_(index),
      writer_(index, *this),
      holds_(io_, services.clock, sessions_, writer_),
      delivery_(Delivery::Parts{index, services.config, services.clock, stats_, sessions_, routes_, services.retained,
                                writer_, holds_, *this, policy_, memory_.use()}),
      flaps_(services.clock),
      context_(LinkContext{*this, services.config, services.clock, stats_, memory_, header_cache_,
                           std::span<char>(scratch_.data(), scratch_.size())},
               services, index, io_, *this, sessions_, routes_, writer_, holds_, delivery_, flaps_, policy_) {
  stats_.set_listeners(services.config.listeners.size());
  // What a round of stream events read is committed and flushed once, right after the round.
  poller_.set_after_round([this] { end_turn(); });
  handshakes_.failures = &services.refusals.tls_failures;
  // A handshake ended with the bound reached: take TLS connections again.
  handshakes_.on_room = [this] {
    for (std::size_t i = 0; i < acceptors_.size(); ++i) {
      if (acceptors_[i].paused && !stopping_) {
        acceptors_[i].paused = false;
        do_accept(i);
      }
    }
  };
}

Worker::~Worker() = default;

void Worker::close_unknown_users(const auth::PasswordTable& users) {
  std::vector<std::shared_ptr<Connection>> gone;
  for (const auto& c : connections_) {
    if (const std::string* user = c->password_user(); user && !users.find(*user)) gone.push_back(c);
  }
  for (const auto& c : gone) {
    logger("auth")->info("{} {}: user \"{}\" is no longer in the password file: disconnecting", c->remote(),
                         c->session()->client_id(), *c->password_user());
    c->close(CloseReason::user_removed);
  }
}

void Worker::attach_store(store::Store* store) {
  writer_.attach(store);
  if (store) holds_.set_wait(std::chrono::milliseconds(services_.config.ack_on_delivery_ms));
}

void Worker::start() {
  work_.emplace(io_.get_executor());
  start_sweep();
  thread_ = std::thread([this] { run_loop(); });
}

void Worker::run_loop() {
  for (;;) {
    try {
      io_.run();
      return;
    } catch (const std::exception& e) {
      logger("broker")->error("worker {}: a handler failed outside any connection: {}", index_, e.what());
    }
  }
}

void Worker::shutdown() {
  post([this] {
    stopping_ = true;
    for (auto& a : acceptors_) {
      boost::system::error_code ec;
      a.socket.close(ec);
    }
    sweep_timer_.cancel();
    accept_retry_timer_.cancel();
    deadline_timer_.cancel();
    // close() removes each connection from the set, so iterate over a copy.
    std::vector<std::shared_ptr<Connection>> all(connections_.begin(), connections_.end());
    for (auto& c : all) c->close(CloseReason::server_shutdown);
    for (auto& l : lingering_) l.link->end_linger();
    lingering_.clear();
    parked_readers_.clear();
    services_.memory.set_parked(index_, false);
    poller_.stop();
    // What waited for a subscriber's PUBACK is written now, so a restart still has it.
    holds_.stop();
    holds_.store_overdue(Clock::time_point::max());
    commit_now();
    work_.reset();  // run() returns once the last handler is done
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

// ---------------------------------------------------------------------------------- accepting

void Worker::accept_on(asio::ip::tcp::acceptor acceptor, const Listener& listener) {
  acceptor.non_blocking(true);
  acceptors_.push_back(Acceptor{std::move(acceptor), &listener});
  do_accept(acceptors_.size() - 1);
}

void Worker::do_accept(std::size_t i) {
  acceptors_[i].socket.async_wait(asio::socket_base::wait_read, [this, i](const boost::system::error_code& ec) {
    if (stopping_ || ec == asio::error::operation_aborted) return;
    int error = ec.value();
    const Listener& listener = *acceptors_[i].listener;
    // TLS: the context of this moment; a reload swaps it for later handshakes only.
    const auto tls = listener.tls();
    // A bounded batch, so a connection storm cannot hold the worker's clients for long.
    for (int n = 0; n < kAcceptsPerRound && !error; ++n) {
      if (tls && handshakes_.full()) {
        // Enough handshakes in progress: the rest wait in the kernel's queue until one ends.
        acceptors_[i].paused = true;
        schedule_end_turn();
        return;
      }
      auto accepted = net::accept_stream(acceptors_[i].socket.native_handle(), poller_);
      if (!accepted.stream) {
        error = accepted.error;
        break;
      }
      AdmissionTable::Slot slot;
      std::unique_ptr<net::Stream> stream = admit(i, std::move(accepted.stream), slot);
      if (!stream) continue;
      const auto& config = listener.config();
      if (config.proxy_protocol) {
        stream = std::make_unique<net::ProxyStream>(std::move(stream), poller_, &services_.refusals.bad_proxy_header);
      }
      if (tls) {
        stream = net::TlsStream::accept(std::move(stream), tls, poller_, &handshakes_);
        if (!stream) continue;  // OpenSSL could not make the SSL object: this one is closed
      }
      if (const auto& ws = listener.ws()) stream = net::WsStream::accept(std::move(stream), ws, poller_);
      services_.connections.fetch_add(1, std::memory_order_relaxed);
      adopt(std::move(stream), true, &listener.config(), std::move(slot))->start();
    }
    if (error && error != EAGAIN && error != EWOULDBLOCK) {
      // Out of file descriptors and the like: wait a little instead of spinning.
      logger("broker")->warn("accept failed: {}", std::generic_category().message(error));
      accept_retry_timer_.expires_after(std::chrono::milliseconds(100));
      accept_retry_timer_.async_wait([this, i](const boost::system::error_code& e) {
        if (!e && !stopping_) do_accept(i);
      });
      return;
    }
    schedule_end_turn();  // connections accepted outside a poller round still end a turn
    do_accept(i);
  });
}

std::unique_ptr<net::Stream> Worker::admit(std::size_t i, std::unique_ptr<net::Stream> stream,
                                           AdmissionTable::Slot& slot) {
  const auto& config = acceptors_[i].listener->config();
  const auto address = stream->remote().address();
  auto refuse = [&](Counter& counter, RateLimitedLog& log, const std::string& subject) {
    counter.add();
    log.note(subject);
    stream->close();  // at once: not one byte of MQTT, TLS or WebSocket for it
    return std::unique_ptr<net::Stream>();
  };
  if (config.proxy_protocol && !net::contains_any(config.trusted_proxies, address)) {
    // The header is a claim: only the listener's trusted proxies may make it.
    logger("proxy")->debug("{} refused: not a trusted proxy of listener {}", net::endpoint_text(stream->remote()),
                           config.name());
    return refuse(stats_.connections_refused_proxy, services_.refusals.untrusted_proxy,
                  AddressGroup(address, 32, 128).to_string() + " on " + config.name());
  }
  // The reloadable keys as last read: the listener's lists and max_connections, the limits.
  const ListenerConfig& rules = policy_->listener(config.index);
  const auto admission = AdmissionRules::of(rules, policy_->limits());
  // Behind a PROXY protocol listener the peer is the proxy: the address limits and lists wait for
  // the client its header names (Connection::admit_proxied_client).
  const bool by_address = !config.proxy_protocol;
  if (by_address) {
    if (const auto why = address_refusal(rules, address); why != AdmissionRefusal::none) {
      return refuse(stats_.connections_refused_denied, services_.refusals.of(why),
                    AddressGroup(address, 32, 128).to_string());
    }
  }
  auto verdict = services_.admission.admit(config.index, by_address ? &address : nullptr, admission);
  if (verdict.refusal != AdmissionRefusal::none) {
    Counter& counter = verdict.refusal == AdmissionRefusal::listener_full  ? stats_.connections_refused_listener_full
                       : verdict.refusal == AdmissionRefusal::address_full ? stats_.connections_refused_address_full
                                                                           : stats_.connections_refused_connect_rate;
    const std::string subject = verdict.refusal == AdmissionRefusal::listener_full
                                    ? AddressGroup(address, 32, 128).to_string() + " on " + config.name()
                                    : verdict.group.to_string();
    return refuse(counter, services_.refusals.of(verdict.refusal), subject);
  }
  slot = std::move(verdict.slot);
  if (auto* l = stats_.listener(config.index)) l->accepted.add();
  return stream;
}

std::shared_ptr<Connection> Worker::adopt(std::unique_ptr<net::Stream> stream, bool counted,
                                          const ListenerConfig* listener, AdmissionTable::Slot slot) {
  auto conn = std::make_shared<Connection>(context_, std::move(stream), listener);
  if (counted) conn->mark_counted();
  conn->hold(std::move(slot));
  connections_.insert(conn);
  return conn;
}

void Worker::forget(Connection& c) {
  // shared_ptr keys: look up with a non-owning alias of the raw pointer.
  const auto it = connections_.find(std::shared_ptr<Connection>(std::shared_ptr<Connection>(), &c));
  if (it == connections_.end()) return;
  retired_.push_back(*it);
  connections_.erase(it);
  schedule_end_turn();
}

void Worker::linger(std::shared_ptr<Link> link) {
  lingering_.push_back(Lingering{std::move(link), services_.clock.now() + kLingerTime});
}

void Worker::park_reader(std::shared_ptr<Link> link) {
  if (parked_readers_.empty()) services_.memory.set_parked(index_, true);
  parked_readers_.push_back(std::move(link));
}

void Worker::update_memory() {
  auto& budget = services_.memory;
  if (memory_.update() == MemoryGauge::Change::went_over) stats_.memory_exceeded.add();
  if (memory_.over()) return;
  if (!parked_readers_.empty()) resume_parked_readers();
  // A worker whose publishers are all parked may run no turn until something wakes it.
  for (std::uint32_t i = 0; i < peers_.size(); ++i) {
    if (i == index_ || !budget.parked(i) || !budget.claim_nudge(i)) continue;
    Worker& other = *peers_[i];
    other.post([&other] {
      other.services_.memory.nudge_done(other.index_);
      other.update_memory();
    });
  }
}

void Worker::resume_parked_readers() {
  services_.memory.set_parked(index_, false);
  auto links = std::move(parked_readers_);
  parked_readers_.clear();
  for (auto& l : links) l->resume_reading_after_budget();
}

void Worker::log_memory_summary(Clock::time_point now) {
  // At most one line per interval: the first as soon as the budget does something, the next
  // one no sooner than an interval later, covering everything since the last.
  if (now - memory_logged_at_ < kMemoryLogInterval) return;
  std::uint64_t totals[3] = {0, 0, 0};
  for (const Worker* w : peers_) {
    totals[0] += w->stats_.memory_exceeded.get();  // Counters: readable from any thread
    totals[1] += w->stats_.memory_reads_paused.get();
    totals[2] += w->stats_.dropped_for(DropReason::memory_budget);
  }
  const std::uint64_t d[3] = {totals[0] - memory_logged_[0], totals[1] - memory_logged_[1], totals[2] - memory_logged_[2]};
  if (d[0] == 0 && d[1] == 0 && d[2] == 0) return;
  const auto since = memory_logged_at_ == Clock::time_point{} ? std::string("since the start")
                                                             : fmt::format("in the last {} s",
                                                                           std::chrono::duration_cast<std::chrono::seconds>(
                                                                               now - memory_logged_at_).count());
  memory_logged_at_ = now;
  std::copy(std::begin(totals), std::end(totals), memory_logged_);
  constexpr double kMiB = 1024.0 * 1024.0;
  logger("broker")->warn(
      "memory budget: {:.1f} of {:.1f} MiB queued now; {} it was exceeded {} time(s), publishers' reading was "
      "paused {} time(s), {} QoS 0 message(s) to stalled subscribers were dropped",
      static_cast<double>(services_.memory.used()) / kMiB, static_cast<double>(services_.memory.budget()) / kMiB,
      since, d[0], d[1], d[2]);
}

void Worker::wake_at(Clock::time_point due) {
  if (due >= deadline_ || stopping_) return;
  deadline_ = due;
  const auto left = due - services_.clock.now();
  deadline_timer_.expires_after(left.count() > 0 ? left : Clock::duration::zero());
  deadline_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // re-armed for an earlier deadline, or stopping
    deadline_ = Clock::time_point::max();
    delivery_.expire(services_.clock.now());
    if (const auto next = delivery_.next_will_due(); next != Clock::time_point::max()) wake_at(next);
  });
}

void Worker::hand_off(std::uint32_t home, HandOff h) {
  Worker& target = *peers_[home];
  target.post([&target, h = std::move(h)]() mutable {
    auto stream = h.stream->attach(target.poller_);
    if (!stream) {
      if (h.counted) target.services_.connections.fetch_sub(1, std::memory_order_relaxed);
      return;  // h.slot is released with h
    }
    target.adopt(std::move(stream), h.counted, h.listener, std::move(h.slot))
        ->resume_after_handoff(std::move(h.connect), std::move(h.leftover));
  });
}

// --------------------------------------------------------------------------------- timeouts

void Worker::start_sweep() {
  sweep_timer_.expires_after(kSweepInterval);
  sweep_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    // Event-loop lag: how long after its expiry the timer's handler ran (the real clock's, not
    // the injected one's: this measures the thread, not the broker's notion of time).
    const auto late = std::chrono::steady_clock::now() - sweep_timer_.expiry();
    stats_.loop_lag_us.set(static_cast<std::uint64_t>(
        std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(late).count())));
    sweep();
    start_sweep();
  });
}

void Worker::sweep() {
  const auto now = services_.clock.now();
  // Only the connections to close are copied (closing edits the set); make bench found the
  // copy of every connection's shared_ptr, 4 times a second, to be all an idle broker did.
  std::vector<std::pair<std::shared_ptr<Connection>, CloseReason>> expired;
  for (const auto& c : connections_) {
    if (auto reason = c->timed_out(now)) expired.emplace_back(c, *reason);
    c->release_idle_buffers();
  }
  for (auto& [c, reason] : expired) c->close(reason);
  if (!sessions_.watched().empty()) delivery_.expire(now);
  if (!lingering_.empty()) {
    std::erase_if(lingering_, [now](Lingering& l) {
      if (l.until > now && l.link->lingering()) return false;
      l.link->end_linger();
      return true;
    });
  }
  // The hold timer wakes at the first due hold; the clock decides what is due (a test clock too).
  holds_.store_overdue(now);
  update_memory();
  if (memory_.take_release()) {
    // The queues emptied after a burst: the allocator keeps freed pages for reuse until asked.
    stats_.memory_releases.add();
    release_sweeps_ = kReleaseSweeps;
  }
  if (release_sweeps_ > 0) {
    // Again on the next few sweeps: mimalloc gives pages back only some time after they are
    // freed (its decommit delay), at a later call; one call left 19 MiB of a 20 s flood behind.
    --release_sweeps_;
    release_free_memory();
  }
  if (index_ == 0) log_memory_summary(now);
  if (now >= next_prune_) {
    // Once a second is plenty: the tables only forget what no longer limits anyone.
    next_prune_ = now + std::chrono::seconds(1);
    const auto& limits = policy_->limits();
    flaps_.prune(FlapRules::of(limits));
    if (index_ == 0) {
      // Shared by all workers: one of them tidies them and writes the log summaries.
      services_.admission.prune();
      services_.logins.prune(LoginDelayRules::of(limits));
    }
  }
  if (index_ == 0) services_.refusals.flush();
}

// ---------------------------------------------------------------------------------- the turn

void Worker::schedule_flush(std::shared_ptr<Link> link) {
  dirty_.push_back(std::move(link));
  schedule_end_turn();
}

void Worker::schedule_end_turn() {
  if (end_turn_due_) return;
  end_turn_due_ = true;
  // One commit, one gathered write per link, one post per target worker for the whole round:
  // inside a round of stream events the poller calls end_turn() when the round is over;
  // otherwise (a timer, a post from another worker) it runs after the handlers already queued.
  if (!poller_.in_round()) post([this] { end_turn(); });
}

void Worker::end_turn() {
  if (!end_turn_due_) return;  // already ended at the end of a round
  end_turn_due_ = false;
  commit_now();
  if (turn_failed_) {
    // Nothing of this turn may be acknowledged: drop its output and close those connections.
    turn_failed_ = false;
    auto batch = std::move(dirty_);
    dirty_.clear();
    for (auto& l : batch) std::static_pointer_cast<Connection>(l)->abort(mqtt::ReasonCode::unspecified_error);
    for (auto& g : holds_.take_committing()) {
      if (g->publisher) static_cast<Connection*>(g->publisher)->abort(mqtt::ReasonCode::unspecified_error);
    }
  }
  delivery_.flush_outboxes();
  auto batch = std::move(dirty_);
  dirty_.clear();
  for (auto& l : batch) l->flush();
  header_cache_.message.reset();  // no message outlives its turn for the cache's sake
  retired_.clear();
  update_memory();
}

bool Worker::commit_now() {
  // Group commit: everything this turn acknowledges is on disk before any byte leaves.
  const bool writes = writer_.has_writes();
  const auto started = writes ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
  auto status = writer_.commit();
  if (writes) {
    stats_.store_commits.observe(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count()));
  }
  if (!status.ok()) {
    logger("store")->error("store write failed, closing {} connection(s) unacknowledged: {}", dirty_.size(),
                           status.message());
    turn_failed_ = true;
  }
  // Deliveries written this turn: what their publishers' acknowledgements waited for is stored.
  if (!turn_failed_) holds_.open_committed();
  return !turn_failed_;
}

}  // namespace hermod::broker
