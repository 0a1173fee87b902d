#include "bench/traffic_run.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "bench/traffic_roles.hpp"

namespace hermod::cli::bench {

namespace {

constexpr std::uint64_t kForever = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t kIdlePollNs = 20'000'000;

std::uint64_t seconds_to_ns(double s) { return static_cast<std::uint64_t>(s * 1e9); }

// One event loop and the roles that live on it.
struct LoopContext {
  std::unique_ptr<Loop> loop = std::make_unique<Loop>();
  std::vector<Publisher*> pubs;
  std::vector<Subscriber*> subs;
  LatencyHistogram latency;
  LatencyHistogram ack_latency;
};

class TrafficRun {
 public:
  explicit TrafficRun(const BenchOptions& o)
      : o_(o), broker_(resolve_ipv4(o.host, o.port)), transport_(o), loops_(std::max(1u, o.threads)),
        barrier_(static_cast<std::ptrdiff_t>(loops_.size()), PhaseDone{this}) {
    build();
  }

  TrafficResult run() {
    std::vector<std::thread> threads;
    for (std::size_t k = 1; k < loops_.size(); ++k) threads.emplace_back([this, k] { thread_main(k); });
    thread_main(0);
    for (auto& t : threads) t.join();
    return collect();
  }

 private:
  // Runs on the last thread to reach each barrier, before any thread goes on.
  struct PhaseDone {
    TrafficRun* run;
    void operator()() noexcept { run->on_phase_done(); }
  };

  void build();
  Publisher& add_publisher(std::string topic, std::size_t loop, double rate);
  Subscriber& add_subscriber(std::string filter, std::size_t loop);
  Stream& add_stream(Publisher& p) {
    streams_.emplace_back();
    streams_.back().pub = &p;
    p.add_stream(&streams_.back());
    return streams_.back();
  }

  void thread_main(std::size_t k);
  bool setup(LoopContext& ctx);
  void publish(LoopContext& ctx);
  void drain(LoopContext& ctx);
  bool drained(const LoopContext& ctx) const;
  void teardown(LoopContext& ctx);
  void on_phase_done();
  void note_failure(const std::string& what);
  TrafficResult collect();

