// Helpers shared by the codec unit tests: byte-string literals, hand-made frames, one-shot
// decoding of a whole wire packet, sample properties for every context, and gtest printers so a
// failing comparison shows packets as hex instead of raw object bytes.
// Test-only; single-threaded.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>

#include "mqtt/decoder.hpp"
#include "mqtt/encoder.hpp"
#include "mqtt/packet.hpp"
#include "mqtt/properties.hpp"
#include "mqtt/wire.hpp"

namespace hermod::mqtt::test {

// {0x10, 0x02, ...} → a byte string.
inline std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}

inline std::string hex(std::string_view data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : data) {
    const auto b = static_cast<std::uint8_t>(c);
    if (!out.empty()) out.push_back(' ');
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0x0F]);
  }
  return out;
}

// A length-prefixed string as the wire carries it.
inline std::string str(std::string_view s) {
  std::string out;
  append_string(out, s);
  return out;
}

// Fixed header `first_byte` + minimal remaining length + `body`.
inline std::string frame(std::uint8_t first_byte, std::string_view body) {
  std::string out;
  append_u8(out, first_byte);
  append_varint(out, static_cast<std::uint32_t>(body.size()));
  out.append(body);
  return out;
}

// First byte for `type` with the flags the standard requires (0x2 for PUBREL/SUBSCRIBE/UNSUBSCRIBE).
inline std::uint8_t first_byte(PacketType type) {
  const bool two = type == PacketType::pubrel || type == PacketType::subscribe ||
                   type == PacketType::unsubscribe;
  return static_cast<std::uint8_t>((static_cast<unsigned>(type) << 4) | (two ? 0x02 : 0x00));
}

// Decodes exactly one complete packet occupying all of `wire`.
inline Result<Packet> decode_wire(std::string_view wire, ProtocolVersion version) {
  auto header = parse_fixed_header(wire);
  if (!header) return header.error();
  if (!*header) return Error{ReasonCode::unspecified_error, "test: incomplete fixed header"};
  const auto& h = **header;
  if (h.total_length() != wire.size()) {
    return Error{ReasonCode::unspecified_error, "test: wire length differs from the fixed header"};
  }
  return decode_packet(h, wire.substr(h.header_length), version);
}

// Every property allowed in `ctx`, each with a valid non-default value; user properties twice
// (order matters) and, where allowed, subscription identifiers (two in PUBLISH, one in SUBSCRIBE).
inline Properties full_properties(PropertyContext ctx) {
  Properties p;
  auto ok = [ctx](PropertyId id) { return property_allowed(id, ctx); };
  if (ok(PropertyId::payload_format_indicator)) p.payload_format_indicator = 1;
  if (ok(PropertyId::message_expiry_interval)) p.message_expiry_interval = 0x01020304;
  if (ok(PropertyId::content_type)) p.content_type = "application/json";
  if (ok(PropertyId::response_topic)) p.response_topic = "reply/to/me";
  if (ok(PropertyId::correlation_data)) p.correlation_data = std::string("\x00\x01\xFF", 3);
  if (ok(PropertyId::subscription_identifier)) {
    p.subscription_identifiers.push_back(268'435'455);
    if (ctx == PropertyContext::publish) p.subscription_identifiers.push_back(1);
  }
  if (ok(PropertyId::session_expiry_interval)) p.session_expiry_interval = 0xFFFFFFFF;
  if (ok(PropertyId::assigned_client_identifier)) p.assigned_client_identifier = "auto-5F3A";
  if (ok(PropertyId::server_keep_alive)) p.server_keep_alive = 120;
  if (ok(PropertyId::authentication_method)) p.authentication_method = "SCRAM-SHA-256";
  if (ok(PropertyId::authentication_data)) p.authentication_data = std::string("n,,\x00r", 5);
  if (ok(PropertyId::request_problem_information)) p.request_problem_information = 0;
  if (ok(PropertyId::will_delay_interval)) p.will_delay_interval = 30;
  if (ok(PropertyId::request_response_information)) p.request_response_information = 1;
  if (ok(PropertyId::response_information)) p.response_information = "resp/";
  if (ok(PropertyId::server_reference)) p.server_reference = "other.example:1883";
  if (ok(PropertyId::reason_string)) p.reason_string = "because \xC3\xA9t\xC3\xA9";
  if (ok(PropertyId::receive_maximum)) p.receive_maximum = 65535;
  if (ok(PropertyId::topic_alias_maximum)) p.topic_alias_maximum = 10;
  if (ok(PropertyId::topic_alias)) p.topic_alias = 7;
  if (ok(PropertyId::maximum_qos)) p.maximum_qos = 1;
  if (ok(PropertyId::retain_available)) p.retain_available = 0;
  if (ok(PropertyId::user_property)) {
    p.user_properties.emplace_back("k", "v1");
    p.user_properties.emplace_back("k", "v2");  // repeats keep their order (3.3.2.3.7)
  }
  if (ok(PropertyId::maximum_packet_size)) p.maximum_packet_size = 1'048'576;
  if (ok(PropertyId::wildcard_subscription_available)) p.wildcard_subscription_available = 1;
  if (ok(PropertyId::subscription_identifier_available)) p.subscription_identifier_available = 0;
  if (ok(PropertyId::shared_subscription_available)) p.shared_subscription_available = 1;
  return p;
}

