// MQTT 5.0 properties (section 2.2.2): where each may appear (table 2-4), which repeat, value
// ranges, and the encoding of each data type.
#include "mqtt/properties.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "codec_test_support.hpp"

namespace hermod::mqtt {
namespace {

using test::bytes;
using test::hex;
using test::str;
using C = PropertyContext;

constexpr C kAllContexts[] = {C::connect,  C::connack,     C::publish,  C::puback,  C::pubrec,
                              C::pubrel,   C::pubcomp,     C::subscribe, C::suback, C::unsubscribe,
                              C::unsuback, C::pingreq,     C::pingresp, C::disconnect, C::auth,
                              C::will};

const char* context_name(C c) {
  if (c == C::will) return "will";
  static const char* kNames[] = {"", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
                                 "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK",
                                 "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"};
  return kNames[static_cast<int>(c)];
}

// A property list holding `content` (identifier + value bytes), with its length prefix.
std::string property_list(const std::string& content) {
  std::string out;
  append_varint(out, static_cast<std::uint32_t>(content.size()));
  return out + content;
}

std::string prop(PropertyId id, const std::string& value) {
  return std::string(1, static_cast<char>(id)) + value;
}

Result<Properties> decode(const std::string& wire, C ctx) {
  Reader in(wire);
  return decode_properties(in, ctx);
}

struct PropertyCase {
  PropertyId id;
  const char* name;
  std::string value;          // a valid value as it follows the identifier on the wire
  void (*set)(Properties&);   // the same value in a Properties
  std::set<C> allowed;        // table 2-4 of MQTT 5.0
  bool repeatable;            // only user properties and subscription identifiers [2.2.2.2]
};

void PrintTo(const PropertyCase& c, std::ostream* os) { *os << c.name; }

const std::set<C> kAckContexts = {C::connack, C::puback,   C::pubrec,     C::pubrel, C::pubcomp,
                                  C::suback,  C::unsuback, C::disconnect, C::auth};
const std::set<C> kEveryPacketAndWill = {C::connect,     C::connack,  C::publish,    C::puback,
                                         C::pubrec,      C::pubrel,   C::pubcomp,    C::subscribe,
                                         C::suback,      C::unsubscribe, C::unsuback,
                                         C::disconnect,  C::auth,     C::will};

std::vector<PropertyCase> property_cases() {
  using P = PropertyId;
  const std::set<C> pub_will = {C::publish, C::will};
  return {
      {P::payload_format_indicator, "payload_format_indicator", bytes({0x01}),
       [](Properties& p) { p.payload_format_indicator = 1; }, pub_will, false},
      {P::message_expiry_interval, "message_expiry_interval", bytes({0, 0, 0, 60}),
       [](Properties& p) { p.message_expiry_interval = 60; }, pub_will, false},
      {P::content_type, "content_type", str("text/plain"),
       [](Properties& p) { p.content_type = "text/plain"; }, pub_will, false},
      {P::response_topic, "response_topic", str("r/t"),
       [](Properties& p) { p.response_topic = "r/t"; }, pub_will, false},
      {P::correlation_data, "correlation_data", bytes({0, 2, 0x00, 0xFF}),
       [](Properties& p) { p.correlation_data = std::string("\x00\xFF", 2); }, pub_will, false},
      {P::subscription_identifier, "subscription_identifier", bytes({0x80, 0x01}),
       [](Properties& p) { p.subscription_identifiers.push_back(128); }, {C::publish, C::subscribe},
       true},
      {P::session_expiry_interval, "session_expiry_interval", bytes({0, 0, 0x0E, 0x10}),
       [](Properties& p) { p.session_expiry_interval = 3600; }, {C::connect, C::connack, C::disconnect},
       false},
      {P::assigned_client_identifier, "assigned_client_identifier", str("id-1"),
       [](Properties& p) { p.assigned_client_identifier = "id-1"; }, {C::connack}, false},
      {P::server_keep_alive, "server_keep_alive", bytes({0, 30}),
       [](Properties& p) { p.server_keep_alive = 30; }, {C::connack}, false},
      {P::authentication_method, "authentication_method", str("PLAIN"),
       [](Properties& p) { p.authentication_method = "PLAIN"; }, {C::connect, C::connack, C::auth},
       false},
      {P::authentication_data, "authentication_data", bytes({0, 1, 0x00}),
       [](Properties& p) { p.authentication_data = std::string(1, '\0'); },
       {C::connect, C::connack, C::auth}, false},
      {P::request_problem_information, "request_problem_information", bytes({0}),
       [](Properties& p) { p.request_problem_information = 0; }, {C::connect}, false},
      {P::will_delay_interval, "will_delay_interval", bytes({0, 0, 0, 5}),
       [](Properties& p) { p.will_delay_interval = 5; }, {C::will}, false},
      {P::request_response_information, "request_response_information", bytes({1}),
       [](Properties& p) { p.request_response_information = 1; }, {C::connect}, false},
      {P::response_information, "response_information", str("resp"),
       [](Properties& p) { p.response_information = "resp"; }, {C::connack}, false},
      {P::server_reference, "server_reference", str("srv"),
       [](Properties& p) { p.server_reference = "srv"; }, {C::connack, C::disconnect}, false},
      {P::reason_string, "reason_string", str("why"),
       [](Properties& p) { p.reason_string = "why"; }, kAckContexts, false},
      {P::receive_maximum, "receive_maximum", bytes({0, 10}),
       [](Properties& p) { p.receive_maximum = 10; }, {C::connect, C::connack}, false},
      {P::topic_alias_maximum, "topic_alias_maximum", bytes({0, 0}),
       [](Properties& p) { p.topic_alias_maximum = 0; }, {C::connect, C::connack}, false},
      {P::topic_alias, "topic_alias", bytes({0, 1}), [](Properties& p) { p.topic_alias = 1; },
       {C::publish}, false},
      {P::maximum_qos, "maximum_qos", bytes({0}), [](Properties& p) { p.maximum_qos = 0; },
       {C::connack}, false},
      {P::retain_available, "retain_available", bytes({1}),
       [](Properties& p) { p.retain_available = 1; }, {C::connack}, false},
      {P::user_property, "user_property", str("k") + str("v"),
       [](Properties& p) { p.user_properties.emplace_back("k", "v"); }, kEveryPacketAndWill, true},
      {P::maximum_packet_size, "maximum_packet_size", bytes({0, 0, 1, 0}),
       [](Properties& p) { p.maximum_packet_size = 256; }, {C::connect, C::connack}, false},
      {P::wildcard_subscription_available, "wildcard_subscription_available", bytes({0}),
       [](Properties& p) { p.wildcard_subscription_available = 0; }, {C::connack}, false},
      {P::subscription_identifier_available, "subscription_identifier_available", bytes({1}),
       [](Properties& p) { p.subscription_identifier_available = 1; }, {C::connack}, false},
      {P::shared_subscription_available, "shared_subscription_available", bytes({0}),
       [](Properties& p) { p.shared_subscription_available = 0; }, {C::connack}, false},
  };
}

class EachProperty : public ::testing::TestWithParam<PropertyCase> {};

INSTANTIATE_TEST_SUITE_P(Properties, EachProperty, ::testing::ValuesIn(property_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_P(EachProperty, IsAllowedExactlyWhereTable2_4Says) {
  for (C ctx : kAllContexts) {
    EXPECT_EQ(property_allowed(GetParam().id, ctx), GetParam().allowed.count(ctx) == 1)
        << "2.2.2.2 table 2-4: " << GetParam().name << " in " << context_name(ctx);
  }
}

TEST_P(EachProperty, DecodesWhereAllowedAndIsAProtocolErrorElsewhere) {
  const auto wire = property_list(prop(GetParam().id, GetParam().value));
  Properties expected;
  GetParam().set(expected);
  for (C ctx : kAllContexts) {
    auto r = decode(wire, ctx);
    if (GetParam().allowed.count(ctx)) {
      ASSERT_TRUE(r.ok()) << context_name(ctx) << ": " << r.error().what;
      EXPECT_EQ(*r, expected) << context_name(ctx);
    } else {
      EXPECT_DECODE_ERROR(r, ReasonCode::protocol_error,
                          std::string("2.2.2.2 table 2-4: ") + GetParam().name + " in " + context_name(ctx));
    }
  }
}

TEST_P(EachProperty, EncodesToTheStandardsBytesWhereAllowedAndIsDroppedElsewhere) {
  Properties p;
  GetParam().set(p);
  for (C ctx : kAllContexts) {
    std::string out;
    encode_properties(out, p, ctx);
    const auto expected = GetParam().allowed.count(ctx)
                              ? property_list(prop(GetParam().id, GetParam().value))
                              : bytes({0x00});
    EXPECT_EQ(hex(out), hex(expected)) << context_name(ctx);
    EXPECT_EQ(encoded_properties_size(p, ctx), out.size()) << context_name(ctx);
  }
}

TEST_P(EachProperty, RepeatsOnlyIfTheStandardSaysSo) {
  const C ctx = *GetParam().allowed.begin();
  const auto one = prop(GetParam().id, GetParam().value);
  auto r = decode(property_list(one + one), ctx);
  if (GetParam().repeatable) {
    ASSERT_TRUE(r.ok()) << r.error().what;
    Properties expected;
    GetParam().set(expected);
    GetParam().set(expected);
    EXPECT_EQ(*r, expected);
  } else {
    EXPECT_DECODE_ERROR(r, ReasonCode::protocol_error,
                        std::string("2.2.2.2 ") + GetParam().name + " included more than once");
  }
}

TEST_P(EachProperty, TruncatedValueIsMalformed) {
  const C ctx = *GetParam().allowed.begin();
  const auto full = prop(GetParam().id, GetParam().value);
  // The list's length covers only part of the value: the value runs past the end of the list.
  auto r = decode(property_list(full.substr(0, full.size() - 1)) + full.back(), ctx);
  EXPECT_DECODE_ERROR(r, ReasonCode::malformed_packet, "2.2.2 property cut short");
}

struct BadValue {
  const char* name;
  std::string wire;  // identifier + value
  C ctx;
  ReasonCode expected;
  const char* rule;
};

void PrintTo(const BadValue& b, std::ostream* os) { *os << b.name; }

class BadPropertyValue : public ::testing::TestWithParam<BadValue> {};

INSTANTIATE_TEST_SUITE_P(
    Properties, BadPropertyValue,
    ::testing::Values(
        BadValue{"receive_maximum_0", bytes({0x21, 0, 0}), C::connect, ReasonCode::protocol_error,
                 "3.1.2.11.3 Receive Maximum 0"},
        BadValue{"receive_maximum_0_connack", bytes({0x21, 0, 0}), C::connack,
                 ReasonCode::protocol_error, "3.2.2.3.3 Receive Maximum 0"},
        BadValue{"maximum_packet_size_0", bytes({0x27, 0, 0, 0, 0}), C::connect,
                 ReasonCode::protocol_error, "3.1.2.11.4 Maximum Packet Size 0"},
        BadValue{"subscription_identifier_0", bytes({0x0B, 0x00}), C::subscribe,
                 ReasonCode::protocol_error, "3.8.2.1.2 Subscription Identifier 0"},
        BadValue{"subscription_identifier_0_publish", bytes({0x0B, 0x00}), C::publish,
                 ReasonCode::protocol_error, "3.3.2.3.8 Subscription Identifier 0"},
        BadValue{"payload_format_indicator_2", bytes({0x01, 2}), C::publish,
                 ReasonCode::protocol_error, "3.3.2.3.2 Payload Format Indicator 0 or 1"},
        BadValue{"request_problem_information_2", bytes({0x17, 2}), C::connect,
                 ReasonCode::protocol_error, "3.1.2.11.7 Request Problem Information 0 or 1"},
        BadValue{"request_response_information_2", bytes({0x19, 2}), C::connect,
                 ReasonCode::protocol_error, "3.1.2.11.6 Request Response Information 0 or 1"},
        BadValue{"maximum_qos_2", bytes({0x24, 2}), C::connack, ReasonCode::protocol_error,
                 "3.2.2.3.4 Maximum QoS 0 or 1"},
        BadValue{"retain_available_2", bytes({0x25, 2}), C::connack, ReasonCode::protocol_error,
                 "3.2.2.3.5 Retain Available 0 or 1"},
        BadValue{"wildcard_subscription_available_2", bytes({0x28, 2}), C::connack,
                 ReasonCode::protocol_error, "3.2.2.3.11 0 or 1"},
        BadValue{"subscription_identifier_available_2", bytes({0x29, 2}), C::connack,
                 ReasonCode::protocol_error, "3.2.2.3.12 0 or 1"},
        BadValue{"shared_subscription_available_2", bytes({0x2A, 2}), C::connack,
                 ReasonCode::protocol_error, "3.2.2.3.13 0 or 1"},
        BadValue{"content_type_overlong_utf8", bytes({0x03, 0, 2, 0xC0, 0xAF}), C::publish,
                 ReasonCode::malformed_packet, "[MQTT-1.5.4-1] overlong"},
        BadValue{"reason_string_surrogate", bytes({0x1F, 0, 3, 0xED, 0xA0, 0x80}), C::puback,
                 ReasonCode::malformed_packet, "[MQTT-1.5.4-1] surrogate"},
        BadValue{"user_property_key_null", bytes({0x26, 0, 1, 0, 0, 1, 'v'}), C::connect,
                 ReasonCode::malformed_packet, "[MQTT-1.5.4-2] U+0000"},
        BadValue{"user_property_value_truncated_utf8", bytes({0x26, 0, 1, 'k', 0, 1, 0xE2}),
                 C::connect, ReasonCode::malformed_packet, "[MQTT-1.5.4-1] truncated"},
        BadValue{"response_topic_null", bytes({0x08, 0, 1, 0}), C::will,
                 ReasonCode::malformed_packet, "[MQTT-1.5.4-2] U+0000"},
        BadValue{"unknown_identifier_0x00", bytes({0x00, 0}), C::connect,
                 ReasonCode::malformed_packet, "2.2.2.2 unknown property"},
        BadValue{"unknown_identifier_0x04", bytes({0x04, 0}), C::publish,
                 ReasonCode::malformed_packet, "2.2.2.2 unknown property"},
        BadValue{"unknown_identifier_0x2B", bytes({0x2B, 0}), C::connack,
                 ReasonCode::malformed_packet, "2.2.2.2 unknown property"},
        BadValue{"identifier_varint_too_long", bytes({0x80, 0x80, 0x80, 0x80, 0x01}), C::connect,
                 ReasonCode::malformed_packet, "[MQTT-1.5.5] at most four bytes"},
        BadValue{"subscription_identifier_varint_too_long", bytes({0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}),
                 C::publish, ReasonCode::malformed_packet, "[MQTT-1.5.5] at most four bytes"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_P(BadPropertyValue, IsRejected) {
  EXPECT_DECODE_ERROR(decode(property_list(GetParam().wire), GetParam().ctx), GetParam().expected,
                      GetParam().rule);
}

TEST(Properties, TopicAliasZeroIsLeftToTheReceiver) {
  // 5.0 3.3.2.3.4: a Topic Alias of 0 is answered with DISCONNECT 0x94 (topic alias invalid), so
  // the codec hands it over instead of failing with a protocol error.
  auto r = decode(property_list(bytes({0x23, 0, 0})), C::publish);
  ASSERT_TRUE(r.ok()) << r.error().what;
  EXPECT_EQ(r->topic_alias, 0);
}

TEST(Properties, EmptyListDecodesInEveryContext) {
  for (C ctx : kAllContexts) {
    auto r = decode(bytes({0x00}), ctx);
    ASSERT_TRUE(r.ok()) << context_name(ctx);
    EXPECT_TRUE(r->empty());
  }
}

TEST(Properties, ListLongerThanThePacketIsMalformed) {
  EXPECT_DECODE_ERROR(decode(bytes({0x05, 0x01, 0x01}), C::publish), ReasonCode::malformed_packet,
                      "2.2.2.1 property length beyond the packet");
  EXPECT_DECODE_ERROR(decode(bytes({0x80}), C::publish), ReasonCode::malformed_packet,
                      "2.2.2.1 property length cut short");
  EXPECT_DECODE_ERROR(decode("", C::publish), ReasonCode::malformed_packet,
                      "2.2.2.1 property length missing");
}

TEST(Properties, IdentifierAbove255IsRejected) {
  auto r = decode(property_list(bytes({0x81, 0x02, 0x01})), C::publish);
  EXPECT_FALSE(r.ok()) << "2.2.2.2 no property identifier needs more than one byte";
}

TEST(Properties, DecodingStopsAtTheEndOfTheList) {
  const auto wire = property_list(bytes({0x23, 0x00, 0x05})) + "payload";
  Reader in(wire);
  auto r = decode_properties(in, C::publish);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->topic_alias, 5);
  EXPECT_EQ(in.rest(), "payload");
}

TEST(Properties, NonMinimalLengthIsMalformed) {
  auto r = decode(bytes({0x83, 0x00, 0x23, 0x00, 0x05}), C::publish);
  ASSERT_FALSE(r.ok()) << "[MQTT-1.5.5-1] property length 3 in two bytes must not decode";
  EXPECT_EQ(r.error().code, ReasonCode::malformed_packet) << "[MQTT-1.5.5-1] a non-minimal VBI is malformed";
}

class FullPropertiesRoundTrip : public ::testing::TestWithParam<C> {};

INSTANTIATE_TEST_SUITE_P(Properties, FullPropertiesRoundTrip, ::testing::ValuesIn(kAllContexts),
                         [](const auto& info) { return std::string(context_name(info.param)); });

TEST_P(FullPropertiesRoundTrip, EncodeThenDecodeGivesTheSameProperties) {
  const auto p = test::full_properties(GetParam());
  std::string out;
  encode_properties(out, p, GetParam());
  EXPECT_EQ(encoded_properties_size(p, GetParam()), out.size());
  Reader in(out);
  auto r = decode_properties(in, GetParam());
  ASSERT_TRUE(r.ok()) << r.error().what;
  EXPECT_EQ(*r, p);
  EXPECT_TRUE(in.empty());
}

TEST(Properties, EncodingDropsPropertiesNotAllowedInTheContext) {
  // A message's PUBLISH properties forwarded into a CONNACK keep only the user properties.
  const auto publish_props = test::full_properties(C::publish);
  std::string out;
  encode_properties(out, publish_props, C::connack);
  Reader in(out);
  auto r = decode_properties(in, C::connack);
  ASSERT_TRUE(r.ok()) << r.error().what;
  Properties expected;
  expected.user_properties = publish_props.user_properties;
  EXPECT_EQ(*r, expected);
}

TEST(Properties, UserPropertiesKeepOrderAndDuplicates) {
  const auto wire = property_list(prop(PropertyId::user_property, str("a") + str("1")) +
                                  prop(PropertyId::user_property, str("b") + str("2")) +
                                  prop(PropertyId::user_property, str("a") + str("3")));
  auto r = decode(wire, C::publish);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->user_properties.size(), 3u);
  EXPECT_EQ(r->user_properties[0], (UserProperty{"a", "1"}));
  EXPECT_EQ(r->user_properties[1], (UserProperty{"b", "2"}));
  EXPECT_EQ(r->user_properties[2], (UserProperty{"a", "3"})) << "3.3.2.3.7 order is preserved";
}

TEST(Properties, EmptyIsTrueOnlyForNoProperties) {
  Properties p;
  EXPECT_TRUE(p.empty());
  p.user_properties.emplace_back("", "");
  EXPECT_FALSE(p.empty());
  Properties q;
  q.topic_alias_maximum = 0;
  EXPECT_FALSE(q.empty()) << "a property with value 0 is still present";
}

}  // namespace
}  // namespace hermod::mqtt
