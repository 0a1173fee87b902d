// What one worker writes to the store about its sessions and the messages routed to them, as
// writes to this turn's batch (group commit: the worker commits the batch at the end of the
// turn, before anything of the turn is sent; see Turn and Worker::end_turn). Without a store
// (memory mode) every call is a no-op. Record layout: store/records.hpp.
//
// The body of a message stored for several sessions is written once and reference counted
// (Message::store_refs, atomic: the last worker to drop a reference deletes it); a message
// stored for one session only carries its body inline in that session's queue entry.
// Worker thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/status.hpp"
#include "broker/connection/link.hpp"
#include "broker/routing/router.hpp"
#include "broker/session/session.hpp"
#include "broker/store/store.hpp"

namespace hermod::broker {

class SessionWriter {
 public:
  SessionWriter(std::uint32_t worker, Turn& turn) : worker_(worker), turn_(turn) {}
  SessionWriter(const SessionWriter&) = delete;
  SessionWriter& operator=(const SessionWriter&) = delete;

  // Gives the writer the broker's store (null: memory mode). Main thread, before start.
  void attach(store::Store* store);
  bool enabled() const { return store_ != nullptr; }

  // This turn's batch, or null without a store. Any write schedules the end of the turn.
  store::Batch* writes();
  // Commits this turn's batch (if it holds anything).
  Status commit();
  bool has_writes() const { return batch_ && !batch_->empty(); }

  // The session's record (client id, expiry, offline time), if it is persistent; a session
  // becoming persistent also gets its subscriptions and inbound QoS 2 ids written.
  void store_session(Session& s);
  // Deletes every record of the session.
  void unstore_session(Session& s);
  void store_subscription(Session& s, const std::string& filter, const SubscriptionRecord& r, bool add);
  // Inbound QoS 2: the packet id awaits PUBREL (add) or got it.
  void store_inbound_qos2(Session& s, mqtt::PacketId id, bool add);
  // The entry's current state (packet id, handshake step).
  void store_inflight(Session& s, mqtt::PacketId id, InflightMessage& m);
  // Stores a QoS 1/2 delivery to a persistent session before the publisher is acknowledged.
  // `sole`: the only stored recipient of this message, so the body goes inline in its entry.
  // For a session on this worker the entry is deferred: the same turn writes it once it knows
  // whether the message goes in flight (with its packet id) or waits in the queue.
  void store_delivery(const SubscriberRef& who, OutboundMessage& out, bool sole);
  // A stored message was queued: writes its entry if that was deferred.
  void store_queued(Session& s, OutboundMessage& out);
  // The message left the session (acknowledged, dropped, expired): deletes its entry.
  void forget_stored(Session& s, OutboundMessage& out);
  // A retained message set (or cleared by an empty payload).
  void store_retained(const Message& m);

  // Keys for new queue entries and bodies; recovery raises the floor past stored ones.
  std::uint64_t next_store_id() { return (++store_seq_ << 10) | worker_; }
  void raise_id_floor(std::uint64_t stored_id) { store_seq_ = std::max(store_seq_, stored_id >> 10); }

 private:
  std::uint32_t worker_;
  Turn& turn_;
  store::Store* store_ = nullptr;
  std::unique_ptr<store::Batch> batch_;
  std::uint64_t store_seq_ = 0;
};

}  // namespace hermod::broker
