// From a routed message to bytes queued on a session's link, on one worker: matching a PUBLISH
// against the worker's route index, one delivery per subscriber session, storing what a
// persistent session must not lose, batching deliveries for other workers (one post per target
// worker per loop turn), and the QoS 1/2 delivery itself (in-flight window, queue, resume after a
// reconnect). Ending a session lives here too, because it re-routes the session's messages
// (shared subscriptions) and publishes its will.
//
// Publish path, all on the publisher's worker, no lock and no virtual call per message:
// publish() → RouteIndex::match → per session: SessionWriter::store_delivery when needed →
// deliver() (local) or the outbox (remote) → Link::send_publish. The caller acknowledges the
// publisher afterwards, so the turn's commit sits between routing and acknowledgement.
// Worker thread only.
#pragma once

#include <cstdint>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "base/clock.hpp"
#include "broker/config/config.hpp"
#include "broker/connection/link.hpp"
#include "broker/durability/ack_holds.hpp"
#include "broker/durability/session_writer.hpp"
#include "broker/limits/memory_budget.hpp"
#include "broker/metrics/worker_stats.hpp"
#include "broker/policy/policy.hpp"
#include "broker/routing/retained.hpp"
#include "broker/routing/route_index.hpp"
#include "broker/session/session_registry.hpp"

namespace hermod::broker {

class Delivery {
 public:
  struct Parts {
    std::uint32_t worker;
    const Config& config;
    const Clock& clock;
    WorkerStats& stats;
    SessionRegistry& sessions;
    RouteIndex& routes;
    RetainedStore& retained;
    SessionWriter& writer;
    AckHolds& holds;
    Turn& turn;
    const std::shared_ptr<const Policy>& policy;  // the worker's current rules (ACL on delivery)
    MemoryUse& memory;  // the worker's count for the memory budget: session queues, batches
  };
  explicit Delivery(Parts parts) : p_(parts) {}
  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;

  // Wires the workers' deliveries together for batches between them: `all[i]` is worker i's,
  // run by `io[i]`. Main thread, before start; the vectors outlive every Delivery.
  void connect(const std::vector<Delivery*>* all, const std::vector<boost::asio::io_context*>* io);

  // Routes `msg` to every matching subscription (and stores it if retained). Returns the
  // number of sessions it was routed to. With `gate`, QoS 1 deliveries sent at once on this
  // worker may hold the publisher's acknowledgement on it instead of being written.
  std::size_t publish(const MessagePtr& msg, PublishGate* gate = nullptr);
  // Sends `out` to the session now, or queues it, within the session's limits.
  void deliver(Session& s, OutboundMessage out, PublishGate* gate = nullptr);
  // Moves queued messages into the in-flight window while it has room.
  void pump(Session& s);
  // Resends a reconnecting session's in-flight messages (DUP) and then its queue.
  void resume(Session& s);

  // The session's client went offline / came back: expiry and delayed wills.
  void session_offline(Session& s);
  void session_online(Session& s);
  // A new connection of the session's client id arrived (before it resumes or ends the
  // session): publishes a delayed will that is already due, cancels one that is not.
  void session_reconnecting(Session& s);
  // Ends the session: publishes a pending will, hands QoS 1/2 messages of shared subscriptions
  // to another member of their group, removes its subscriptions from every replica and its
  // records from the store. Precondition: detached.
  void end_session(Session& s);
  // Tells every replica whether `s`'s deliveries are to be stored, after its expiry changed
  // between persistent and not at a reconnect.
  void update_route_persistence(Session& s);
  // Publishes the delayed wills due at `now` and ends the offline sessions that expired.
  void expire(Clock::time_point now);
  // The earliest deadline of a delayed will still pending, or time_point::max().
  Clock::time_point next_will_due() const;

  // End of turn: posts the deliveries collected for other workers, one batch per worker.
  void flush_outboxes();

 private:
  struct Remote {
    std::uint64_t session = 0;
    OutboundMessage out;
  };
  void route_to(const SubscriberRef& who, OutboundMessage out, PublishGate* gate);
  void send_inflight(Session& s, OutboundMessage out, PublishGate* gate);
  // `bytes`: what the sender counted for the batch (batches_posted), counted here as taken.
  void on_remote(std::vector<Remote>& batch, std::uint64_t bytes);
  // The memory budget's count of a message entering or leaving a session queue.
  void count_queued(const OutboundMessage& out, bool entering);
  // Queues `out` behind the window, or drops (and forgets) it when the queue is full.
  void queue_or_drop(Session& s, OutboundMessage& out);
  // Whether the ACL in force lets `s`'s client receive `out` now. Every delivery asks, queued
  // ones again when they leave the queue, so a revoked grant stops what was already routed.
  bool may_receive(Session& s, const OutboundMessage& out);
  // Drops `out` for `s` as the ACL refused it (counted, and forgotten by the store).
  void refuse(Session& s, OutboundMessage& out);

  Parts p_;
  const std::vector<Delivery*>* all_ = nullptr;
  const std::vector<boost::asio::io_context*>* io_ = nullptr;
  std::vector<const RouteEntry*> matches_;   // scratch for publish()
  std::vector<std::vector<Remote>> outboxes_;  // per target worker
  std::vector<std::uint64_t> outbox_bytes_;    // per target worker: what its outbox counts
};

}  // namespace hermod::broker
