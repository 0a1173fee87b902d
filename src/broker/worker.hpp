// A worker: one thread running one io_context, and the loop around it: accepting connections,
// the turn (what the turn's handlers queued is committed to the store, then batches go to other
// workers, then every link with output is flushed once), and the sweep (timeouts, idle buffers,
// session expiry and delayed wills). Everything else a worker holds is a part with its own
// folder: its sessions (session/), its route index replica (routing/), its store writes and ack
// holds (durability/), delivery (delivery/); connections reach them through the Context.
//
// Nothing here is locked: other threads reach a worker only by post()ing a function to it,
// carrying values (message pointers, ids, a detached stream), never pointers to another
// worker's objects.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "broker/delivery/delivery.hpp"
#include "broker/durability/ack_holds.hpp"
#include "broker/durability/session_writer.hpp"
#include "broker/listeners.hpp"
#include "broker/metrics/worker_stats.hpp"
#include "broker/protocol/connection.hpp"
#include "broker/protocol/context.hpp"
#include "broker/routing/route_index.hpp"
#include "broker/session/session_registry.hpp"
#include "broker/store/store.hpp"
#include "net/handshake_gauge.hpp"
#include "net/poller.hpp"

namespace hermod::broker {

namespace asio = boost::asio;

class Worker final : private Turn, private ConnectionHost {
 public:
  // `services` and `peers` outlive the worker; `peers[i]` is worker i (this one included),
  // filled by the broker before start().
  Worker(const Services& services, std::uint32_t index, const std::vector<Worker*>& peers);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  std::uint32_t index() const { return index_; }
  asio::io_context& io() { return io_; }
  net::Poller& poller() { return poller_; }
  WorkerStats& stats() { return stats_; }
  // This worker's parts, for recovery and wiring (main thread, before start()).
  SessionRegistry& sessions() { return sessions_; }
  RouteIndex& routes() { return routes_; }
  SessionWriter& writer() { return writer_; }
  Delivery& delivery() { return delivery_; }
  MemoryGauge& memory() { return memory_; }
  FlapGuard& flaps() { return flaps_; }

  // Gives the worker the broker's store (null: memory mode). Main thread, before start().
  void attach_store(store::Store* store);

  // Thread control (main thread): start the loop thread; ask it to finish; wait for it.
  void start();
  void shutdown();
  void join();

  // Runs `f` on this worker's thread. Any thread.
  template <typename F>
  void post(F&& f) { asio::post(io_, std::forward<F>(f)); }

  // ---- this worker's thread only (or before start()) ----

  // Takes ownership of a listening socket of `listener` (which outlives the worker) and accepts
  // connections on it.
  void accept_on(asio::ip::tcp::acceptor acceptor, const Listener& listener);
  // Serves a client over `stream` (a freshly accepted connection, or a test's stream).
  // `slot`: its place in the listener's and address's counts (none for a test's stream).
  std::shared_ptr<Connection> adopt(std::unique_ptr<net::Stream> stream, bool counted,
                                    const ListenerConfig* listener = nullptr, AdmissionTable::Slot slot = {});
  // The 250 ms sweep's work, at the Clock's now: timeouts, idle buffers, expiry, delayed wills.
  void sweep();
  std::size_t connection_count() const { return connections_.size(); }
  // Switches this worker to `p`: every later event is checked against it. Worker thread, or
  // the main thread before start().
  void set_policy(std::shared_ptr<const Policy> p) { policy_ = std::move(p); }
  const Policy& policy() const { return *policy_; }
  // A reload with auth.disconnect_removed_users: closes the connections of users `users` does
  // not hold any more. Worker thread.
  void close_unknown_users(const auth::PasswordTable& users);

