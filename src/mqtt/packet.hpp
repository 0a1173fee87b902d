// The MQTT control packets as values: one struct per packet type, with the MQTT 5.0 fields
// (properties, reason codes) present for every version and left empty for 3.1/3.1.1. The codec
// turns bytes into these and back; the broker and the client library work only with these.
// Any thread; plain value types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "mqtt/packet_type.hpp"
#include "mqtt/properties.hpp"
#include "mqtt/reason_code.hpp"

namespace hermod::mqtt {

using PacketId = std::uint16_t;

struct Will {
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
  bool retain = false;
  Properties props;  // will properties (MQTT 5)
  bool operator==(const Will&) const = default;
};

struct Connect {
  ProtocolVersion version = ProtocolVersion::v3_1_1;
  bool clean_start = true;  // "clean session" in 3.1.1
  std::uint16_t keep_alive = 0;
  std::string client_id;
  std::optional<Will> will;
  std::optional<std::string> username;
  std::optional<std::string> password;
  Properties props;
  bool operator==(const Connect&) const = default;
};

struct Connack {
  bool session_present = false;
  ReasonCode reason = ReasonCode::success;  // encoded as a 3.1.1 return code for v3 peers
  Properties props;
  bool operator==(const Connack&) const = default;
};

struct Publish {
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  PacketId packet_id = 0;  // non-zero iff qos > 0
  Properties props;
  bool operator==(const Publish&) const = default;
};

// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape; the tag keeps them distinct types.
template <PacketType Type>
struct PublishResponse {
  static constexpr PacketType kType = Type;
  PacketId packet_id = 0;
  ReasonCode reason = ReasonCode::success;
  Properties props;
  bool operator==(const PublishResponse&) const = default;
};
using Puback = PublishResponse<PacketType::puback>;
using Pubrec = PublishResponse<PacketType::pubrec>;
using Pubrel = PublishResponse<PacketType::pubrel>;
using Pubcomp = PublishResponse<PacketType::pubcomp>;

struct SubscribeOptions {
  std::uint8_t qos = 0;
  bool no_local = false;             // MQTT 5
  bool retain_as_published = false;  // MQTT 5
  std::uint8_t retain_handling = 0;  // MQTT 5: 0 send, 1 send if new, 2 never
  bool operator==(const SubscribeOptions&) const = default;
};

struct TopicSubscription {
  std::string filter;
  SubscribeOptions options;
  bool operator==(const TopicSubscription&) const = default;
};

struct Subscribe {
  PacketId packet_id = 0;
  std::vector<TopicSubscription> subscriptions;
  Properties props;
  bool operator==(const Subscribe&) const = default;
};

struct Suback {
  PacketId packet_id = 0;
  std::vector<ReasonCode> reasons;  // granted QoS 0/1/2 or a failure (0x80 for v3)
  Properties props;
  bool operator==(const Suback&) const = default;
};

struct Unsubscribe {
  PacketId packet_id = 0;
  std::vector<std::string> filters;
  Properties props;
  bool operator==(const Unsubscribe&) const = default;
};

struct Unsuback {
  PacketId packet_id = 0;
  std::vector<ReasonCode> reasons;  // MQTT 5 only; a v3 UNSUBACK has no payload
  Properties props;
  bool operator==(const Unsuback&) const = default;
};

struct Pingreq {
  bool operator==(const Pingreq&) const = default;
};
struct Pingresp {
  bool operator==(const Pingresp&) const = default;
};

struct Disconnect {
  ReasonCode reason = ReasonCode::success;
  Properties props;
  bool operator==(const Disconnect&) const = default;
};

struct Auth {
  ReasonCode reason = ReasonCode::success;
  Properties props;
  bool operator==(const Auth&) const = default;
};

using Packet = std::variant<Connect, Connack, Publish, Puback, Pubrec, Pubrel, Pubcomp, Subscribe,
                            Suback, Unsubscribe, Unsuback, Pingreq, Pingresp, Disconnect, Auth>;

PacketType type_of(const Packet& p);

}  // namespace hermod::mqtt
