// The codec's answers to bad input that issue 17 settled (docs/conformance.md): the 0x81/0x82
// split in property blocks, minimal variable byte integers, reason codes checked per packet
// type, refusal of a packet type by its sender, topic filter forms in SUBSCRIBE/UNSUBSCRIBE,
// Response Topic wildcards, control characters in identifiers, and MQTT 3.1's DUP bits.
#include <gtest/gtest.h>

#include <string>

#include "codec_test_support.hpp"
#include "mqtt/decoder.hpp"
#include "mqtt/properties.hpp"
#include "mqtt/utf8.hpp"
#include "mqtt/wire.hpp"

namespace hermod::mqtt {
namespace {

using test::bytes;
using test::decode_wire;
using test::frame;
using test::str;
using RC = ReasonCode;
using V = ProtocolVersion;

Result<Properties> props(const std::string& wire, PropertyContext ctx) {
  Reader in(wire);
  return decode_properties(in, ctx);
}

std::string block(const std::string& content) {
  std::string out;
  append_varint(out, static_cast<std::uint32_t>(content.size()));
  return out + content;
}

// ---- variable byte integers

TEST(VariableByteInteger, NonMinimalEncodingIsMalformed) {
  for (const auto& wire : {bytes({0x80, 0x00}), bytes({0x81, 0x00}), bytes({0xFF, 0x80, 0x00}),
                           bytes({0x80, 0x80, 0x80, 0x00})}) {
    auto r = decode_varint(wire);
    ASSERT_FALSE(r.ok()) << "[MQTT-1.5.5-1] " << test::hex(wire) << " is not the shortest form";
    EXPECT_EQ(r.error().code, RC::malformed_packet) << "[MQTT-1.5.5-1]";
  }
}

TEST(VariableByteInteger, MinimalEncodingsStillDecode) {
  auto r = decode_varint(bytes({0x80, 0x01}));
  ASSERT_TRUE(r.ok()) << "[MQTT-1.5.5-1] 128 is 0x80 0x01";
  EXPECT_EQ(r->value, 128u);
  EXPECT_TRUE(decode_varint(bytes({0x00})).ok()) << "0 is one byte 0x00";
}

TEST(VariableByteInteger, NonMinimalRemainingLengthIsMalformed) {
  auto r = parse_fixed_header(bytes({0xC0, 0x80, 0x00}));
  ASSERT_FALSE(r.ok()) << "[MQTT-1.5.5-1] remaining length 0 in two bytes";
  EXPECT_EQ(r.error().code, RC::malformed_packet);
}

// ---- the property block: parse it all, then judge placement

TEST(PropertyBlock, DisallowedPropertyCutShortIsMalformed) {
  // Topic Alias is not allowed in CONNECT, and its value has 1 of its 2 bytes.
  auto r = props(block(bytes({0x23, 0x00})), PropertyContext::connect);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, RC::malformed_packet) << "bytes that cannot be parsed are 0x81 before placement is judged";
}

TEST(PropertyBlock, DisallowedPropertyThenUnknownIdentifierIsMalformed) {
  auto r = props(block(bytes({0x23, 0x00, 0x01, 0x7F})), PropertyContext::connect);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, RC::malformed_packet) << "the whole block is parsed first";
}

TEST(PropertyBlock, DuplicateThenCutShortIsMalformed) {
  auto r = props(block(bytes({0x01, 0x00, 0x01, 0x00, 0x02, 0x00})), PropertyContext::publish);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, RC::malformed_packet);
}

TEST(PropertyBlock, IdentifierAbove0xFFIsMalformed) {
  auto r = props(block(bytes({0x81, 0x02, 0x00})), PropertyContext::publish);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, RC::malformed_packet) << "identifier 257 names no property: it cannot be parsed";
}

TEST(PropertyBlock, NonMinimalIdentifierIsMalformed) {
  auto r = props(block(bytes({0x81, 0x00, 0x01})), PropertyContext::publish);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, RC::malformed_packet) << "[MQTT-1.5.5-1] identifier 1 in two bytes";
}

