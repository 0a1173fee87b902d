// decode_packet for SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK: topic filter lists, subscription
// options, return and reason codes.
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

class SubscribeAllVersions : public ::testing::TestWithParam<V> {};
INSTANTIATE_TEST_SUITE_P(Decoder, SubscribeAllVersions, ::testing::ValuesIn(kAllVersions),
                         version_param_name);

class SubscribeV3 : public ::testing::TestWithParam<V> {};
INSTANTIATE_TEST_SUITE_P(Decoder, SubscribeV3, ::testing::Values(V::v3_1, V::v3_1_1),
                         version_param_name);

// ---------------------------------------------------------------------------------------------
// SUBSCRIBE

std::string subscribe_wire(V v, const std::string& payload, const std::string& props = "") {
  return frame(0x82, bytes({0x00, 0x01}) + (is_v5(v) ? (props.empty() ? bytes({0}) : props) : "") + payload);
}

TEST_P(SubscribeAllVersions, SubscribeWithoutTopicFilterIsAProtocolError) {
  EXPECT_DECODE_ERROR(decode_wire(subscribe_wire(GetParam(), ""), GetParam()), RC::protocol_error,
                      "[MQTT-3.8.3-3] at least one topic filter");
}

TEST_P(SubscribeAllVersions, SubscribeWithPacketId0IsAProtocolError) {
  const auto v = GetParam();
  EXPECT_DECODE_ERROR(decode_wire(frame(0x82, bytes({0, 0}) + no_props(v) + str("a") + bytes({0})), v),
                      RC::protocol_error, "[MQTT-2.3.1-1] packet identifier 0");
}

TEST_P(SubscribeV3, SubscribeQos3IsMalformed) {
  EXPECT_DECODE_ERROR(decode_wire(subscribe_wire(GetParam(), str("a") + bytes({0x03})), GetParam()),
                      RC::malformed_packet, "[MQTT-3.8.3-4] requested QoS 3");
}

TEST(Decoder, SubscribeV5MaximumQos3IsAProtocolError) {
  EXPECT_DECODE_ERROR(decode_wire(subscribe_wire(V::v5, str("a") + bytes({0x03})), V::v5),
                      RC::protocol_error, "5.0 3.8.3.1 Maximum QoS 3 is a Protocol Error");
}

TEST_P(SubscribeV3, SubscribeReservedOptionBitsAreMalformed) {
  for (int opts : {0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xFC}) {
    EXPECT_DECODE_ERROR(decode_wire(subscribe_wire(GetParam(), str("a") + bytes({opts})), GetParam()),
                        RC::malformed_packet, "[MQTT-3.8.3-4] bits 7-2 are reserved");
  }
}

TEST(Decoder, SubscribeV5ReservedOptionBitsAreMalformed) {
  for (int opts : {0x40, 0x80, 0xC0}) {
    EXPECT_DECODE_ERROR(decode_wire(subscribe_wire(V::v5, str("a") + bytes({opts})), V::v5),
                        RC::malformed_packet, "5.0 [MQTT-3.8.3-5] bits 7-6 are reserved");
  }
}

TEST(Decoder, SubscribeV5RetainHandling3IsAProtocolError) {
  EXPECT_DECODE_ERROR(decode_wire(subscribe_wire(V::v5, str("a") + bytes({0x30})), V::v5),
                      RC::protocol_error, "5.0 3.8.3.1 Retain Handling 3");
}

TEST(Decoder, SubscribeV5OptionsDecode) {
  auto r = decode_wire(subscribe_wire(V::v5, str("a/+") + bytes({0x2E}) + str("$share/g/b") + bytes({0x11})),
                       V::v5);
  ASSERT_TRUE(r.ok()) << r.error().what;
  const auto& s = std::get<Subscribe>(*r);
  ASSERT_EQ(s.subscriptions.size(), 2u);
  EXPECT_EQ(s.subscriptions[0].filter, "a/+");
  EXPECT_EQ(s.subscriptions[0].options,
            (SubscribeOptions{.qos = 2, .no_local = true, .retain_as_published = true, .retain_handling = 2}));
  EXPECT_EQ(s.subscriptions[1].filter, "$share/g/b");
  EXPECT_EQ(s.subscriptions[1].options, (SubscribeOptions{.qos = 1, .retain_handling = 1}));
}

TEST(Decoder, SubscribeV5MoreThanOneSubscriptionIdentifierIsAProtocolError) {
  EXPECT_DECODE_ERROR(
      decode_wire(subscribe_wire(V::v5, str("a") + bytes({0}), bytes({0x04, 0x0B, 0x01, 0x0B, 0x02})),
                  V::v5),
      RC::protocol_error, "5.0 3.8.2.1.2 Subscription Identifier more than once");
}

TEST(Decoder, SubscribeV5PropertyNotAllowedIsAProtocolError) {
  EXPECT_DECODE_ERROR(
      decode_wire(subscribe_wire(V::v5, str("a") + bytes({0}), bytes({0x03, 0x23, 0x00, 0x01})), V::v5),
      RC::protocol_error, "5.0 3.8.2.1 Topic Alias is not a SUBSCRIBE property");
}

TEST_P(SubscribeAllVersions, SubscribeFilterWithoutOptionsIsMalformed) {
  EXPECT_DECODE_ERROR(decode_wire(subscribe_wire(GetParam(), str("a") + bytes({0}) + str("b")), GetParam()),
                      RC::malformed_packet, "3.8.3 every filter is followed by its options byte");
}

