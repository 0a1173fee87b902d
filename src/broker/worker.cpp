#include "broker/worker.hpp"

#include <algorithm>

#include <boost/asio/post.hpp>

#include "broker/broker.hpp"
#include "broker/connection.hpp"
#include "broker/log.hpp"
#include "broker/persistence.hpp"
#include "broker/store/records.hpp"
#include "mqtt/topic.hpp"

namespace hermod::broker {

namespace {
constexpr std::size_t kScratchSize = 64 * 1024;
constexpr auto kSweepInterval = std::chrono::milliseconds(250);
}  // namespace

Worker::Worker(Broker& broker, std::uint32_t index)
    : broker_(broker),
      index_(index),
      io_(1),  // one thread runs this context: Asio may skip its internal locking
      sweep_timer_(io_),
      accept_retry_timer_(io_),
      gate_timer_(io_),
      scratch_(kScratchSize) {}

Worker::~Worker() = default;

const Config& Worker::config() const { return broker_.config(); }

void Worker::attach_store(store::Store* store) {
  store_ = store;
  if (store_) batch_ = std::make_unique<store::Batch>();
  if (store_) ack_wait_ = std::chrono::milliseconds(config().ack_on_delivery_ms);
}

void Worker::start() {
  outboxes_.resize(broker_.worker_count());
  work_.emplace(io_.get_executor());
  start_sweep();
  thread_ = std::thread([this] {
    try {
      io_.run();
    } catch (const std::exception& e) {
      // Handlers catch per-connection failures; reaching here is a bug.
      logger("broker")->critical("worker {} stopped by exception: {}", index_, e.what());
      std::abort();
    }
  });
}

void Worker::shutdown() {
  post([this] {
    stopping_ = true;
    for (auto& a : acceptors_) {
      boost::system::error_code ec;
      a.close(ec);
    }
    sweep_timer_.cancel();
    accept_retry_timer_.cancel();
    // close() removes each connection from the set, so iterate over a copy.
    std::vector<std::shared_ptr<Connection>> all(connections_.begin(), connections_.end());
    for (auto& c : all) c->close(CloseReason::server_shutdown);
    // What waited for a subscriber's PUBACK is written now, so a restart still has it.
    gate_timer_.cancel();
    store_overdue(Clock::time_point::max());
    commit_now();
    work_.reset();  // run() returns once the last handler is done
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

// ---------------------------------------------------------------------------------- accepting

void Worker::accept_on(asio::ip::tcp::acceptor acceptor) {
  acceptors_.push_back(std::move(acceptor));
  do_accept(acceptors_.size() - 1);
}

void Worker::do_accept(std::size_t i) {
  acceptors_[i].async_accept(io_, [this, i](const boost::system::error_code& ec, Connection::Socket socket) {
    if (stopping_ || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of file descriptors and the like: wait a little instead of spinning.
      logger("broker")->warn("accept failed: {}", ec.message());
      accept_retry_timer_.expires_after(std::chrono::milliseconds(100));
      accept_retry_timer_.async_wait([this, i](const boost::system::error_code& e) {
        if (!e && !stopping_) do_accept(i);
      });
      return;
    }
    boost::system::error_code e;
    const auto remote = socket.remote_endpoint(e);  // unspecified (0.0.0.0:0) if unknown
    broker_.connection_count().fetch_add(1, std::memory_order_relaxed);
    auto conn = std::make_shared<Connection>(*this, std::move(socket), std::move(remote));
    conn->mark_counted();
    add_connection(conn);
    conn->start();
    do_accept(i);
  });
}

void Worker::add_connection(const std::shared_ptr<Connection>& c) { connections_.insert(c); }

void Worker::remove_connection(Connection* c) {
  // shared_ptr keys: look up with a non-owning alias of the raw pointer.
  connections_.erase(std::shared_ptr<Connection>(std::shared_ptr<Connection>(), c));
}

// --------------------------------------------------------------------------------- timeouts

void Worker::start_sweep() {
  sweep_timer_.expires_after(kSweepInterval);
  sweep_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    sweep();
    start_sweep();
  });
}

void Worker::sweep() {
  const auto now = Clock::now();
  // Only the connections to close are copied (closing edits the set); make bench found the
  // copy of every connection's shared_ptr, 4 times a second, to be all an idle broker did.
  std::vector<std::pair<std::shared_ptr<Connection>, CloseReason>> expired;
  for (const auto& c : connections_) {
    if (auto reason = c->timed_out(now)) expired.emplace_back(c, *reason);
    c->release_idle_buffers();
  }
  for (auto& [c, reason] : expired) c->close(reason);
  if (!offline_watch_.empty()) expire_sessions(now);
}

// ---------------------------------------------------------------------------------- writing

void Worker::schedule_flush(const std::shared_ptr<Connection>& c) {
  dirty_.push_back(c);
  schedule_end_turn();
}

void Worker::schedule_end_turn() {
  if (end_turn_posted_) return;
  end_turn_posted_ = true;
  // Runs after the handlers already queued in this turn: one commit, one gathered write per
  // connection, one post per target worker.
  post([this] { end_turn(); });
}

void Worker::end_turn() {
  end_turn_posted_ = false;
  commit_now();
  if (turn_failed_) {
    // Nothing of this turn may be acknowledged: drop its output and close those connections.
    turn_failed_ = false;
    auto batch = std::move(dirty_);
    dirty_.clear();
    for (auto& c : batch) c->abort(mqtt::ReasonCode::unspecified_error);
    auto gates = std::move(committing_gates_);
    committing_gates_.clear();
    for (auto& g : gates) {
      if (g->publisher) g->publisher->abort(mqtt::ReasonCode::unspecified_error);
    }
  }
  flush_outboxes();
  flush_dirty();
  publish_header_cache_.message.reset();  // no message outlives its turn for the cache's sake
}

bool Worker::commit_now() {
  if (batch_ && !batch_->empty()) {
    // Group commit: everything this turn acknowledges is on disk before any byte leaves.
    const std::string error = store_->commit(*batch_);
    if (!error.empty()) {
      logger("store")->error("store write failed, closing {} connection(s) unacknowledged: {}", dirty_.size(), error);
      turn_failed_ = true;
    }
  }
  if (!turn_failed_ && !committing_gates_.empty()) {
    // Deliveries written this turn: what their publishers' acknowledgements waited for is stored.
    auto gates = std::move(committing_gates_);
    committing_gates_.clear();
    for (auto& g : gates) open_gate(*g);
  }
  return !turn_failed_;
}

store::Batch* Worker::writes() {
  if (!batch_) return nullptr;
  schedule_end_turn();
  return batch_.get();
}

void Worker::flush_dirty() {
  auto batch = std::move(dirty_);
  dirty_.clear();
  for (auto& c : batch) c->flush();
}

// --------------------------------------------------------------------------------- sessions

Session* Worker::find_session(std::string_view client_id) {
  auto it = sessions_.find(client_id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

Session* Worker::session_by_uid(std::uint64_t uid) {
  auto it = sessions_by_uid_.find(uid);
  return it == sessions_by_uid_.end() ? nullptr : it->second;
}

Session& Worker::create_session(const std::string& client_id, std::uint32_t expiry_interval, std::uint64_t uid) {
  // uid: a per-worker counter with the worker index in the low bits, unique broker-wide; stored
  // sessions keep theirs across restarts (raise_id_floor keeps new ones above them).
  if (uid == 0) uid = (++next_uid_ << 10) | index_;
  auto s = std::make_unique<Session>(client_id, uid, expiry_interval);
  Session& ref = *s;
  sessions_by_uid_[uid] = s.get();
  sessions_.emplace(ref.client_id(), std::move(s));
  stats_.sessions.add();
  return ref;
}

void Worker::destroy_session(Session& s) {
  offline_watch_.erase(&s);
  // [MQTT-3.1.3-9] (MQTT 5): a delayed will is published at the latest when the session ends.
  if (auto& w = s.pending_will()) {
    auto msg = std::move(w->message);
    w.reset();
    publish(msg);
  }
  // MQTT 5 section 4.8.2: messages of a shared subscription that this member will never
  // acknowledge go to another member of the group. The new member's stored reference to a shared
  // body is taken before this member's is dropped, so the body's count never passes through zero
  // here: another worker dropping its reference at the same moment cannot delete the body in
  // its own commit while this one still needs it.
  auto drop_or_hand_over = [&](OutboundMessage& out) {
    const RouteEntry* other = out.shared_filter().empty() || !out.message
                                  ? nullptr
                                  : router_.pick_shared(out.shared_filter(), {index_, s.uid()});
    if (!other) return forget_stored(s, out);
    OutboundMessage next(out.message, out.qos, false);
    next.set_shared_filter(std::string(out.shared_filter()));
    if (other->subscription_id) next.add_subscription_id(other->subscription_id);
    if (other->persistent && next.qos > 0) store_delivery(other->who, next, false);
    forget_stored(s, out);
    route_to(other->who, std::move(next));
  };
  s.inflight().for_each([&](mqtt::PacketId, InflightMessage& m) {
    if (m.state == InflightMessage::State::awaiting_pubcomp) {
      forget_stored(s, m.out);  // the subscriber has it already
    } else {
      drop_or_hand_over(m.out);
    }
  });
  while (!s.queue_empty()) {
    auto out = s.dequeue();
    drop_or_hand_over(out);
  }
  unstore_session(s);

  std::vector<SubscriptionChange> changes;
  for (const auto& [filter, opts] : s.subscriptions()) {
    changes.push_back({filter, RouteEntry{{index_, s.uid()}, opts.options}, false});
  }
  stats_.subscriptions.sub(s.subscriptions().size());
  stats_.sessions.sub();
  if (!changes.empty()) change_subscriptions(std::move(changes), [] {});
  sessions_by_uid_.erase(s.uid());
  sessions_.erase(sessions_.find(s.client_id()));
}

void Worker::session_offline(Session& s) {
  s.mark_disconnected(Clock::now());
  store_session(s);
  watch_offline(s);
}

void Worker::watch_offline(Session& s) {
  if (s.expiry_interval() != Session::kNeverExpires || s.pending_will()) offline_watch_.insert(&s);
}

void Worker::session_online(Session& s) {
  offline_watch_.erase(&s);
  s.pending_will().reset();  // reconnected within the will delay: no will [MQTT-3.1.2-8]
}

void Worker::store_session(Session& s) {
  auto* w = s.persistent() ? writes() : nullptr;
  if (!w) return;
  store::SessionRecord r;
  r.client_id = s.client_id();
  r.expiry_interval = s.expiry_interval();
  r.offline_since_ms = s.connection() ? 0 : to_wall_ms(s.disconnected_at());
  w->put(store::session_key(s.uid()), store::encode(r));
  if (!s.stored()) {
    // Becoming persistent: what the session already had must be stored with it.
    s.set_stored(true);
    for (const auto& [filter, sub] : s.subscriptions()) store_subscription(s, filter, sub, true);
    for (auto id : s.inbound_qos2()) w->put(store::inbound_key(s.uid(), id), {});
  }
}

void Worker::unstore_session(Session& s) {
  if (!s.stored()) return;
  s.set_stored(false);
  auto* w = writes();
  if (!w) return;
  w->del(store::session_key(s.uid()));
  w->del_prefix(store::subscription_prefix(s.uid()));
  w->del_prefix(store::inbound_prefix(s.uid()));
  w->del_prefix(store::queue_prefix(s.uid()));
}

void Worker::store_subscription(Session& s, const std::string& filter, const SubscriptionRecord& r, bool add) {
  auto* w = s.stored() ? writes() : nullptr;
  if (!w) return;
  if (add) {
    w->put(store::subscription_key(s.uid(), filter), store::encode(store::SubscriptionRecordValue{r.options, r.subscription_id}));
  } else {
    w->del(store::subscription_key(s.uid(), filter));
  }
}

void Worker::store_inflight(Session& s, mqtt::PacketId id, InflightMessage& m) {
  if (m.out.store_key == 0 || !m.out.message) return;
  auto* w = writes();
  if (!w) return;
  m.out.record_deferred = false;
  w->put(store::queue_key(s.uid(), m.out.store_key),
         store::encode(to_queue_record(m.out, id, static_cast<std::uint8_t>(m.state))));
}

void Worker::forget_stored(Session& s, OutboundMessage& out) {
  if (out.store_key == 0) return;
  auto* w = writes();
  const std::uint64_t key = out.store_key;
  out.store_key = 0;
  if (!w) return;
  if (!out.record_deferred) w->del(store::queue_key(s.uid(), key));
  out.record_deferred = false;
  if (out.inline_body) return;
  // The last stored reference to a body deletes it, on whichever worker that happens.
  if (out.message && out.message->store_refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    w->del(store::body_key(out.message->store_id));
  }
}

void Worker::expire_sessions(Clock::time_point now) {
  std::vector<Session*> ended;
  for (Session* s : offline_watch_) {
    auto& w = s->pending_will();
    if (w && now >= w->due) {
      auto msg = std::move(w->message);
      w.reset();
      publish(msg);
    }
    if (s->expired(now)) ended.push_back(s);
  }
  for (Session* s : ended) {
    logger("client")->info("session {} expired", s->client_id());
    destroy_session(*s);
  }
}

std::string Worker::generate_client_id() {
  // Pick an id whose home is this worker, so the connection needs no hand-off.
  for (std::uint64_t n = 0;; ++n) {
    std::string id = "hermod-" + std::to_string(index_) + "-" + std::to_string(++next_uid_) + "-" + std::to_string(n);
    if (broker_.home_worker(id) == index_ && !find_session(id)) return id;
  }
}

// ------------------------------------------------------------------------------ subscriptions

void Worker::apply(const std::vector<SubscriptionChange>& changes) {
  for (const auto& c : changes) {
    if (c.add) {
      router_.subscribe(c.filter, c.entry);
    } else {
      router_.unsubscribe(c.filter, c.entry.who);
    }
  }
}

void Worker::update_route_persistence(Session& s) {
  std::vector<SubscriptionChange> changes;
  for (const auto& [filter, r] : s.subscriptions()) {
    changes.push_back({filter, RouteEntry{{index_, s.uid()}, r.options, r.subscription_id, s.persistent()}, true});
  }
  change_subscriptions(std::move(changes), [] {});
}

void Worker::change_subscriptions(std::vector<SubscriptionChange> changes, std::function<void()> done) {
  apply(changes);
  const auto n = broker_.worker_count();
  if (n == 1 || changes.empty()) {
    done();
    return;
  }
  auto shared = std::make_shared<const std::vector<SubscriptionChange>>(std::move(changes));
  // Touched only on this thread: each replica's acknowledgement is posted back here.
  auto remaining = std::make_shared<std::uint32_t>(n - 1);
  auto finish = std::make_shared<std::function<void()>>(std::move(done));
  for (std::uint32_t w = 0; w < n; ++w) {
    if (w == index_) continue;
    Worker& other = broker_.worker(w);
    other.post([&other, this, shared, remaining, finish] {
      other.apply(*shared);
      post([remaining, finish] {
        if (--*remaining == 0) (*finish)();
      });
    });
  }
}

// ---------------------------------------------------------------------------------- routing

std::size_t Worker::publish(const MessagePtr& msg) {
  if (msg->retain) {
    broker_.retained().set(msg);
    // $SYS values are the broker's own and stale after a restart: not stored.
    auto* w = msg->topic().starts_with("$SYS/") ? nullptr : writes();
    if (w) {
      if (msg->payload().empty()) {
        w->del(store::retained_key(msg->topic()));
      } else {
        w->put(store::retained_key(msg->topic()), store::encode(to_body_record(*msg)));
      }
    }
  }
  matches_.clear();
  router_.match(msg->topic(), matches_);
  if (matches_.empty()) return 0;
  // One copy per session at the highest QoS among its matching subscriptions, carrying every
  // matching subscription identifier (MQTT 5 section 3.3.4).
  std::sort(matches_.begin(), matches_.end(), [](const RouteEntry* a, const RouteEntry* b) {
    return std::tie(a->who.worker, a->who.session) < std::tie(b->who.worker, b->who.session);
  });
  // Sessions that will store this message: with only one, its body goes inline in that entry.
  std::size_t stored_recipients = 0;
  if (store_ && msg->qos > 0) {
    for (std::size_t i = 0; i < matches_.size() && stored_recipients < 2; ++i) {
      if (matches_[i]->persistent && matches_[i]->options.qos > 0 &&
          (i == 0 || !(matches_[i - 1]->who == matches_[i]->who))) {
        ++stored_recipients;
      }
    }
  }
  std::size_t routed = 0;
  for (std::size_t i = 0; i < matches_.size();) {
    const RouteEntry* first = matches_[i];
    OutboundMessage out{msg, 0, false};
    bool any = false;
    for (; i < matches_.size() && matches_[i]->who == first->who; ++i) {
      const RouteEntry& e = *matches_[i];
      // MQTT 5 no local: not back to the publisher's own session [MQTT-3.8.3-3].
      if (e.options.no_local && e.who.session == msg->origin_session) continue;
      any = true;
      out.qos = std::max(out.qos, std::min(msg->qos, e.options.qos));
      // [MQTT-3.3.1-9]: a live message goes out with retain 0 unless retain-as-published.
      out.retain = out.retain || (e.options.retain_as_published && msg->retain);
      if (e.subscription_id) out.add_subscription_id(e.subscription_id);
      if (e.shared_filter) out.set_shared_filter(*e.shared_filter);
    }
    if (!any) continue;
    ++routed;
    if (first->persistent && out.qos > 0) store_delivery(first->who, out, stored_recipients == 1);
    route_to(first->who, std::move(out));
  }
  return routed;
}

void Worker::store_delivery(const SubscriberRef& who, OutboundMessage& out, bool sole) {
  auto* w = writes();
  if (!w) return;
  const Message& m = *out.message;
  out.inline_body = sole;
  if (!sole && m.store_refs.fetch_add(1, std::memory_order_acq_rel) == 0) {
    // The first stored recipient stores the body; the rest reference it.
    if (m.store_id == 0) m.store_id = next_store_id();
    w->put(store::body_key(m.store_id), store::encode(to_body_record(m)));
  }
  out.store_key = next_store_id();
  if (who.worker == index_) {
    // Delivered by route_to() right now, in this turn: deliver() writes the entry once it knows
    // whether the message goes in flight (with its packet id) or waits in the queue.
    out.record_deferred = true;
    return;
  }
  w->put(store::queue_key(who.session, out.store_key), store::encode(to_queue_record(out, 0, 0)));
}

void Worker::store_queued(Session& s, OutboundMessage& out) {
  if (!out.record_deferred) return;
  out.record_deferred = false;
  if (auto* w = writes()) w->put(store::queue_key(s.uid(), out.store_key), store::encode(to_queue_record(out, 0, 0)));
}

void Worker::route_to(const SubscriberRef& who, OutboundMessage out) {
  if (who.worker == index_) {
    if (Session* s = session_by_uid(who.session)) deliver(*s, std::move(out));
    return;
  }
  outboxes_[who.worker].push_back(Delivery{who.session, std::move(out)});
  schedule_end_turn();
}

void Worker::flush_outboxes() {
  for (std::uint32_t w = 0; w < outboxes_.size(); ++w) {
    if (outboxes_[w].empty()) continue;
    Worker& target = broker_.worker(w);
    target.post([&target, batch = std::move(outboxes_[w])]() mutable { target.on_deliveries(batch); });
    outboxes_[w].clear();  // moved from; now certainly empty
  }
}

void Worker::on_deliveries(std::vector<Delivery>& batch) {
  for (auto& d : batch) {
    if (Session* s = session_by_uid(d.session)) deliver(*s, std::move(d.out));
  }
}

void Worker::deliver(Session& s, OutboundMessage out) {
  const auto& limits = config().limits;
  Connection* c = s.connection();
  if (!c) {
    const bool queue = s.persistent() && (out.qos > 0 || limits.queue_qos0);
    if (!queue || !s.enqueue(out, limits)) {
      stats_.messages_dropped.add();
      forget_stored(s, out);
      return;
    }
    store_queued(s, s.queue_back());
    return;
  }
  if (out.qos == 0) {
    if (!c->send_publish(out, 0, false)) stats_.messages_dropped.add();
    return;
  }
  // Order is kept: while older messages wait in the queue, new ones queue behind them.
  if (s.inflight().size() < c->inflight_limit() && s.queue_empty()) {
    send_inflight(s, std::move(out));
  } else if (!s.enqueue(out, limits)) {
    stats_.messages_dropped.add();
    forget_stored(s, out);
  } else {
    store_queued(s, s.queue_back());
  }
}

void Worker::send_inflight(Session& s, OutboundMessage out) {
  const auto id = s.next_packet_id();
  if (!id) {  // cannot happen while max_inflight <= 65535; keep the message rather than lose it
    if (!s.enqueue(out, config().limits)) {
      stats_.messages_dropped.add();
      forget_stored(s, out);
    } else {
      store_queued(s, s.queue_back());
    }
    return;
  }
  const auto state = out.qos == 1 ? InflightMessage::State::awaiting_puback : InflightMessage::State::awaiting_pubrec;
  auto& entry = s.inflight().insert(*id, InflightMessage{std::move(out), s.next_sequence(), state});
  if (!s.connection()->send_publish(entry.out, *id, false)) {
    // Expired, or larger than the client accepts: discarded as if delivered [MQTT-3.1.2-25].
    stats_.messages_dropped.add();
    forget_stored(s, entry.out);
    s.inflight().erase(*id);
    return;
  }
  if (gate_publisher_ && entry.out.record_deferred && entry.out.qos == 1) return hold_for_ack(s, *id, entry);
  store_inflight(s, *id, entry);
}

void Worker::hold_for_ack(Session& s, mqtt::PacketId id, InflightMessage& m) {
  if (!gate_) {
    gate_ = std::make_shared<AckGate>();
    gate_->publisher = gate_publisher_;
  }
  m.gate = GateHold(gate_);
  held_.push_back(HeldDelivery{Clock::now() + ack_wait_, s.uid(), m.sequence, id});
  if (!gate_timer_armed_) arm_gate_timer();
}

void Worker::arm_gate_timer() {
  gate_timer_armed_ = true;
  gate_timer_.expires_at(held_.front().due);
  gate_timer_.async_wait([this](const boost::system::error_code& ec) {
    gate_timer_armed_ = false;
    if (ec || stopping_) return;
    store_overdue(Clock::now());
    if (!held_.empty()) arm_gate_timer();
  });
}

void Worker::store_overdue(Clock::time_point now) {
  while (!held_.empty() && held_.front().due <= now) {
    const HeldDelivery h = held_.front();
    held_.pop_front();
    Session* s = session_by_uid(h.session);
    InflightMessage* m = s ? s->inflight().find(h.id) : nullptr;
    if (!m || m->sequence != h.sequence || !m->gate) continue;
    if (!s->stored()) {
      m->gate.reset();  // resumed without expiry since: nothing of it is kept
      continue;
    }
    // Not acknowledged in time (or the subscriber went away): written like any delivery; the
    // publisher's acknowledgement goes once this turn is committed.
    store_inflight(*s, h.id, *m);
    committing_gates_.push_back(m->gate.take());
  }
}

void Worker::pump(Session& s) {
  while (s.connection() && !s.queue_empty() && s.inflight().size() < s.connection()->inflight_limit()) {
    OutboundMessage out = s.dequeue();
    if (out.qos == 0) {
      if (!s.connection()->send_publish(out, 0, false)) stats_.messages_dropped.add();
      forget_stored(s, out);
    } else {
      send_inflight(s, std::move(out));
    }
  }
}

void Worker::resume(Session& s) {
  Connection* c = s.connection();
  // [MQTT-4.4.0-1]: resend unacknowledged PUBLISH (with DUP) and PUBREL in their original order.
  for (const mqtt::PacketId id : s.inflight_in_order()) {
    InflightMessage* m = s.inflight().find(id);
    if (m->state == InflightMessage::State::awaiting_pubcomp) {
      c->send(mqtt::Pubrel{id});  // rare: resent once per reconnect
    } else if (!c->send_publish(m->out, id, true)) {
      stats_.messages_dropped.add();  // expired while the client was away
      forget_stored(s, m->out);
      s.inflight().erase(id);
    }
  }
  pump(s);
}

}  // namespace hermod::broker