TEST(PropertyBlock, DisallowedPropertyThatParsesIsAProtocolError) {
  auto r = props(block(bytes({0x23, 0x00, 0x01})), PropertyContext::connect);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, RC::protocol_error) << "table 2-4: Topic Alias is not a CONNECT property";
}

TEST(PropertyBlock, DuplicateThatParsesIsAProtocolError) {
  auto r = props(block(bytes({0x01, 0x00, 0x01, 0x01})), PropertyContext::publish);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, RC::protocol_error) << "5.0 3.3.2.3.2: Payload Format Indicator twice";
}

TEST(PropertyBlock, DisallowedInSubscribeAndUnsubscribeIsAProtocolError) {
  for (auto ctx : {PropertyContext::subscribe, PropertyContext::unsubscribe}) {
    auto r = props(block(bytes({0x01, 0x01})), ctx);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, RC::protocol_error) << "table 2-4 for SUBSCRIBE and UNSUBSCRIBE";
  }
}

// ---- reason codes per packet type

TEST(ReasonCodes, EachAcknowledgementAllowsOnlyItsOwnCodes) {
  struct Case { std::uint8_t first; int code; bool ok; const char* rule; };
  const Case cases[] = {
      {0x40, 0x10, true, "[MQTT-3.4.2-1]"},  {0x40, 0x92, false, "[MQTT-3.4.2-1]"},
      {0x40, 0x04, false, "[MQTT-3.4.2-1]"}, {0x50, 0x97, true, "[MQTT-3.5.2-1]"},
      {0x50, 0x11, false, "[MQTT-3.5.2-1]"}, {0x62, 0x92, true, "[MQTT-3.6.2-1]"},
      {0x62, 0x80, false, "[MQTT-3.6.2-1]"}, {0x70, 0x92, true, "[MQTT-3.7.2-1]"},
      {0x70, 0x80, false, "[MQTT-3.7.2-1]"}, {0x70, 0x10, false, "[MQTT-3.7.2-1]"},
  };
  for (const auto& c : cases) {
    auto r = decode_wire(frame(c.first, bytes({0x00, 0x01, c.code})), V::v5);
    if (c.ok) {
      EXPECT_TRUE(r.ok()) << c.rule << " code " << c.code << " on type " << (c.first >> 4);
    } else {
      ASSERT_FALSE(r.ok()) << c.rule << " code " << c.code << " on type " << (c.first >> 4);
      EXPECT_EQ(r.error().code, RC::protocol_error) << c.rule;
    }
  }
}

TEST(ReasonCodes, DisconnectAndAuthAllowOnlyTheirCodes) {
  EXPECT_FALSE(decode_wire(bytes({0xE0, 0x01, 0x84}), V::v5).ok()) << "[MQTT-3.14.2-1] 0x84 is CONNACK only";
  EXPECT_TRUE(decode_wire(bytes({0xE0, 0x01, 0x04}), V::v5).ok()) << "[MQTT-3.14.2-1] 0x04 with will";
  EXPECT_FALSE(decode_wire(bytes({0xF0, 0x01, 0x10}), V::v5).ok()) << "[MQTT-3.15.2-1]";
  EXPECT_TRUE(decode_wire(bytes({0xF0, 0x01, 0x19}), V::v5).ok()) << "[MQTT-3.15.2-1] re-authenticate";
}

// ---- packet types by sender

TEST(PacketTypeBySender, ServerOnlyTypesFromAClientAreRefusedByType) {
  for (int first : {0x20, 0x90, 0xB0, 0xD0, 0xD1}) {
    const auto wire = frame(static_cast<std::uint8_t>(first), bytes({0x00}));  // bodies are malformed
    auto h = parse_fixed_header(wire);
    ASSERT_TRUE(h.ok() && *h);
    auto r = decode_packet(**h, std::string_view(wire).substr(2), V::v5, Sender::client);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, RC::protocol_error) << "table 2-1: type " << (first >> 4) << " is server to client only";
  }
}

