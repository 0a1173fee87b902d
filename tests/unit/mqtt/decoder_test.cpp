// parse_fixed_header and decode_packet: the fixed header, reserved flags, PUBLISH and its
// acknowledgements, PING, DISCONNECT and AUTH, each malformation with the reason code the receiver
// reports. CONNECT/CONNACK and SUBSCRIBE/UNSUBSCRIBE and their acks have their own files.
// Rule ids are those of MQTT 3.1.1 unless a 5.0 section is given.
#include "mqtt/decoder.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "codec_test_support.hpp"

namespace hermod::mqtt {
namespace {

using test::bytes;
using test::connect_wire;
using test::decode_wire;
using test::frame;
using test::hex;
using test::kAllVersions;
using test::no_props;
using test::str;
using test::version_param_name;
using test::will_part;
using V = ProtocolVersion;
using RC = ReasonCode;

// A minimal valid body for `type` in protocol `v`.
std::string valid_body(PacketType type, V v) {
  const std::string id = bytes({0x00, 0x01});
  switch (type) {
    case PacketType::connect: return connect_wire(v, 0x02).substr(2);
    case PacketType::connack: return bytes({0x00, 0x00}) + no_props(v);
    case PacketType::publish: return str("a/b") + no_props(v) + "payload";
    case PacketType::puback:
    case PacketType::pubrec:
    case PacketType::pubrel:
    case PacketType::pubcomp: return id;
    case PacketType::subscribe: return id + no_props(v) + str("a/+") + bytes({0x01});
    case PacketType::suback: return id + no_props(v) + bytes({0x01});
    case PacketType::unsubscribe: return id + no_props(v) + str("a/+");
    case PacketType::unsuback: return id + (is_v5(v) ? bytes({0x00, 0x00}) : "");
    case PacketType::pingreq:
    case PacketType::pingresp:
    case PacketType::disconnect:
    case PacketType::auth: return "";
  }
  return "";
}

// ---------------------------------------------------------------------------------------------
// parse_fixed_header

TEST(ParseFixedHeader, NeedsMoreBytesUntilTheRemainingLengthEnds) {
  for (const auto& partial : {std::string(), bytes({0x30}), bytes({0x30, 0x80}),
                              bytes({0x30, 0xFF, 0xFF}), bytes({0x30, 0xFF, 0xFF, 0xFF})}) {
    auto r = parse_fixed_header(partial);
    ASSERT_TRUE(r.ok()) << hex(partial);
    EXPECT_FALSE(r->has_value()) << hex(partial);
  }
}

TEST(ParseFixedHeader, ReadsTypeFlagsAndLengthWithoutTheBody) {
  auto r = parse_fixed_header(bytes({0x3B, 0x80, 0x01}));  // PUBLISH DUP QoS1 RETAIN, length 128
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_value());
  const auto& h = **r;
  EXPECT_EQ(h.type(), PacketType::publish);
  EXPECT_EQ(h.flags(), 0x0B);
  EXPECT_EQ(h.remaining_length, 128u);
  EXPECT_EQ(h.header_length, 3);
  EXPECT_EQ(h.total_length(), 131u);
}

TEST(ParseFixedHeader, AcceptsTheLargestRemainingLength) {
  auto r = parse_fixed_header(bytes({0x30, 0xFF, 0xFF, 0xFF, 0x7F}));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->remaining_length, kMaxVarint);
  EXPECT_EQ((*r)->total_length(), kMaxPacketSize);
}

TEST(ParseFixedHeader, RemainingLengthLongerThanFourBytesIsMalformed) {
  EXPECT_DECODE_ERROR(parse_fixed_header(bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F})),
                      RC::malformed_packet, "2.2.3 remaining length is at most four bytes");
  EXPECT_DECODE_ERROR(parse_fixed_header(bytes({0x30, 0x80, 0x80, 0x80, 0x80})),
                      RC::malformed_packet, "2.2.3 fourth length byte with continuation bit");
}

