// The client side of an MQTT session, without I/O: everything that outlives one network connection
// and decides what goes on the wire. Client (client.hpp) feeds it the packets it receives and
// sends what it returns; unit tests drive it directly.
//
// It holds:
//  * the queue of publishes accepted but not yet sent (bounded: BufferLimits), which is the
//    offline buffer while disconnected and the overflow of the in-flight window while connected;
//  * outgoing QoS 1/2 publishes in flight, in send order, with their handshake stage; on a
//    reconnect with a session present they are resent with DUP set and their original packet ids,
//    PUBRELs resent for those past PUBREC [MQTT-4.4.0-1];
//  * incoming QoS 2 packet ids between PUBREC and PUBREL, so a resent PUBLISH is not delivered
//    twice;
//  * SUBSCRIBE/UNSUBSCRIBE requests awaiting their ack, and the granted subscriptions, so that a
//    broker that lost the session (CONNACK session present = 0) gets them again.
//
// When the broker reports no session, state the broker no longer has is rebuilt or failed:
// unacknowledged QoS 1 and QoS 2 publishes go back to the head of the queue and are sent again as
// new messages (QoS 1 stays at-least-once; a QoS 2 message the broker had received but not
// acknowledged may then arrive twice); a QoS 2 message already past PUBREC completes with
// Errc::session_lost, since the broker may or may not have delivered it.
//
// Methods never call handlers: they return completions for the caller to run once the session
// is consistent again (a handler may call back into the client).
// Owner thread only.
#pragma once

#include <cstddef>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/message.hpp"
#include "client/options.hpp"
#include "client/packet_id_allocator.hpp"

namespace hermod::client {

struct PublishCompletion {
  PublishHandler handler;
  std::error_code ec;
  PublishResult result;
};

struct RequestCompletion {
  SubscribeHandler handler;  // may be empty: re-subscriptions made by the library itself
  std::error_code ec;
  SubscribeResult result;
};

class ClientSession {
 public:
  enum class Stage { awaiting_puback, awaiting_pubrec, awaiting_pubcomp };

  ClientSession(BufferLimits limits, std::uint16_t max_inflight);

  // Per-connection parameters, set on each CONNACK: the protocol version, the broker's receive
  // maximum (MQTT 5; 65535 otherwise) and maximum packet size (0: no limit).
  void set_connection(mqtt::ProtocolVersion version, std::uint16_t receive_maximum,
                      std::uint32_t max_packet_size);

  // ---- outgoing publishes ----
  // Queues `msg`. Fails with Errc::offline_buffer_full if a BufferLimits bound would be exceeded;
  // then nothing is queued and neither argument is moved from.
  std::error_code enqueue(Message&& msg, PublishHandler&& handler);

  struct Sendable {
    std::vector<mqtt::Publish> packets;      // to write now, in this order
    std::vector<PublishCompletion> done;     // QoS 0 handed over, or refused (too large)
  };
  // Moves queued publishes into flight, in order, while the in-flight window and packet ids allow.
  // Call only while connected.
  Sendable take_sendable();

  std::optional<PublishCompletion> on_puback(const mqtt::Puback& ack);
  struct PubrecOutcome {
    std::optional<mqtt::Pubrel> reply;       // PUBREL to send (reason 0x92 for an unknown id, v5)
    std::optional<PublishCompletion> done;   // set if PUBREC carried a failure reason
  };
  PubrecOutcome on_pubrec(const mqtt::Pubrec& rec);
  std::optional<PublishCompletion> on_pubcomp(const mqtt::Pubcomp& comp);

  // ---- incoming QoS 2 ----
  // A QoS 2 PUBLISH arrived: true if it is new and must be delivered, false for a resend.
  bool receive_qos2(mqtt::PacketId id);
  // PUBREL arrived: true if the id was known. Either way the answer is PUBCOMP.
  bool release_qos2(mqtt::PacketId id);

  // ---- subscribe / unsubscribe ----
  // Allocates a packet id and records the request; nullopt if all packet ids are in use, and then
  // the handler is not moved from. The packet is sent now if connected, else by the next resume().
  std::optional<mqtt::Subscribe> add_subscribe(std::vector<mqtt::TopicSubscription> subs,
                                               mqtt::Properties props, SubscribeHandler&& handler);
  std::optional<mqtt::Unsubscribe> add_unsubscribe(std::vector<std::string> filters,
                                                   mqtt::Properties props, UnsubscribeHandler&& handler);
  // Granted filters are remembered for re-subscription; nullopt for an unknown packet id.
  std::optional<RequestCompletion> on_suback(const mqtt::Suback& ack);
  std::optional<RequestCompletion> on_unsuback(const mqtt::Unsuback& ack);

  // ---- connection lifecycle ----
  struct Resume {
    std::vector<mqtt::Packet> packets;       // to write first, in this order
    std::vector<PublishCompletion> done;     // messages that could not be recovered
  };
  // After a successful CONNACK: what to resend (see the header comment), then the re-subscriptions
  // (if no session is present) and every pending SUBSCRIBE/UNSUBSCRIBE. Call take_sendable() after.
  Resume resume(bool session_present);

  struct Failed {
    std::vector<PublishCompletion> publishes;
    std::vector<RequestCompletion> requests;
  };
  // Fails every queued, in-flight and pending operation with `ec` and forgets incoming QoS 2 ids.
  // The subscription registry is kept.
  Failed fail_all(std::error_code ec);

  // ---- introspection ----
  std::size_t queued_messages() const { return queue_.size(); }
  std::size_t queued_bytes() const { return queued_bytes_; }
  std::size_t inflight() const { return inflight_.size(); }
  std::size_t pending_requests() const { return requests_.size(); }
  std::optional<Stage> stage_of(mqtt::PacketId id) const;
  // True if nothing is queued, in flight or awaiting an ack.
  bool idle() const { return queue_.empty() && inflight_.empty() && requests_.empty(); }
  const std::map<std::string, mqtt::TopicSubscription>& subscriptions() const { return subscriptions_; }
  std::uint16_t window() const;

 private:
  struct Queued {
    Message msg;
    PublishHandler handler;
  };
  struct InFlight {
    mqtt::Publish packet;
    PublishHandler handler;
    Stage stage;
  };
  struct Request {
    mqtt::Packet packet;  // Subscribe or Unsubscribe
    SubscribeHandler handler;
  };

  static std::size_t cost(const Message& m) { return m.topic.size() + m.payload.size(); }
  std::optional<PublishCompletion> finish(mqtt::PacketId id, std::error_code ec, PublishResult r);
  void requeue_front(std::vector<Queued>& back);

  BufferLimits limits_;
  std::uint16_t max_inflight_;
  std::uint16_t receive_maximum_ = 65535;
  std::uint32_t max_packet_size_ = 0;
  mqtt::ProtocolVersion version_ = mqtt::ProtocolVersion::v3_1_1;

  PacketIdAllocator ids_;
  std::deque<Queued> queue_;
  std::size_t queued_bytes_ = 0;
  std::list<InFlight> inflight_;  // in send order: resends keep it [MQTT-4.6.0-1]
  std::unordered_map<mqtt::PacketId, std::list<InFlight>::iterator> inflight_by_id_;
  std::vector<bool> incoming_qos2_ = std::vector<bool>(65536, false);
  std::list<Request> requests_;  // in request order
  // The registry of granted subscriptions, restored when the broker lost the session.
  std::map<std::string, mqtt::TopicSubscription> subscriptions_;
  std::map<std::string, mqtt::Properties> subscription_props_;
};

}  // namespace hermod::client