TEST(PacketTypeBySender, ClientOnlyTypesFromAServerAreRefusedByType) {
  for (int first : {0x10, 0x82, 0xA2, 0xC0}) {
    FixedHeader h{static_cast<std::uint8_t>(first), 0, 2};
    auto r = check_packet_type(h, Sender::server);
    ASSERT_FALSE(r.ok()) << "table 2-1";
    EXPECT_EQ(r.error().code, RC::protocol_error);
  }
}

TEST(PacketTypeBySender, BothWayTypesPass) {
  for (int first : {0x30, 0x40, 0x50, 0x62, 0x70, 0xE0, 0xF0}) {
    FixedHeader h{static_cast<std::uint8_t>(first), 0, 2};
    EXPECT_TRUE(check_packet_type(h, Sender::client).ok()) << "type " << (first >> 4);
    EXPECT_TRUE(check_packet_type(h, Sender::server).ok()) << "type " << (first >> 4);
  }
}

// ---- topic filters in SUBSCRIBE and UNSUBSCRIBE

std::string subscribe_wire(V v, const std::string& filter) {
  return frame(0x82, bytes({0x00, 0x01}) + test::no_props(v) + str(filter) + bytes({0x00}));
}
std::string unsubscribe_wire(V v, const std::string& filter) {
  return frame(0xA2, bytes({0x00, 0x01}) + test::no_props(v) + str(filter));
}

TEST(TopicFilters, ZeroLengthFilterIsMalformedInSubscribeAndUnsubscribe) {
  for (V v : test::kAllVersions) {
    for (const auto& wire : {subscribe_wire(v, ""), unsubscribe_wire(v, "")}) {
      auto r = decode_wire(wire, v);
      ASSERT_FALSE(r.ok()) << "[MQTT-4.7.3-1] filters MUST be at least one character long";
      EXPECT_EQ(r.error().code, RC::malformed_packet) << "[MQTT-4.7.3-1]";
    }
  }
}

TEST(TopicFilters, SharedSubscriptionWithoutNameOrFilterIsAProtocolError) {
  for (const char* f : {"$share/g", "$share/g/", "$share//a", "$share/", "$share/a+/b", "$share/#/b"}) {
    for (const auto& wire : {subscribe_wire(V::v5, f), unsubscribe_wire(V::v5, f)}) {
      auto r = decode_wire(wire, V::v5);
      ASSERT_FALSE(r.ok()) << "[MQTT-4.8.2-1] [MQTT-4.8.2-2] " << f;
      EXPECT_EQ(r.error().code, RC::protocol_error) << "[MQTT-4.8.2-2] " << f;
    }
  }
  EXPECT_TRUE(decode_wire(subscribe_wire(V::v5, "$share/g/a/#"), V::v5).ok()) << "[MQTT-4.8.2-2] valid";
  EXPECT_TRUE(decode_wire(subscribe_wire(V::v3_1_1, "$share/g"), V::v3_1_1).ok())
      << "3.1.1 has no shared subscriptions: the string is a filter; SUBACK answers it";
}

TEST(TopicFilters, InvalidWildcardsInA311UnsubscribeAreRefused) {
  for (const char* f : {"a/#/b", "a+", "#a"}) {
    EXPECT_FALSE(decode_wire(unsubscribe_wire(V::v3_1_1, f), V::v3_1_1).ok())
        << "[MQTT-4.7.1-2] [MQTT-4.7.1-3] 3.1.1 UNSUBACK cannot refuse a filter: " << f;
    EXPECT_TRUE(decode_wire(unsubscribe_wire(V::v5, f), V::v5).ok())
        << "5.0: UNSUBACK 0x8F answers it per filter: " << f;
  }
}

// ---- Response Topic

std::string publish_with(const std::string& content) {
  return frame(0x30, str("t/a") + block(content) + "x");
}

TEST(ResponseTopic, WildcardsAreAProtocolError) {
  for (const char* t : {"r/+", "#", "r/#"}) {
    auto r = decode_wire(publish_with(bytes({0x08}) + str(t)), V::v5);
    ASSERT_FALSE(r.ok()) << "[MQTT-3.3.2-14] " << t;
    EXPECT_EQ(r.error().code, RC::protocol_error) << "[MQTT-3.3.2-14]";
  }
  EXPECT_TRUE(decode_wire(publish_with(bytes({0x08}) + str("r/x")), V::v5).ok());
}

