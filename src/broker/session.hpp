// The MQTT session state of one client id (section 4.1): subscriptions, the outbound in-flight
// window and queue of QoS 1/2 messages, and the inbound QoS 2 packet ids awaiting PUBREL.
// A session lives on its home worker (chosen by client id) and is touched only by that worker's
// thread. It outlives its connection when the client asked for a persistent session.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "broker/config.hpp"
#include "broker/message.hpp"
#include "mqtt/packet.hpp"

namespace hermod::broker {

class Connection;

// A message on its way to this session's client.
struct OutboundMessage {
  MessagePtr message;
  std::uint8_t qos = 0;  // delivery QoS: min(publish QoS, granted QoS)
  bool retain = false;   // retain flag as sent to this subscriber
};

// A QoS 1/2 message sent and not yet fully acknowledged.
struct InflightMessage {
  OutboundMessage out;
  std::uint64_t sequence = 0;  // send order, for resending in the original order
  enum class State : std::uint8_t { awaiting_puback, awaiting_pubrec, awaiting_pubcomp } state;
};

class Session {
 public:
  Session(std::string client_id, std::uint64_t uid, bool persistent)
      : client_id_(std::move(client_id)), uid_(uid), persistent_(persistent) {}

  const std::string& client_id() const { return client_id_; }
  std::uint64_t uid() const { return uid_; }
  bool persistent() const { return persistent_; }
  void set_persistent(bool p) { persistent_ = p; }

  // The connection currently attached, or null while the client is offline.
  Connection* connection() const { return connection_; }
  void attach(Connection* c) { connection_ = c; }
  void detach() { connection_ = nullptr; }

  // Subscriptions by filter, with the options granted.
  std::map<std::string, mqtt::SubscribeOptions, std::less<>>& subscriptions() { return subscriptions_; }

  // Outbound packet identifiers: the next one not in flight, or nullopt if all 65535 are.
  std::optional<mqtt::PacketId> next_packet_id();

  std::unordered_map<mqtt::PacketId, InflightMessage>& inflight() { return inflight_; }
  std::uint64_t next_sequence() { return ++sequence_; }
  // In-flight entries in the order they were first sent.
  std::vector<std::pair<mqtt::PacketId, InflightMessage*>> inflight_in_order();

  // The queue of messages waiting for the client (offline, or beyond the in-flight window).
  // Returns false (and keeps the queue unchanged) when the limits are reached: the newest
  // message is the one dropped.
  bool enqueue(OutboundMessage m, const Limits& limits);
  bool queue_empty() const { return queue_.empty(); }
  std::size_t queue_size() const { return queue_.size(); }
  OutboundMessage dequeue();

  // Inbound QoS 2: packet ids whose PUBLISH was received and whose PUBREL was not.
  std::unordered_set<mqtt::PacketId>& inbound_qos2() { return inbound_qos2_; }


 private:
  std::string client_id_;
  std::uint64_t uid_;
  bool persistent_;
  Connection* connection_ = nullptr;
  std::map<std::string, mqtt::SubscribeOptions, std::less<>> subscriptions_;
  std::unordered_map<mqtt::PacketId, InflightMessage> inflight_;
  std::uint64_t sequence_ = 0;
  mqtt::PacketId last_packet_id_ = 0;
  std::deque<OutboundMessage> queue_;
  std::uint64_t queued_bytes_ = 0;
  std::unordered_set<mqtt::PacketId> inbound_qos2_;
};

}  // namespace hermod::broker