TEST(ParseFixedHeader, PacketTooLargeIsReportedBeforeTheBodyArrives) {
  // Only the two header bytes are present; the declared 16383-byte body has not arrived.
  EXPECT_DECODE_ERROR(parse_fixed_header(bytes({0x30, 0xFF, 0x7F}), 1024), RC::packet_too_large,
                      "3.1.2.11.4 a packet above Maximum Packet Size");
  EXPECT_DECODE_ERROR(parse_fixed_header(bytes({0x30, 0xFF, 0xFF, 0xFF, 0x7F}), 1u << 20),
                      RC::packet_too_large, "3.1.2.11.4");
}

TEST(ParseFixedHeader, LimitCountsTheWholePacketIncludingTheHeader) {
  // remaining length 100 + 2 header bytes = 102
  auto at_limit = parse_fixed_header(bytes({0x30, 100}), 102);
  ASSERT_TRUE(at_limit.ok());
  EXPECT_TRUE(at_limit->has_value());
  EXPECT_DECODE_ERROR(parse_fixed_header(bytes({0x30, 100}), 101), RC::packet_too_large,
                      "3.1.2.11.4 the size is the total number of bytes in the packet");
}

TEST(ParseFixedHeader, IgnoresBytesAfterTheHeader) {
  auto r = parse_fixed_header(bytes({0xC0, 0x00, 0xC0, 0x00}));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->total_length(), 2u);
}

// ---------------------------------------------------------------------------------------------
// Fixed header flags [MQTT-2.2.2-1] [MQTT-2.2.2-2]

struct FlagsCase {
  V version;
  PacketType type;
};

void PrintTo(const FlagsCase& c, std::ostream* os) {
  *os << test::version_name(c.version) << " " << to_string(c.type);
}

class ReservedFlags : public ::testing::TestWithParam<FlagsCase> {};

