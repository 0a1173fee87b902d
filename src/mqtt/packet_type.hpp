// MQTT control packet types and protocol versions. Any thread; constants only.
#pragma once

#include <cstdint>
#include <string_view>

namespace hermod::mqtt {

enum class PacketType : std::uint8_t {
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  unsubscribe = 10,
  unsuback = 11,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
  auth = 15,  // MQTT 5.0 only
};

std::string_view to_string(PacketType t);

// The protocol level byte of CONNECT.
enum class ProtocolVersion : std::uint8_t {
  v3_1 = 3,    // "MQIsdp"
  v3_1_1 = 4,  // "MQTT"
  v5 = 5,      // "MQTT"
};

std::string_view to_string(ProtocolVersion v);
constexpr bool is_v5(ProtocolVersion v) { return v == ProtocolVersion::v5; }

}  // namespace hermod::mqtt