TEST(ResponseTopic, WildcardsInAWillAreAProtocolError) {
  const auto will = block(bytes({0x08}) + str("r/+")) + str("w/t") + str("bye");
  auto r = decode_wire(test::connect_wire(V::v5, 0x06, will), V::v5);
  ASSERT_FALSE(r.ok()) << "[MQTT-3.3.2-14] in will properties";
  EXPECT_EQ(r.error().code, RC::protocol_error);
}

// ---- control characters in identifiers

TEST(ControlCharacters, AreDetectedAtBothEndsOfBothRanges) {
  for (const auto& s : {bytes({0x01}), bytes({0x1F}), bytes({0x7F}), bytes({0xC2, 0x80}),
                        bytes({0xC2, 0x9F}), std::string("abcdefgh\n"), std::string("abcdefghijklmno\x1b")}) {
    EXPECT_TRUE(has_control_character(s)) << test::hex(s);
  }
  for (const auto& s : {std::string("a/b/c/d/e/f/g/h"), std::string(" ~"), bytes({0xC2, 0xA0}),
                        bytes({0xC3, 0x80}), bytes({0xEF, 0xBF, 0xBF}), std::string()}) {
    EXPECT_FALSE(has_control_character(s)) << test::hex(s);
  }
}

TEST(ControlCharacters, InTopicNamesFiltersClientIdsAndUserNamesAreMalformed) {
  const auto ctl = std::string("a") + '\x01';
  for (V v : test::kAllVersions) {
    auto pub = decode_wire(frame(0x30, str(ctl) + test::no_props(v)), v);
    ASSERT_FALSE(pub.ok()) << "5.0 1.5.4: topic name";
    EXPECT_EQ(pub.error().code, RC::malformed_packet);
    auto sub = decode_wire(subscribe_wire(v, ctl), v);
    ASSERT_FALSE(sub.ok()) << "5.0 1.5.4: topic filter";
    EXPECT_EQ(sub.error().code, RC::malformed_packet);
    auto id = decode_wire(test::connect_wire(v, 0x02, "", str(ctl)), v);
    ASSERT_FALSE(id.ok()) << "5.0 1.5.4: client identifier";
    EXPECT_EQ(id.error().code, RC::malformed_packet);
    auto user = decode_wire(test::connect_wire(v, 0x82, str(ctl)), v);
    ASSERT_FALSE(user.ok()) << "5.0 1.5.4: user name";
    EXPECT_EQ(user.error().code, RC::malformed_packet);
  }
}

TEST(ControlCharacters, InPayloadsAndUserPropertiesAreAccepted) {
  EXPECT_TRUE(decode_wire(frame(0x30, str("t") + bytes({0x00}) + bytes({0x01, 0x1B})), V::v5).ok());
  EXPECT_TRUE(decode_wire(publish_with(bytes({0x26}) + str("k") + str("\x01")), V::v5).ok());
}

// ---- MQTT 3.1 DUP bits

TEST(Mqtt31, DupOnPubrelIsLeftToDecodePacket) {
  const auto wire = bytes({0x6A, 0x02, 0x00, 0x05});
  auto h = parse_fixed_header(wire);
  ASSERT_TRUE(h.ok() && *h);
  auto fast = decode_short_ack(**h, std::string_view(wire).substr(2));
  ASSERT_TRUE(fast.ok());
  EXPECT_FALSE(*fast) << "the fast path has no version: it hands a 3.1 PUBREL with DUP on";
  EXPECT_TRUE(decode_wire(wire, V::v3_1).ok()) << "MQTT 3.1: DUP may be set on PUBREL";
  EXPECT_FALSE(decode_wire(wire, V::v3_1_1).ok()) << "[MQTT-3.6.1-1]";
}

}  // namespace
}  // namespace hermod::mqtt
