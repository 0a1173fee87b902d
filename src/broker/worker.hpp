// A worker: one thread running one io_context, owning its connections, the sessions whose home it
// is, and its own replica of the topic index. Nothing here is locked: other threads reach a worker
// only by post()ing a function to it, carrying values (message pointers, ids), never pointers to
// another worker's objects.
//
// Sessions have a home worker chosen by hashing the client id, so every connection of one client
// id ends up on one worker (a connection accepted elsewhere is handed over after its CONNECT):
// takeover and session state stay single-threaded.
//
// Publish path (all on the publisher's worker, no lock): decode → Router::match on the local
// replica → one delivery per subscriber session → deliveries for other workers are batched and
// posted once per loop turn → acknowledgement to the publisher. The acknowledgement is the last
// step so a store commit can sit before it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "broker/ack_gate.hpp"
#include "broker/config.hpp"
#include "broker/counter.hpp"
#include "broker/message.hpp"
#include "broker/router.hpp"
#include "broker/session.hpp"
#include "broker/string_hash.hpp"
#include "broker/store/store.hpp"

namespace hermod::broker {

namespace asio = boost::asio;
class Broker;
class Connection;

// A subscription added to or removed from every replica of the topic index.
struct SubscriptionChange {
  std::string filter;
  RouteEntry entry;
  bool add = true;
};

// A message for a session homed on another worker.
struct Delivery {
  std::uint64_t session = 0;
  OutboundMessage out;
};

class Worker {
 public:
  using Clock = std::chrono::steady_clock;

  Worker(Broker& broker, std::uint32_t index);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  std::uint32_t index() const { return index_; }
  asio::io_context& io() { return io_; }
  Broker& broker() { return broker_; }
  const Config& config() const;
  WorkerStats& stats() { return stats_; }

  // Gives the worker the broker's store (null: memory mode). Main thread, before start().
  void attach_store(store::Store* store);

  // Thread control (main thread): start the loop thread; ask it to finish; wait for it.
  void start();
  void shutdown();
  void join();

  // Runs `f` on this worker's thread. Any thread.
  template <typename F>
  void post(F&& f) { asio::post(io_, std::forward<F>(f)); }

  // ---- everything below: this worker's thread only ----

  // Takes ownership of a listening socket and accepts connections on it.
  void accept_on(asio::ip::tcp::acceptor acceptor);

  // Connection registry (for timeouts, shutdown and statistics).
  void add_connection(const std::shared_ptr<Connection>& c);
  void remove_connection(Connection* c);

  // The read buffer all of this worker's connections read into, one at a time.
  char* scratch() { return scratch_.data(); }
  std::size_t scratch_size() const { return scratch_.size(); }

  // The fixed header, topic and (MQTT 5) empty property length of the last QoS 0 PUBLISH
  // encoded without per-recipient fields: a message fanned out to many subscribers is encoded
  // once per retain flag and protocol version, and copied to the others. Holding the message
  // keeps its address from being reused by another while cached.
  struct PublishHeaderCache {
    MessagePtr message;
    bool retain = false;
    mqtt::ProtocolVersion version{};
    std::string bytes;
  };
  PublishHeaderCache& publish_header_cache() { return publish_header_cache_; }

  // Connections with bytes to write: flushed once per loop turn.
  void schedule_flush(const std::shared_ptr<Connection>& c);

  // Sessions homed here.
  Session* find_session(std::string_view client_id);
  Session* session_by_uid(std::uint64_t uid);
  // `uid`: 0 for a new session; a stored session's uid when recovering it.
  Session& create_session(const std::string& client_id, std::uint32_t expiry_interval, std::uint64_t uid = 0);
  // Ends the session: publishes a pending will, hands QoS 1/2 messages of shared subscriptions
  // to another member of their group, removes its subscriptions from every replica.
  // Precondition: detached.
  void destroy_session(Session& s);
  // The session's client went offline / came back: track expiry and delayed wills.
  void session_offline(Session& s);
  void session_online(Session& s);
  // Watches an offline session for expiry and a delayed will (also for recovered sessions).
  void watch_offline(Session& s);
  // A client id, unused so far, whose home is this worker.
  std::string generate_client_id();

  // Routes `msg` to every matching subscription (and stores it if retained). Returns the
  // number of sessions it was routed to.
  std::size_t publish(const MessagePtr& msg);
  // Sends `out` to the session now, or queues it, within the session's limits.
  void deliver(Session& s, OutboundMessage out);
  // Moves queued messages into the in-flight window while it has room.
  void pump(Session& s);
  // Resends a reconnecting session's in-flight messages (DUP) and then its queue.
  void resume(Session& s);

  // Applies `changes` to every replica, then runs `done` on this thread.
  void change_subscriptions(std::vector<SubscriptionChange> changes, std::function<void()> done);
  // Tells every replica whether `s`'s deliveries are to be stored, after its expiry changed
  // between persistent and not at a reconnect.
  void update_route_persistence(Session& s);
  // Applies changes to this replica only (recovery, before the threads start).
  void apply(const std::vector<SubscriptionChange>& changes);