 private:
  // Turn
  void schedule_end_turn() override;
  void schedule_flush(std::shared_ptr<Link> link) override;
  bool commit_now() override;
  void linger(std::shared_ptr<Link> link) override;
  void park_reader(std::shared_ptr<Link> link) override;
  // ConnectionHost
  void forget(Connection& c) override;
  void hand_off(std::uint32_t home, HandOff h) override;
  void wake_at(Clock::time_point due) override;

  // Waits for listener i's queue, then takes what it holds (a bounded batch per round).
  void do_accept(std::size_t i);
  // The listener's and address's limits for a socket just accepted on acceptor i; refusals are
  // counted and logged (rate-limited) here. Null if the stream was refused and closed.
  std::unique_ptr<net::Stream> admit(std::size_t i, std::unique_ptr<net::Stream> stream, AdmissionTable::Slot& slot);
  // Commits the turn's store writes, then sends: delivery batches to other workers, then every
  // link's queued bytes.
  void end_turn();
  void start_sweep();
  // The memory budget, once per turn and per sweep: publishes this worker's count, moves the
  // over state, resumes the parked readers below the low-water mark and wakes other workers
  // that hold some.
  void update_memory();
  void resume_parked_readers();
  // Worker 0, every kMemoryLogInterval: one line of what the budget did, if it did anything.
  void log_memory_summary(Clock::time_point now);
  // Runs the loop until it is stopped; an exception that escapes a handler is logged and the
  // loop goes on (connection handlers catch their own; reaching here is a bug elsewhere).
  void run_loop();

  const Services& services_;
  const std::uint32_t index_;
  const std::vector<Worker*>& peers_;
  asio::io_context io_;
  net::Poller poller_;  // the streams' readiness (net/poller.hpp)
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
  WorkerStats stats_;
  MemoryGauge memory_;  // before delivery_ and context_, which hold parts of it
  struct Acceptor {
    asio::ip::tcp::acceptor socket;
    const Listener* listener;
    bool paused = false;  // a TLS listener's, while handshakes_ is full
  };
  std::vector<Acceptor> acceptors_;
  net::HandshakeGauge handshakes_;  // TLS handshakes in progress on this worker
  asio::steady_timer sweep_timer_;
  asio::steady_timer accept_retry_timer_;
  asio::steady_timer deadline_timer_;  // the next delayed will (wake_at)
  Clock::time_point deadline_ = Clock::time_point::max();
  bool stopping_ = false;
  bool end_turn_due_ = false;  // end_turn() runs at the end of this round (or is posted)
  bool turn_failed_ = false;

  std::vector<char> scratch_;
  PublishHeaderCache header_cache_;
  std::vector<std::shared_ptr<Link>> dirty_;  // links to flush at the end of this turn
  std::unordered_set<std::shared_ptr<Connection>> connections_;
  // Connections forget()ten this turn: freed at its end, not inside the handler that closed
  // them (which may still be running on one of them).
  std::vector<std::shared_ptr<Connection>> retired_;
  // Links closing after an error, read until their client closes or `until` (Link::close_link).
  struct Lingering {
    std::shared_ptr<Link> link;
    Clock::time_point until;
  };
  std::vector<Lingering> lingering_;
  // Links whose reading is paused for the memory budget (Link::hold_for_budget).
  std::vector<std::shared_ptr<Link>> parked_readers_;
  int release_sweeps_ = 0;  // sweeps left that give freed memory back (after a fall)
  // Worker 0's memory summary: when it was last written, and the totals then.
  Clock::time_point memory_logged_at_{};
  std::uint64_t memory_logged_[3] = {0, 0, 0};  // exceeded, reads paused, dropped

  std::shared_ptr<const Policy> policy_;  // before delivery_ and context_, which refer to it
  SessionRegistry sessions_;
  RouteIndex routes_;
  SessionWriter writer_;
  AckHolds holds_;
  Delivery delivery_;
  FlapGuard flaps_;
  Clock::time_point next_prune_{};  // when the sweep next prunes the limits' tables
  Context context_;
};

}  // namespace hermod::broker