TEST_P(SubscribeAllVersions, SubscribeFilterWithInvalidUtf8IsMalformed) {
  EXPECT_DECODE_ERROR(
      decode_wire(subscribe_wire(GetParam(), bytes({0, 2, 0xC1, 0x81, 0x00})), GetParam()),
      RC::malformed_packet, "[MQTT-1.5.3-1] overlong in a topic filter");
}

TEST_P(SubscribeAllVersions, SubscribeFilterSyntaxIsLeftToTheServer) {
  // A syntactically invalid filter is answered with a SUBACK failure, not by closing the connection.
  auto r = decode_wire(subscribe_wire(GetParam(), str("a/#/b") + bytes({0x01})), GetParam());
  ASSERT_TRUE(r.ok()) << r.error().what;
  EXPECT_EQ(std::get<Subscribe>(*r).subscriptions[0].filter, "a/#/b");
}

// ---------------------------------------------------------------------------------------------
// SUBACK

TEST_P(SubscribeV3, SubackAcceptsOnlyTheFourReturnCodes) {
  std::string wrongly_accepted;
  for (int code = 0; code < 256; ++code) {
    auto r = decode_wire(frame(0x90, bytes({0, 1, code})), GetParam());
    if (code <= 2 || code == 0x80) {
      ASSERT_TRUE(r.ok()) << code;
      EXPECT_EQ(std::get<Suback>(*r).reasons, (std::vector<RC>{static_cast<RC>(code)}));
    } else if (r.ok() || r.error().code != RC::protocol_error) {
      wrongly_accepted += " " + std::to_string(code);
    }
  }
  EXPECT_EQ(wrongly_accepted, "")
      << "[MQTT-3.9.3-2] SUBACK return codes other than 0x00, 0x01, 0x02 and 0x80 are reserved";
}

TEST(Decoder, SubackV5CarriesReasonCodesAfterProperties) {
  auto r = decode_wire(frame(0x90, bytes({0, 1, 0x03, 0x1F, 0, 0, 0x00, 0x01, 0x87, 0xA2})), V::v5);
  ASSERT_TRUE(r.ok()) << r.error().what;
  const auto& s = std::get<Suback>(*r);
  EXPECT_EQ(s.reasons, (std::vector<RC>{RC::success, RC::granted_qos_1, RC::not_authorized,
                                         RC::wildcard_subscriptions_not_supported}));
  EXPECT_EQ(s.props.reason_string, "");
}

TEST_P(SubscribeAllVersions, SubackWithPacketId0IsAProtocolError) {
  EXPECT_DECODE_ERROR(decode_wire(frame(0x90, bytes({0, 0}) + no_props(GetParam()) + bytes({0})), GetParam()),
                      RC::protocol_error, "[MQTT-2.3.1-1]");
}

// ---------------------------------------------------------------------------------------------
// UNSUBSCRIBE, UNSUBACK

TEST_P(SubscribeAllVersions, UnsubscribeWithoutTopicFilterIsAProtocolError) {
  EXPECT_DECODE_ERROR(decode_wire(frame(0xA2, bytes({0, 1}) + no_props(GetParam())), GetParam()),
                      RC::protocol_error, "[MQTT-3.10.3-2] at least one topic filter");
}

TEST_P(SubscribeAllVersions, UnsubscribeWithPacketId0IsAProtocolError) {
  EXPECT_DECODE_ERROR(
      decode_wire(frame(0xA2, bytes({0, 0}) + no_props(GetParam()) + str("a")), GetParam()),
      RC::protocol_error, "[MQTT-2.3.1-1]");
}

TEST_P(SubscribeAllVersions, UnsubscribeFilterWithInvalidUtf8IsMalformed) {
  EXPECT_DECODE_ERROR(
      decode_wire(frame(0xA2, bytes({0, 1}) + no_props(GetParam()) + bytes({0, 1, 0x00})), GetParam()),
      RC::malformed_packet, "[MQTT-1.5.3-2] U+0000 in a topic filter");
  EXPECT_DECODE_ERROR(
      decode_wire(frame(0xA2, bytes({0, 1}) + no_props(GetParam()) + str("a") + bytes({0, 5, 'b'})),
                  GetParam()),
      RC::malformed_packet, "3.10.3 second filter cut short");
}

TEST_P(SubscribeAllVersions, UnsubscribeReadsEveryFilter) {
  auto r = decode_wire(frame(0xA2, bytes({0, 7}) + no_props(GetParam()) + str("a/#") + str("b")), GetParam());
  ASSERT_TRUE(r.ok()) << r.error().what;
  EXPECT_EQ(std::get<Unsubscribe>(*r).filters, (std::vector<std::string>{"a/#", "b"}));
}

TEST_P(SubscribeV3, UnsubackIsOnlyThePacketId) {
  EXPECT_DECODE_ERROR(decode_wire(frame(0xB0, bytes({0, 1, 0})), GetParam()), RC::malformed_packet,
                      "3.11.2 UNSUBACK remaining length is 2");
}

TEST(Decoder, UnsubackV5CarriesReasonCodes) {
  auto r = decode_wire(frame(0xB0, bytes({0, 1, 0x00, 0x00, 0x11})), V::v5);
  ASSERT_TRUE(r.ok()) << r.error().what;
  EXPECT_EQ(std::get<Unsuback>(*r).reasons, (std::vector<RC>{RC::success, RC::no_subscription_existed}));
  EXPECT_DECODE_ERROR(decode_wire(frame(0xB0, bytes({0, 1})), V::v5), RC::malformed_packet,
                      "5.0 3.11.2.1 the property length is not optional in UNSUBACK");
}

}  // namespace
}  // namespace hermod::mqtt