std::vector<FlagsCase> flags_cases() {
  std::vector<FlagsCase> out;
  for (V v : kAllVersions) {
    for (int t = 1; t <= 15; ++t) {
      const auto type = static_cast<PacketType>(t);
      if (type == PacketType::publish) continue;  // its flags carry DUP, QoS and RETAIN
      if (type == PacketType::auth && !is_v5(v)) continue;
      out.push_back({v, type});
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Decoder, ReservedFlags, ::testing::ValuesIn(flags_cases()),
                         [](const auto& info) {
                           return test::version_name(info.param.version) + "_" +
                                  std::string(to_string(info.param.type));
                         });

TEST_P(ReservedFlags, OnlyTheValueOfTable2_2Decodes) {
  const auto [v, type] = GetParam();
  const auto required = test::first_byte(type) & 0x0F;
  const auto body = valid_body(type, v);
  for (int flags = 0; flags < 16; ++flags) {
    const auto first = static_cast<std::uint8_t>((static_cast<int>(type) << 4) | flags);
    auto r = decode_wire(frame(first, body), v);
    // MQTT 3.1 gave PUBREL, SUBSCRIBE and UNSUBSCRIBE a DUP flag that may be set.
    if (flags == required || (v == V::v3_1 && required == 0x02 && flags == 0x0A)) {
      EXPECT_DECODES(r, "[MQTT-2.2.2-1] the required flags (3.1: DUP allowed)");
    } else {
      EXPECT_DECODE_ERROR(r, RC::malformed_packet,
                          "[MQTT-2.2.2-2] flags " + std::to_string(flags) + " on " +
                              std::string(to_string(type)) + " (must be " +
                              std::to_string(required) + ")");
    }
  }
}

TEST(Decoder, ReservedPacketType0IsMalformed) {
  for (V v : kAllVersions) {
    EXPECT_DECODE_ERROR(decode_wire(bytes({0x00, 0x00}), v), RC::malformed_packet,
                        "2.2.1 packet type 0 is reserved");
  }
}

TEST(Decoder, BodyOfTheWrongLengthIsMalformed) {
  auto h = parse_fixed_header(bytes({0xC0, 0x01}));
  ASSERT_TRUE(h.ok() && h->has_value());
  EXPECT_DECODE_ERROR(decode_packet(**h, "", V::v3_1_1), RC::malformed_packet,
                      "body shorter than the remaining length");
}

class DecoderAllVersions : public ::testing::TestWithParam<V> {};
INSTANTIATE_TEST_SUITE_P(Decoder, DecoderAllVersions, ::testing::ValuesIn(kAllVersions),
                         version_param_name);

class DecoderV3 : public ::testing::TestWithParam<V> {};
INSTANTIATE_TEST_SUITE_P(Decoder, DecoderV3, ::testing::Values(V::v3_1, V::v3_1_1),
                         version_param_name);

TEST_P(DecoderAllVersions, EveryMinimalPacketDecodes) {
  for (int t = 1; t <= 15; ++t) {
    const auto type = static_cast<PacketType>(t);
    if (type == PacketType::auth && !is_v5(GetParam())) continue;
    auto r = decode_wire(frame(test::first_byte(type), valid_body(type, GetParam())), GetParam());
    ASSERT_TRUE(r.ok()) << to_string(type) << ": " << r.error().what;
    EXPECT_EQ(type_of(*r), type);
  }
}

// ---------------------------------------------------------------------------------------------
// PUBLISH

std::string publish_wire(V v, std::uint8_t flags, const std::string& topic, bool with_id = false,
                         int id = 1, const std::string& props = "") {
  std::string b = topic;
  if (with_id) b += bytes({id >> 8, id & 0xFF});
  if (is_v5(v)) b += props.empty() ? bytes({0x00}) : props;
  b += "data";
  return frame(static_cast<std::uint8_t>(0x30 | flags), b);
}

TEST_P(DecoderAllVersions, PublishWithQos3IsMalformed) {
  for (std::uint8_t flags : {0x06, 0x07, 0x0E, 0x0F}) {
    EXPECT_DECODE_ERROR(decode_wire(publish_wire(GetParam(), flags, str("a"), true), GetParam()),
                        RC::malformed_packet, "[MQTT-3.3.1-4] both QoS bits set");
  }
}

TEST_P(DecoderAllVersions, PublishDupWithQos0IsMalformed) {
  for (std::uint8_t flags : {0x08, 0x09}) {
    EXPECT_DECODE_ERROR(decode_wire(publish_wire(GetParam(), flags, str("a")), GetParam()),
                        RC::malformed_packet, "[MQTT-3.3.1-2] DUP on QoS 0");
  }
}

TEST_P(DecoderAllVersions, PublishFlagsDecode) {
  auto r = decode_wire(publish_wire(GetParam(), 0x0D, str("a/b"), true, 0x1234), GetParam());
  ASSERT_TRUE(r.ok()) << r.error().what;
  const auto& p = std::get<Publish>(*r);
  EXPECT_TRUE(p.dup);
  EXPECT_EQ(p.qos, 2);
  EXPECT_TRUE(p.retain);
  EXPECT_EQ(p.packet_id, 0x1234);
  EXPECT_EQ(p.topic, "a/b");
  EXPECT_EQ(p.payload, "data");
}

TEST_P(DecoderAllVersions, PublishWithQosAndPacketId0IsAProtocolError) {
  for (std::uint8_t flags : {0x02, 0x04}) {
    EXPECT_DECODE_ERROR(decode_wire(publish_wire(GetParam(), flags, str("a"), true, 0), GetParam()),
                        RC::protocol_error, "[MQTT-2.3.1-1] packet identifier 0");
  }
}

TEST_P(DecoderAllVersions, PublishTopicWithWildcardIsInvalid) {
  for (const char* topic : {"a/+", "a/#", "#", "+", "a+b"}) {
    EXPECT_DECODE_ERROR(decode_wire(publish_wire(GetParam(), 0x00, str(topic)), GetParam()),
                        RC::topic_name_invalid, std::string("[MQTT-3.3.2-2] ") + topic);
  }
}

TEST_P(DecoderV3, PublishWithEmptyTopicIsInvalid) {
  EXPECT_DECODE_ERROR(decode_wire(publish_wire(GetParam(), 0x00, str("")), GetParam()),
                      RC::topic_name_invalid, "[MQTT-4.7.3-1] empty topic name");
}

TEST(Decoder, PublishV5EmptyTopicWithoutTopicAliasIsAProtocolError) {
  EXPECT_DECODE_ERROR(decode_wire(publish_wire(V::v5, 0x00, str("")), V::v5), RC::protocol_error,
                      "5.0 3.3.2.3.4 a zero-length topic name without a topic alias");
}

TEST(Decoder, PublishV5EmptyTopicWithTopicAliasIsAllowed) {
  auto r = decode_wire(publish_wire(V::v5, 0x00, str(""), false, 0, bytes({0x03, 0x23, 0x00, 0x07})),
                       V::v5);
  ASSERT_TRUE(r.ok()) << "5.0 3.3.2.3.4 a zero-length topic with a topic alias: " << r.error().what;
  EXPECT_TRUE(std::get<Publish>(*r).topic.empty());
  EXPECT_EQ(std::get<Publish>(*r).props.topic_alias, 7);
}

TEST(Decoder, PublishV5TopicAliasDoesNotExcuseAWildcard) {
  auto r = decode_wire(publish_wire(V::v5, 0x00, str("a/#"), false, 0, bytes({0x03, 0x23, 0x00, 0x07})),
                       V::v5);
  EXPECT_DECODE_ERROR(r, RC::topic_name_invalid, "[MQTT-3.3.2-2]");
}

TEST_P(DecoderAllVersions, PublishTopicWithInvalidUtf8IsMalformed) {
  for (const auto& topic : {bytes({0x00, 0x02, 0xC0, 0xAF}),          // overlong '/'
                            bytes({0x00, 0x03, 0xED, 0xBF, 0xBF}),    // surrogate U+DFFF
                            bytes({0x00, 0x03, 'a', 0x00, 'b'}),      // U+0000
                            bytes({0x00, 0x02, 'a', 0xE2}),           // truncated sequence
                            bytes({0x00, 0x04, 0xF4, 0x90, 0x80, 0x80})}) {  // above U+10FFFF
    EXPECT_DECODE_ERROR(decode_wire(publish_wire(GetParam(), 0x00, topic), GetParam()),
                        RC::malformed_packet, "[MQTT-1.5.3-1] [MQTT-1.5.3-2] topic " + hex(topic));
  }
}

TEST_P(DecoderAllVersions, PublishPayloadIsOpaque) {
  const auto v = GetParam();
  const auto payload = bytes({0x00, 0xFF, 0xC0, 0xED, 0xA0, 0x80});
  auto r = decode_wire(frame(0x30, str("t") + no_props(v) + payload), v);
  ASSERT_TRUE(r.ok()) << r.error().what;
  EXPECT_EQ(hex(std::get<Publish>(*r).payload), hex(payload)) << "3.3.3 the payload is not UTF-8 checked";
  r = decode_wire(frame(0x30, str("t") + no_props(v)), v);
  ASSERT_TRUE(r.ok()) << r.error().what;
  EXPECT_TRUE(std::get<Publish>(*r).payload.empty()) << "3.3.3 a zero-length payload is valid";
}

TEST_P(DecoderAllVersions, PublishCutInsideTheTopicIsMalformed) {
  EXPECT_DECODE_ERROR(decode_wire(frame(0x30, bytes({0x00, 0x05, 'a'})), GetParam()),
                      RC::malformed_packet, "3.3.2 topic longer than the packet");
  EXPECT_DECODE_ERROR(decode_wire(frame(0x32, str("a") + bytes({0x00})), GetParam()),
                      RC::malformed_packet, "3.3.2 packet identifier cut short");
}

TEST(Decoder, PublishV5PropertyNotAllowedIsAProtocolError) {
  auto r = decode_wire(publish_wire(V::v5, 0x00, str("t"), false, 0, bytes({0x05, 0x11, 0, 0, 0, 1})),
                       V::v5);
  EXPECT_DECODE_ERROR(r, RC::protocol_error, "5.0 3.3.2.3 Session Expiry is not a PUBLISH property");
}

TEST(Decoder, PublishV5RepeatedTopicAliasIsAProtocolError) {
  auto r = decode_wire(
      publish_wire(V::v5, 0x00, str("t"), false, 0, bytes({0x06, 0x23, 0, 1, 0x23, 0, 2})), V::v5);
  EXPECT_DECODE_ERROR(r, RC::protocol_error, "5.0 3.3.2.3.4 Topic Alias more than once");
}

TEST(Decoder, PublishV5MayCarrySeveralSubscriptionIdentifiers) {
  auto r = decode_wire(
      publish_wire(V::v5, 0x00, str("t"), false, 0, bytes({0x04, 0x0B, 0x01, 0x0B, 0x02})), V::v5);
  ASSERT_TRUE(r.ok()) << r.error().what;
  EXPECT_EQ(std::get<Publish>(*r).props.subscription_identifiers, (std::vector<std::uint32_t>{1, 2}))
      << "5.0 3.3.2.3.8";
}

// ---------------------------------------------------------------------------------------------
// PUBACK, PUBREC, PUBREL, PUBCOMP

class PublishResponses : public ::testing::TestWithParam<PacketType> {};
INSTANTIATE_TEST_SUITE_P(Decoder, PublishResponses,
                         ::testing::Values(PacketType::puback, PacketType::pubrec,
                                           PacketType::pubrel, PacketType::pubcomp),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST_P(PublishResponses, PacketId0IsAProtocolError) {
  for (V v : kAllVersions) {
    EXPECT_DECODE_ERROR(decode_wire(frame(test::first_byte(GetParam()), bytes({0, 0})), v),
                        RC::protocol_error, "[MQTT-2.3.1-1] packet identifier 0");
  }
}

TEST_P(PublishResponses, V3BodyIsExactlyThePacketId) {
  for (V v : {V::v3_1, V::v3_1_1}) {
    EXPECT_DECODE_ERROR(decode_wire(frame(test::first_byte(GetParam()), bytes({0, 1, 0})), v),
                        RC::malformed_packet, "3.4.2 remaining length 2");
    EXPECT_DECODE_ERROR(decode_wire(frame(test::first_byte(GetParam()), bytes({0})), v),
                        RC::malformed_packet, "3.4.2 packet identifier cut short");
  }
}

TEST_P(PublishResponses, V5ShortFormsMeanSuccess) {
  const auto first = test::first_byte(GetParam());
  for (const auto& body : {bytes({0, 9}), bytes({0, 9, 0x00}), bytes({0, 9, 0x00, 0x00})}) {
    auto r = decode_wire(frame(first, body), V::v5);
    ASSERT_TRUE(r.ok()) << hex(body) << ": " << r.error().what;
    std::visit(
        [&](const auto& p) {
          if constexpr (requires { p.packet_id; p.reason; }) {
            EXPECT_EQ(p.packet_id, 9);
            EXPECT_EQ(p.reason, RC::success) << "5.0 3.4.2.1 a missing reason code means success";
          }
        },
        *r);
  }
}

TEST_P(PublishResponses, V5ReasonCodeAndReasonString) {
  const auto first = test::first_byte(GetParam());
  const bool release = GetParam() == PacketType::pubrel || GetParam() == PacketType::pubcomp;
  const int code = release ? 0x92 : 0x10;  // a code each type allows (tables 3-4 to 3-7)
  auto r = decode_wire(frame(first, bytes({0, 9, code, 0x05, 0x1F, 0x00, 0x02, 'n', 'o'})), V::v5);
  ASSERT_TRUE(r.ok()) << r.error().what;
  std::visit(
      [&](const auto& p) {
        if constexpr (requires { p.packet_id; p.reason; }) {
          EXPECT_EQ(p.reason, static_cast<RC>(code));
          EXPECT_EQ(p.props.reason_string, "no");
        }
      },
      *r);
}

TEST_P(PublishResponses, V5UnknownReasonCodeIsAProtocolError) {
  EXPECT_DECODE_ERROR(decode_wire(frame(test::first_byte(GetParam()), bytes({0, 1, 0x05})), V::v5),
                      RC::protocol_error, "5.0 2.4 reason code 0x05 is not defined");
}

TEST_P(PublishResponses, V5PropertyNotAllowedIsAProtocolError) {
  EXPECT_DECODE_ERROR(
      decode_wire(frame(test::first_byte(GetParam()), bytes({0, 1, 0x00, 0x03, 0x23, 0, 1})), V::v5),
      RC::protocol_error, "5.0 3.4.2.2 only Reason String and User Property");
}

TEST_P(PublishResponses, V5TrailingBytesAfterPropertiesAreMalformed) {
  EXPECT_DECODE_ERROR(
      decode_wire(frame(test::first_byte(GetParam()), bytes({0, 1, 0x00, 0x00, 0x00})), V::v5),
      RC::malformed_packet, "3.4 trailing bytes");
}

// ---------------------------------------------------------------------------------------------
// PINGREQ, PINGRESP, DISCONNECT, AUTH

TEST_P(DecoderAllVersions, PingWithABodyIsMalformed) {
  EXPECT_DECODE_ERROR(decode_wire(frame(0xC0, "x"), GetParam()), RC::malformed_packet,
                      "3.12 PINGREQ has no variable header or payload");
  EXPECT_DECODE_ERROR(decode_wire(frame(0xD0, "x"), GetParam()), RC::malformed_packet,
                      "3.13 PINGRESP has no variable header or payload");
}

TEST_P(DecoderV3, DisconnectWithABodyIsMalformed) {
  EXPECT_DECODE_ERROR(decode_wire(frame(0xE0, bytes({0x00})), GetParam()), RC::malformed_packet,
                      "3.14 DISCONNECT has no variable header in 3.1.1");
}

TEST(Decoder, DisconnectV5ReasonAndProperties) {
  auto r = decode_wire(frame(0xE0, ""), V::v5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<Disconnect>(*r).reason, RC::success) << "5.0 3.14.2.1 no reason code: 0x00";
  r = decode_wire(frame(0xE0, bytes({0x04})), V::v5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<Disconnect>(*r).reason, RC::disconnect_with_will_message);
  r = decode_wire(frame(0xE0, bytes({0x00, 0x05, 0x11, 0, 0, 0, 9})), V::v5);
  ASSERT_TRUE(r.ok()) << r.error().what;
  EXPECT_EQ(std::get<Disconnect>(*r).props.session_expiry_interval, 9u);
}

TEST(Decoder, DisconnectV5UnknownReasonCodeIsAProtocolError) {
  EXPECT_DECODE_ERROR(decode_wire(frame(0xE0, bytes({0x03})), V::v5), RC::protocol_error,
                      "5.0 3.14.2.1 reason code 0x03 is not defined");
}

TEST(Decoder, DisconnectV5PropertyNotAllowedIsAProtocolError) {
  EXPECT_DECODE_ERROR(decode_wire(frame(0xE0, bytes({0x00, 0x02, 0x17, 0x01})), V::v5),
                      RC::protocol_error, "5.0 3.14.2.2 Request Problem Information is a CONNECT property");
}

TEST_P(DecoderV3, AuthIsMalformedBeforeMqtt5) {
  EXPECT_DECODE_ERROR(decode_wire(frame(0xF0, ""), GetParam()), RC::malformed_packet,
                      "3.1.1 2.2.1 packet type 15 is reserved");
  EXPECT_DECODE_ERROR(decode_wire(frame(0xF0, bytes({0x18, 0x00})), GetParam()), RC::malformed_packet,
                      "3.1.1 2.2.1 packet type 15 is reserved");
}

TEST(Decoder, AuthV5ReasonAndAuthenticationProperties) {
  auto r = decode_wire(frame(0xF0, ""), V::v5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<Auth>(*r).reason, RC::success) << "5.0 3.15.2.1 no reason code: success";
  r = decode_wire(frame(0xF0, bytes({0x18, 0x0C, 0x15, 0, 5, 'S', 'C', 'R', 'A', 'M', 0x16, 0, 1, 0xFF})),
                  V::v5);
  ASSERT_TRUE(r.ok()) << r.error().what;
  const auto& a = std::get<Auth>(*r);
  EXPECT_EQ(a.reason, RC::continue_authentication);
  EXPECT_EQ(a.props.authentication_method, "SCRAM");
  EXPECT_EQ(a.props.authentication_data, "\xFF");
}

}  // namespace
}  // namespace hermod::mqtt
