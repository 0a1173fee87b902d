// The MQTT session state of one client id (section 4.1): subscriptions, the outbound in-flight
// window and queue of QoS 1/2 messages, and the inbound QoS 2 packet ids awaiting PUBREL.
// A session lives on its home worker (SessionDirectory) and is touched only by that worker's
// thread. It outlives its connection when the client asked for a persistent session.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "broker/auth/acl.hpp"
#include "broker/connection/ack_gate.hpp"
#include "broker/config/config.hpp"
#include "broker/routing/message.hpp"
#include "broker/routing/outbound_message.hpp"
#include "broker/session/packet_id_table.hpp"
#include "mqtt/packet.hpp"

namespace hermod::broker {

class Link;

// A subscription as the session remembers it (the router holds a copy per worker).
struct SubscriptionRecord {
  mqtt::SubscribeOptions options;
  std::uint32_t subscription_id = 0;  // MQTT 5; 0: none
};

// A QoS 1/2 message sent and not yet fully acknowledged.
struct InflightMessage {
  OutboundMessage out;
  std::uint64_t sequence = 0;  // send order, for resending in the original order
  enum class State : std::uint8_t { awaiting_puback, awaiting_pubrec, awaiting_pubcomp } state;
  // Set while the message is not stored and its publisher's acknowledgement waits for this
  // client's PUBACK instead (see ack_gate.hpp).
  GateHold gate{};
};

class Session {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::uint32_t kNeverExpires = 0xFFFFFFFF;

  // `expiry_interval`: seconds the session outlives its connection (MQTT 5 Session Expiry
  // Interval; kNeverExpires for a 3.1.1 persistent session; 0 ends it with the connection).
  Session(std::string client_id, std::uint64_t uid, std::uint32_t expiry_interval)
      : client_id_(std::move(client_id)), uid_(uid), expiry_interval_(expiry_interval) {}

  const std::string& client_id() const { return client_id_; }
  std::uint64_t uid() const { return uid_; }
  bool persistent() const { return expiry_interval_ != 0; }
  std::uint32_t expiry_interval() const { return expiry_interval_; }
  void set_expiry_interval(std::uint32_t seconds) { expiry_interval_ = seconds; }

  // True once the session has records in the store (they must be deleted when it ends).
  bool stored() const { return stored_; }
  void set_stored(bool v) { stored_ = v; }

  // When the client went offline; the session ends expiry_interval() seconds later.
  void mark_disconnected(Clock::time_point now) { disconnected_at_ = now; }
  Clock::time_point disconnected_at() const { return disconnected_at_; }
  bool expired(Clock::time_point now) const {
    return expiry_interval_ != kNeverExpires && connection_ == nullptr &&
           now - disconnected_at_ >= std::chrono::seconds(expiry_interval_);
  }

  // MQTT 5 will delay: the will of the last connection, published when `due` passes or the
  // session ends, whichever comes first; cancelled when the client reconnects in time.
  struct PendingWill {
    MessagePtr message;
    Clock::time_point due;
  };
  // Held on the heap: most sessions never have one.
  std::unique_ptr<PendingWill>& pending_will() { return pending_will_; }

  // The connection currently attached, or null while the client is offline.
  Link* connection() const { return connection_; }
  void attach(Link* c) { connection_ = c; }
  void detach() {
    connection_ = nullptr;
    release_idle_window();
  }

  // Subscriptions by filter, with the options granted.
  std::map<std::string, SubscriptionRecord, std::less<>>& subscriptions() { return subscriptions_; }
  const std::map<std::string, SubscriptionRecord, std::less<>>& subscriptions() const { return subscriptions_; }

  // Outbound packet identifiers: the next one not in flight, or nullopt if all 65535 are.
  std::optional<mqtt::PacketId> next_packet_id();

  // The outbound in-flight window by packet id. Its slots are allocated on first use and given
  // back when it is empty and the client idle or gone (release_idle_window).
  PacketIdTable<InflightMessage>& inflight() { return inflight_; }
  const PacketIdTable<InflightMessage>& inflight() const { return inflight_; }
  std::uint64_t next_sequence() { return ++sequence_; }
  // Packet ids in flight in the order their messages were first sent.
  std::vector<mqtt::PacketId> inflight_in_order() const {
    return inflight_.ids_in_order([](const InflightMessage& m) { return m.sequence; });
  }
  void release_idle_window() { inflight_.release_if_empty(); }

  // The queue of messages waiting for the client (offline, or beyond the in-flight window).
  // Moves `m` into the queue. Returns false (leaving `m` and the queue unchanged) when the limits
  // are reached: the newest message is the one dropped.
  bool enqueue(OutboundMessage& m, const Limits& limits);
  // Appends a recovered message whatever the limits: it was accepted before the restart.
  void restore_queued(OutboundMessage m);
  bool queue_empty() const { return !queue_ || queue_->messages.empty(); }
  std::size_t queue_size() const { return queue_ ? queue_->messages.size() : 0; }
  OutboundMessage dequeue();
  OutboundMessage& queue_back() { return queue_->messages.back(); }
  // Calls `f(const OutboundMessage&)` for each queued message, oldest first.
  template <typename F>
  void for_each_queued(F&& f) const {
    if (queue_) for (const auto& m : queue_->messages) f(m);
  }

  // Inbound QoS 2: packet ids whose PUBLISH was received and whose PUBREL was not.
  // Who the client is, for ACL checks: its user name and client id and the last verdicts. Set
  // at CONNECT when the client has a user name or an ACL is in force; null for an anonymous
  // client without an ACL, and for a session recovered from the store until its client returns.
  auth::AclCache* identity() const { return identity_.get(); }
  void set_identity(std::unique_ptr<auth::AclCache> id) { identity_ = std::move(id); }

  std::unordered_set<mqtt::PacketId>& inbound_qos2() {
    if (!inbound_qos2_) inbound_qos2_ = std::make_unique<std::unordered_set<mqtt::PacketId>>();
    return *inbound_qos2_;
  }


 private:
  std::string client_id_;
  std::uint64_t uid_;
  std::uint32_t expiry_interval_;
  bool stored_ = false;
  mqtt::PacketId last_packet_id_ = 0;
  Clock::time_point disconnected_at_{};
  // Idle sessions are counted in bytes (a million of them is the goal): what most never use is
  // allocated when first needed.
  std::unique_ptr<PendingWill> pending_will_;
  Link* connection_ = nullptr;
  std::map<std::string, SubscriptionRecord, std::less<>> subscriptions_;
  PacketIdTable<InflightMessage> inflight_;
  std::uint64_t sequence_ = 0;
  // Allocated on first use: an empty std::deque already holds a 512-byte block.
  struct Queue {
    std::deque<OutboundMessage> messages;
    std::uint64_t bytes = 0;  // payload bytes, for max_queued_bytes
  };
  std::unique_ptr<Queue> queue_;
  std::unique_ptr<std::unordered_set<mqtt::PacketId>> inbound_qos2_;
  std::unique_ptr<auth::AclCache> identity_;
};

}  // namespace hermod::broker