  // ---- durability (no-ops without a store) ----

  // Commits this turn's store writes now (a connection closing must send its last packets at
  // once). False if this turn's writes failed: nothing of the turn may then be sent.
  bool commit_now();
  // This turn's store writes, or null when the broker keeps no store. Any write schedules the
  // end of the turn, where the batch is committed before anything of the turn is sent.
  store::Batch* writes();
  // Writes the session's record (client id, expiry, offline time) if it is persistent.
  void store_session(Session& s);
  // Deletes every record of the session from the store.
  void unstore_session(Session& s);
  void store_subscription(Session& s, const std::string& filter, const SubscriptionRecord& r, bool add);
  // Records the entry's current state (packet id, handshake step).
  void store_inflight(Session& s, mqtt::PacketId id, InflightMessage& m);
  // The message left the session (acknowledged, dropped, expired): delete its entry.
  void forget_stored(Session& s, OutboundMessage& out);
  // Keys for new queue entries and bodies; recovery raises the floor past stored ones.
  std::uint64_t next_store_id() { return (++store_seq_ << 10) | index_; }
  // Acknowledgement on delivery (see ack_gate.hpp): between begin and end, QoS 1 deliveries
  // sent at once on this worker may hold `publisher`'s acknowledgement instead of being written.
  // end_gated_publish() returns the gate the acknowledgement must wait for (null: none).
  bool ack_on_delivery() const { return ack_wait_.count() > 0; }
  void begin_gated_publish(Connection* publisher) { gate_publisher_ = publisher; }
  std::shared_ptr<AckGate> end_gated_publish() {
    gate_publisher_ = nullptr;
    return std::move(gate_);
  }
  void raise_id_floor(std::uint64_t stored_id) { store_seq_ = std::max(store_seq_, stored_id >> 10); next_uid_ = std::max(next_uid_, stored_id >> 10); }

 private:
  void do_accept(std::size_t i);
  void schedule_end_turn();
  // Commits the turn's store writes, then sends: delivery batches to other workers, then every
  // connection's queued bytes.
  void end_turn();
  void flush_outboxes();
  void flush_dirty();
  // Stores a QoS 1/2 delivery to a persistent session before the publisher is acknowledged.
  // `sole`: the only stored recipient of this message, so the body goes inline in its entry.
  void store_delivery(const SubscriberRef& who, OutboundMessage& out, bool sole);
  // A stored message was queued: writes its entry if that was deferred (see OutboundMessage).
  void store_queued(Session& s, OutboundMessage& out);
  void on_deliveries(std::vector<Delivery>& batch);
  void send_inflight(Session& s, OutboundMessage out);
  void route_to(const SubscriberRef& who, OutboundMessage out);
  // Holds the current publisher's acknowledgement on this in-flight delivery until its PUBACK
  // arrives or ack_wait_ passes, whichever first.
  void hold_for_ack(Session& s, mqtt::PacketId id, InflightMessage& m);
  // Writes the held deliveries whose wait is over; their gates open after the commit.
  void store_overdue(Clock::time_point now);
  void arm_gate_timer();
  void expire_sessions(Clock::time_point now);
  void start_sweep();
  void sweep();

  Broker& broker_;
  const std::uint32_t index_;
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
  WorkerStats stats_;
  std::vector<asio::ip::tcp::acceptor> acceptors_;
  asio::steady_timer sweep_timer_;
  asio::steady_timer accept_retry_timer_;
  bool stopping_ = false;

  std::unordered_set<std::shared_ptr<Connection>> connections_;
  // Keyed by a view of the session's own client id (no second copy of every id).
  std::unordered_map<std::string_view, std::unique_ptr<Session>> sessions_;
  std::unordered_map<std::uint64_t, Session*> sessions_by_uid_;
  std::unordered_set<Session*> offline_watch_;  // offline sessions that expire or have a delayed will
  std::uint64_t next_uid_ = 0;

  Router router_;
  std::vector<const RouteEntry*> matches_;  // scratch for publish()
  std::vector<std::vector<Delivery>> outboxes_;  // per target worker
  std::vector<std::shared_ptr<Connection>> dirty_;
  PublishHeaderCache publish_header_cache_;
  bool end_turn_posted_ = false;
  bool turn_failed_ = false;
  store::Store* store_ = nullptr;
  std::unique_ptr<store::Batch> batch_;
  std::uint64_t store_seq_ = 0;
  // Acknowledgement on delivery.
  struct HeldDelivery {
    Clock::time_point due;
    std::uint64_t session;
    std::uint64_t sequence;  // tells a reused packet id from the one held
    mqtt::PacketId id;
  };
  Clock::duration ack_wait_{0};  // zero: off
  Connection* gate_publisher_ = nullptr;
  std::shared_ptr<AckGate> gate_;
  std::deque<HeldDelivery> held_;  // in due order; entries acknowledged since stay until due
  std::vector<std::shared_ptr<AckGate>> committing_gates_;  // open once this turn is committed
  asio::steady_timer gate_timer_;
  bool gate_timer_armed_ = false;
  std::vector<char> scratch_;
};

}  // namespace hermod::broker