inline std::string version_name(ProtocolVersion v) {
  switch (v) {
    case ProtocolVersion::v3_1: return "v3_1";
    case ProtocolVersion::v3_1_1: return "v3_1_1";
    case ProtocolVersion::v5: return "v5";
  }
  return "unknown";
}

inline constexpr ProtocolVersion kAllVersions[] = {ProtocolVersion::v3_1, ProtocolVersion::v3_1_1,
                                                ProtocolVersion::v5};

inline std::string version_param_name(const ::testing::TestParamInfo<ProtocolVersion>& info) {
  return version_name(info.param);
}

// The property length byte that a v5 packet carries where v3 carries nothing.
inline std::string no_props(ProtocolVersion v) { return is_v5(v) ? bytes({0x00}) : std::string(); }

// A CONNECT of protocol `v` with `flags`, keep alive 60, client id "id", then `rest`.
inline std::string connect_wire(ProtocolVersion v, std::uint8_t flags, const std::string& rest = "",
                                const std::string& client_id = str("id")) {
  std::string b = str(v == ProtocolVersion::v3_1 ? "MQIsdp" : "MQTT");
  b += static_cast<char>(v);
  b += static_cast<char>(flags);
  b += bytes({0x00, 0x3C});
  b += no_props(v);
  b += client_id;
  b += rest;
  return frame(0x10, b);
}

// Will properties (v5), will topic and will payload, as they follow the client identifier.
inline std::string will_part(ProtocolVersion v, const std::string& topic = str("will/t"),
                             const std::string& payload = str("bye")) {
  return no_props(v) + topic + payload;
}

}  // namespace hermod::mqtt::test

namespace hermod::mqtt {

// gtest printers, found by argument-dependent lookup.
inline void PrintTo(ProtocolVersion v, std::ostream* os) { *os << test::version_name(v); }
inline void PrintTo(ReasonCode rc, std::ostream* os) {
  *os << "0x" << std::hex << static_cast<int>(rc) << std::dec << " (" << to_string(rc) << ")";
}
inline void PrintTo(const Packet& p, std::ostream* os) {
  *os << to_string(type_of(p)) << " [v5 wire: " << test::hex(encode(p, ProtocolVersion::v5)) << "]";
}

}  // namespace hermod::mqtt

namespace hermod {

inline void PrintTo(const Error& e, std::ostream* os) {
  *os << "Error{";
  mqtt::PrintTo(e.code, os);
  *os << ", \"" << e.what << "\"}";
}

}  // namespace hermod

// Asserts that `result` failed with reason code `expected`; `rule` names the spec rule.
#define EXPECT_DECODE_ERROR(result, expected, rule)                                            \
  do {                                                                                         \
    const auto& hermod_r_ = (result);                                                          \
    if (hermod_r_.ok()) {                                                                      \
      ADD_FAILURE() << (rule) << ": decoded, expected " << ::testing::PrintToString(expected);   \
    } else {                                                                                   \
      EXPECT_EQ(hermod_r_.error().code, (expected))                                              \
          << (rule) << ": " << hermod_r_.error().what;                                           \
    }                                                                                          \
  } while (false)

#define EXPECT_DECODES(result, rule)                                                           \
  do {                                                                                         \
    const auto& hermod_r_ = (result);                                                          \
    EXPECT_TRUE(hermod_r_.ok()) << (rule) << ": "                                                \
                                << (hermod_r_.ok() ? "" : hermod_r_.error().what);             \
  } while (false)