  const BenchOptions& o_;
  const sockaddr_in broker_;
  const TransportSetup transport_;  // TLS context and WebSocket settings, shared by every loop
  RunClock clock_;
  std::vector<LoopContext> loops_;
  std::vector<std::unique_ptr<Publisher>> pubs_;
  std::vector<std::unique_ptr<Subscriber>> subs_;
  std::deque<Stream> streams_;  // stable addresses
  std::barrier<PhaseDone> barrier_;
  int phase_ = 0;
  std::atomic<bool> setup_failed_{false};
  std::atomic<std::size_t> pubs_stopped_{0};
  double cpu_start_ = 0, cpu_end_ = 0;
  std::uint64_t wall_end_ns_ = 0;
  std::mutex failure_mutex_;
  std::string failure_;
};

Publisher& TrafficRun::add_publisher(std::string topic, std::size_t loop, double rate) {
  auto& ctx = loops_[loop];
  pubs_.push_back(std::make_unique<Publisher>(static_cast<std::uint32_t>(pubs_.size()), std::move(topic), *ctx.loop,
                                              loop, o_, clock_, rate, ctx.ack_latency));
  ctx.pubs.push_back(pubs_.back().get());
  return *pubs_.back();
}

Subscriber& TrafficRun::add_subscriber(std::string filter, std::size_t loop) {
  auto& ctx = loops_[loop];
  subs_.push_back(std::make_unique<Subscriber>(static_cast<std::uint32_t>(subs_.size()), std::move(filter), *ctx.loop,
                                               loop, o_, clock_, ctx.latency));
  ctx.subs.push_back(subs_.back().get());
  return *subs_.back();
}

void TrafficRun::build() {
  // Topics carry the process id so two runs against one broker never see each other's traffic.
  const std::string base = "hermod-bench/" + std::to_string(getpid());
  const std::size_t n_loops = loops_.size();
  const std::uint32_t n = std::max(1u, o_.clients);
  switch (o_.scenario) {
    case Scenario::pairs:
    case Scenario::latency:
      // Pair i: publisher i → subscriber i on topic .../pair/i, both on loop i mod threads.
      for (std::uint32_t i = 0; i < n; ++i) {
        const std::string topic = base + "/pair/" + std::to_string(i);
        Publisher& p = add_publisher(topic, i % n_loops, o_.rate / n);
        add_subscriber(topic, i % n_loops).expect(i, {&add_stream(p)});
      }
      break;
    case Scenario::fanout: {
      const std::string topic = base + "/fanout";
      Publisher& p = add_publisher(topic, 0, o_.rate);
      for (std::uint32_t j = 0; j < n; ++j) add_subscriber(topic, j % n_loops).expect(0, {&add_stream(p)});
      break;
    }
    case Scenario::fanin: {
      std::vector<Stream*> streams;
      for (std::uint32_t i = 0; i < n; ++i) {
        streams.push_back(&add_stream(add_publisher(base + "/fanin/" + std::to_string(i), i % n_loops, o_.rate / n)));
      }
      add_subscriber(base + "/fanin/+", 0).expect(0, std::move(streams));
      break;
    }
    case Scenario::conns:
      break;  // not a traffic scenario
  }
}

void TrafficRun::thread_main(std::size_t k) {
  LoopContext& ctx = loops_[k];
  if (!setup(ctx)) setup_failed_ = true;
  barrier_.arrive_and_wait();
  if (!setup_failed_) {
    publish(ctx);
    drain(ctx);
  }
  barrier_.arrive_and_wait();
  teardown(ctx);
}

bool TrafficRun::setup(LoopContext& ctx) {
  try {
    for (Subscriber* s : ctx.subs) {
      if (!s->connection().open(broker_, nullptr, transport_.make_layer())) {
        note_failure(std::string("cannot open a socket: ") + std::strerror(errno));
        return false;
      }
    }
    for (Publisher* p : ctx.pubs) {
      if (!p->connection().open(broker_, nullptr, transport_.make_layer())) {
        note_failure(std::string("cannot open a socket: ") + std::strerror(errno));
        return false;
      }
    }
  } catch (const std::exception& e) {  // a TLS object OpenSSL could not make; this thread must not die of it
    note_failure(e.what());
    return false;
  }
  const std::uint64_t deadline = now_ns() + seconds_to_ns(o_.setup_timeout);
  for (;;) {
    bool all = true;
    std::string failure;
    for (Subscriber* s : ctx.subs) {
      if (failure.empty()) failure = s->failure();
      all = all && s->ready();
    }
    for (Publisher* p : ctx.pubs) {
      if (failure.empty()) failure = p->failure();
      all = all && p->ready();
    }
    if (!failure.empty()) {
      note_failure(failure);
      return false;
    }
    if (all) return true;
    if (setup_failed_) return false;  // another loop failed: no point waiting
    if (now_ns() > deadline) {
      note_failure("setup timed out (connect, CONNACK or SUBACK)");
      return false;
    }
    ctx.loop->poll(kIdlePollNs);
  }
}

void TrafficRun::publish(LoopContext& ctx) {
  Loop& loop = *ctx.loop;
  for (;;) {
    const std::uint64_t now = now_ns();
    if (now >= clock_.deadline_ns) break;
    std::uint64_t next = clock_.deadline_ns;
    bool all_done = o_.count != 0;
    for (Publisher* p : ctx.pubs) {
      next = std::min(next, p->pump(now));
      all_done = all_done && p->finished_sending();
    }
    if (all_done) break;
    loop.flush_dirty();  // the messages just produced leave before we wait
    loop.poll(next <= now ? 0 : static_cast<std::int64_t>(next - now));
    loop.take_wakeup();
  }
  for (Publisher* p : ctx.pubs) p->stop();
  loop.flush_dirty();
  pubs_stopped_.fetch_add(ctx.pubs.size(), std::memory_order_acq_rel);
}

bool TrafficRun::drained(const LoopContext& ctx) const {
  if (pubs_stopped_.load(std::memory_order_acquire) != pubs_.size()) return false;
  for (const Subscriber* s : ctx.subs) {
    for (const Stream* st : s->streams()) {
      if (st->check.received() < st->pub->sent.load(std::memory_order_acquire)) return false;
    }
  }
  for (const Publisher* p : ctx.pubs) {
    if (p->unacked() != 0) return false;
  }
  return true;
}

void TrafficRun::drain(LoopContext& ctx) {
  const std::uint64_t until = now_ns() + seconds_to_ns(o_.drain);
  while (!drained(ctx) && now_ns() < until) ctx.loop->poll(kIdlePollNs / 4);
}

void TrafficRun::teardown(LoopContext& ctx) {
  for (Publisher* p : ctx.pubs) {
    if (p->connection().is_open()) p->connection().send(mqtt::Disconnect{});
    p->connection().close_gracefully();
  }
  for (Subscriber* s : ctx.subs) {
    if (s->connection().is_open()) s->connection().send(mqtt::Disconnect{});
    s->connection().close_gracefully();
  }
}

void TrafficRun::on_phase_done() {
  if (phase_++ == 0) {
    cpu_start_ = process_cpu_seconds();
    clock_.start_ns = now_ns();
    clock_.deadline_ns = clock_.start_ns + seconds_to_ns(o_.duration);
  } else {
    cpu_end_ = process_cpu_seconds();
    wall_end_ns_ = now_ns();
  }
}

void TrafficRun::note_failure(const std::string& what) {
  std::lock_guard lock(failure_mutex_);
  if (failure_.empty()) failure_ = what;
}

TrafficResult TrafficRun::collect() {
  TrafficResult r;
  r.publishers = static_cast<std::uint32_t>(pubs_.size());
  r.subscribers = static_cast<std::uint32_t>(subs_.size());
  r.error = failure_;
  if (setup_failed_) return r;
  for (const auto& p : pubs_) {
    r.sent += p->sent.load();
    r.unacked += p->unacked();
    r.stalls += p->stalls();
    r.max_send_lag_ns = std::max(r.max_send_lag_ns, p->max_send_lag_ns());
    if (r.error.empty() && !p->failure().empty()) r.error = p->failure();
  }
  for (const auto& st : streams_) {
    const std::uint64_t sent = st.pub->sent.load();
    r.expected += sent;
    r.lost += st.check.lost(sent);
    r.duplicated += st.check.duplicated();
    r.reordered += st.check.reordered();
  }
  std::uint64_t last_delivery = 0;
  for (const auto& s : subs_) {
    const auto& c = s->counts();
    r.delivered += c.fresh;
    r.in_window += c.in_window;
    r.misrouted += c.misrouted;
    r.corrupt += c.corrupt;
    r.wrong_qos += c.wrong_qos;
    last_delivery = std::max(last_delivery, c.last_delivery_ns);
    if (r.error.empty() && !s->failure().empty()) r.error = s->failure();
  }
  for (const auto& ctx : loops_) {
    r.latency.merge(ctx.latency);
    r.ack_latency.merge(ctx.ack_latency);
  }
  // With a count that was reached early, the window ends with the last delivery.
  std::uint64_t end = clock_.deadline_ns;
  if (o_.count != 0 && last_delivery != 0) end = std::min(end, last_delivery);
  r.window_s = static_cast<double>(end - clock_.start_ns) / 1e9;
  r.self.cpu_s = cpu_end_ - cpu_start_;
  r.self.wall_s = static_cast<double>(wall_end_ns_ - clock_.start_ns) / 1e9;
  return r;
}

}  // namespace

TrafficResult run_traffic(const BenchOptions& o) {
  TrafficRun run(o);
  return run.run();
}

}  // namespace hermod::cli::bench
