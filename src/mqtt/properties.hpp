// MQTT 5.0 properties (section 2.2.2): each property a typed optional field, user properties and
// subscription identifiers as ordered lists. MQTT 3.1/3.1.1 packets carry none, so an empty
// Properties is what every v3 packet holds. Decoding checks that each property is allowed in the
// packet that carries it, that only user properties and subscription identifiers repeat, and the
// value ranges the standard gives; any breach is a protocol error (malformed, for bad bytes).
// Any thread; value type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mqtt/packet_type.hpp"
#include "mqtt/result.hpp"

namespace hermod::mqtt {

enum class PropertyId : std::uint8_t {
  payload_format_indicator = 0x01,
  message_expiry_interval = 0x02,
  content_type = 0x03,
  response_topic = 0x08,
  correlation_data = 0x09,
  subscription_identifier = 0x0B,
  session_expiry_interval = 0x11,
  assigned_client_identifier = 0x12,
  server_keep_alive = 0x13,
  authentication_method = 0x15,
  authentication_data = 0x16,
  request_problem_information = 0x17,
  will_delay_interval = 0x18,
  request_response_information = 0x19,
  response_information = 0x1A,
  server_reference = 0x1C,
  reason_string = 0x1F,
  receive_maximum = 0x21,
  topic_alias_maximum = 0x22,
  topic_alias = 0x23,
  maximum_qos = 0x24,
  retain_available = 0x25,
  user_property = 0x26,
  maximum_packet_size = 0x27,
  wildcard_subscription_available = 0x28,
  subscription_identifier_available = 0x29,
  shared_subscription_available = 0x2A,
};

// Where a property list sits: a packet type, or the will properties inside CONNECT.
enum class PropertyContext : std::uint8_t {
  connect = 1, connack, publish, puback, pubrec, pubrel, pubcomp, subscribe, suback,
  unsubscribe, unsuback, pingreq, pingresp, disconnect, auth,
  will = 16,
};

constexpr PropertyContext context_of(PacketType t) { return static_cast<PropertyContext>(t); }

using UserProperty = std::pair<std::string, std::string>;

struct Properties {
  std::optional<std::uint8_t> payload_format_indicator;
  std::optional<std::uint32_t> message_expiry_interval;
  std::optional<std::string> content_type;
  std::optional<std::string> response_topic;
  std::optional<std::string> correlation_data;
  std::vector<std::uint32_t> subscription_identifiers;
  std::optional<std::uint32_t> session_expiry_interval;
  std::optional<std::string> assigned_client_identifier;
  std::optional<std::uint16_t> server_keep_alive;
  std::optional<std::string> authentication_method;
  std::optional<std::string> authentication_data;
  std::optional<std::uint8_t> request_problem_information;
  std::optional<std::uint32_t> will_delay_interval;
  std::optional<std::uint8_t> request_response_information;
  std::optional<std::string> response_information;
  std::optional<std::string> server_reference;
  std::optional<std::string> reason_string;
  std::optional<std::uint16_t> receive_maximum;
  std::optional<std::uint16_t> topic_alias_maximum;
  std::optional<std::uint16_t> topic_alias;
  std::optional<std::uint8_t> maximum_qos;
  std::optional<std::uint8_t> retain_available;
  std::vector<UserProperty> user_properties;
  std::optional<std::uint32_t> maximum_packet_size;
  std::optional<std::uint8_t> wildcard_subscription_available;
  std::optional<std::uint8_t> subscription_identifier_available;
  std::optional<std::uint8_t> shared_subscription_available;

  bool empty() const;
  bool operator==(const Properties&) const = default;
};

// True if property `id` may appear in `ctx` (table 2-4 of MQTT 5.0).
bool property_allowed(PropertyId id, PropertyContext ctx);

class Reader;
// Reads a property length and the properties after it. The whole list is parsed before any rule
// is applied, so bytes that do not parse (a value cut short, a length running past the packet,
// an unknown identifier or one above 0xFF, a non-minimal variable byte integer [MQTT-1.5.5-1],
// invalid UTF-8) are malformed_packet (0x81) wherever they are; only a list that parses whole
// can fail with protocol_error (0x82): a property not allowed in `ctx`, a repeated one, or a
// value out of range.
Result<Properties> decode_properties(Reader& in, PropertyContext ctx);

// Appends the property length and the properties. Properties not allowed in `ctx` are skipped,
// so a caller can pass a message's properties to any packet.
void encode_properties(std::string& out, const Properties& props, PropertyContext ctx);

// Size encode_properties would append, length prefix included.
std::uint32_t encoded_properties_size(const Properties& props, PropertyContext ctx);

}  // namespace hermod::mqtt
