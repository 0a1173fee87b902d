// decode_packet for CONNECT and CONNACK: protocol name and level, connect flags, will, user name
// and password, v5 properties, and the 3.1.1 CONNACK return codes.
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

class ConnackAllVersions : public ::testing::TestWithParam<V> {};
INSTANTIATE_TEST_SUITE_P(Decoder, ConnackAllVersions, ::testing::ValuesIn(kAllVersions),
                         version_param_name);

class ConnackV3 : public ::testing::TestWithParam<V> {};
INSTANTIATE_TEST_SUITE_P(Decoder, ConnackV3, ::testing::Values(V::v3_1, V::v3_1_1),
                         version_param_name);

// ---------------------------------------------------------------------------------------------
// CONNECT (its own protocol version decides the layout, not the session's)

struct ProtocolCase {
  const char* name;
  int level;
  bool valid;
  RC error;
};

void PrintTo(const ProtocolCase& p, std::ostream* os) { *os << p.name << "/" << p.level; }

class ConnectProtocol : public ::testing::TestWithParam<ProtocolCase> {};

INSTANTIATE_TEST_SUITE_P(
    Decoder, ConnectProtocol,
    ::testing::Values(ProtocolCase{"MQIsdp", 3, true, RC::success},
                      ProtocolCase{"MQTT", 4, true, RC::success},
                      ProtocolCase{"MQTT", 5, true, RC::success},
                      ProtocolCase{"MQTT", 3, false, RC::unsupported_protocol_version},
                      ProtocolCase{"MQIsdp", 4, false, RC::unsupported_protocol_version},
                      ProtocolCase{"MQIsdp", 5, false, RC::unsupported_protocol_version},
                      ProtocolCase{"MQTT", 6, false, RC::unsupported_protocol_version},
                      ProtocolCase{"MQTT", 0, false, RC::unsupported_protocol_version},
                      ProtocolCase{"MQTT", 255, false, RC::unsupported_protocol_version},
                      ProtocolCase{"mqtt", 4, false, RC::protocol_error},
                      ProtocolCase{"MQTTT", 4, false, RC::protocol_error},
                      ProtocolCase{"MQIsd", 3, false, RC::protocol_error},
                      ProtocolCase{"", 4, false, RC::protocol_error},
                      ProtocolCase{"HTTP", 4, false, RC::protocol_error}));

TEST_P(ConnectProtocol, NameAndLevelPairDecideTheVersion) {
  const auto& p = GetParam();
  // The rest is a valid body for whichever version the level names, so only the pair decides.
  const auto v = p.level == 5 ? V::v5 : V::v3_1_1;
  std::string b = str(p.name);
  b += static_cast<char>(p.level);
  b += bytes({0x02, 0x00, 0x3C});
  b += no_props(v) + str("id");
  auto r = decode_wire(frame(0x10, b), V::v3_1_1);
  if (p.valid) {
    ASSERT_TRUE(r.ok()) << r.error().what;
    EXPECT_EQ(static_cast<int>(std::get<Connect>(*r).version), p.level);
  } else {
    EXPECT_DECODE_ERROR(r, p.error,
                        p.error == RC::unsupported_protocol_version
                            ? "[MQTT-3.1.2-2] unsupported protocol level"
                            : "[MQTT-3.1.2-1] unknown protocol name");
  }
}

class ConnectVersions : public ::testing::TestWithParam<V> {};
INSTANTIATE_TEST_SUITE_P(Decoder, ConnectVersions, ::testing::ValuesIn(kAllVersions),
                         version_param_name);

TEST_P(ConnectVersions, ReservedFlagIsMalformed) {
  EXPECT_DECODE_ERROR(decode_wire(connect_wire(GetParam(), 0x03), GetParam()), RC::malformed_packet,
                      "[MQTT-3.1.2-3] CONNECT reserved flag");
}

TEST_P(ConnectVersions, WillQosWithoutWillFlagIsMalformed) {
  for (std::uint8_t qos_bits : {0x08, 0x10}) {
    EXPECT_DECODE_ERROR(decode_wire(connect_wire(GetParam(), 0x02 | qos_bits), GetParam()),
                        RC::malformed_packet, "[MQTT-3.1.2-13] will QoS without will flag");
  }
}

TEST_P(ConnectVersions, WillRetainWithoutWillFlagIsMalformed) {
  EXPECT_DECODE_ERROR(decode_wire(connect_wire(GetParam(), 0x22), GetParam()), RC::malformed_packet,
                      "[MQTT-3.1.2-15] will retain without will flag");
}

TEST_P(ConnectVersions, WillQos3IsMalformed) {
  const auto v = GetParam();
  EXPECT_DECODE_ERROR(decode_wire(connect_wire(v, 0x02 | 0x04 | 0x18, will_part(v)), v),
                      RC::malformed_packet, "[MQTT-3.1.2-14] will QoS 3");
  EXPECT_DECODE_ERROR(decode_wire(connect_wire(v, 0x02 | 0x18), v), RC::malformed_packet,
                      "[MQTT-3.1.2-14] will QoS 3, will flag clear");
}

TEST_P(ConnectVersions, WillFlagBringsTopicPayloadQosAndRetain) {
  const auto v = GetParam();
  auto r = decode_wire(connect_wire(v, 0x02 | 0x04 | 0x10 | 0x20, will_part(v)), v);
  ASSERT_TRUE(r.ok()) << r.error().what;
  const auto& c = std::get<Connect>(*r);
  ASSERT_TRUE(c.will.has_value()) << "[MQTT-3.1.2-8]";
  EXPECT_EQ(c.will->topic, "will/t");
  EXPECT_EQ(c.will->payload, "bye");
  EXPECT_EQ(c.will->qos, 2);
  EXPECT_TRUE(c.will->retain);
}

TEST_P(ConnectVersions, WillFlagWithoutWillFieldsIsMalformed) {
  EXPECT_DECODE_ERROR(decode_wire(connect_wire(GetParam(), 0x06), GetParam()), RC::malformed_packet,
                      "[MQTT-3.1.2-9] will topic and message must be present");
}

TEST_P(ConnectVersions, WillTopicWithWildcardIsInvalid) {
  const auto v = GetParam();
  EXPECT_DECODE_ERROR(decode_wire(connect_wire(v, 0x06, will_part(v, str("will/#"))), v),
                      RC::topic_name_invalid, "[MQTT-3.3.2-2] the will topic is a topic name");
  EXPECT_DECODE_ERROR(decode_wire(connect_wire(v, 0x06, will_part(v, str(""))), v),
                      RC::topic_name_invalid, "[MQTT-4.7.3-1] empty will topic");
}

TEST_P(ConnectVersions, UserNameFlagWithoutUserNameIsMalformed) {
  EXPECT_DECODE_ERROR(decode_wire(connect_wire(GetParam(), 0x82), GetParam()), RC::malformed_packet,
                      "[MQTT-3.1.2-19] user name must be present");
}

TEST_P(ConnectVersions, PasswordWithoutUserName) {
  const auto v = GetParam();
  auto r = decode_wire(connect_wire(v, 0x42, str("secret")), v);
  if (is_v5(v)) {
    ASSERT_TRUE(r.ok()) << "5.0 3.1.2.9 allows a password without a user name: " << r.error().what;
    EXPECT_EQ(std::get<Connect>(*r).password, "secret");
    EXPECT_FALSE(std::get<Connect>(*r).username.has_value());
  } else {
    EXPECT_DECODE_ERROR(r, RC::malformed_packet, "[MQTT-3.1.2-22] password without user name");
  }
}

TEST_P(ConnectVersions, PasswordIsBinaryData) {
  const auto v = GetParam();
  auto r = decode_wire(connect_wire(v, 0xC2, str("u") + bytes({0x00, 0x03, 0xFF, 0x00, 0xC0})), v);
  ASSERT_TRUE(r.ok()) << "3.1.3.5 the password is binary data: " << r.error().what;
  EXPECT_EQ(hex(*std::get<Connect>(*r).password), "ff 00 c0");
}

TEST_P(ConnectVersions, InvalidUtf8IsMalformedInEveryStringField) {
  const auto v = GetParam();
  const auto bad = bytes({0x00, 0x03, 0xED, 0xA0, 0x80});  // a surrogate
  EXPECT_DECODE_ERROR(decode_wire(connect_wire(v, 0x02, "", bad), v), RC::malformed_packet,
                      "[MQTT-1.5.3-1] client identifier");
  EXPECT_DECODE_ERROR(decode_wire(connect_wire(v, 0x06, will_part(v, bad)), v), RC::malformed_packet,
                      "[MQTT-1.5.3-1] will topic");
  EXPECT_DECODE_ERROR(decode_wire(connect_wire(v, 0x82, bad), v), RC::malformed_packet,
                      "[MQTT-1.5.3-1] user name");
  EXPECT_DECODE_ERROR(decode_wire(connect_wire(v, 0x82, bytes({0x00, 0x01, 0x00})), v),
                      RC::malformed_packet, "[MQTT-1.5.3-2] U+0000 in user name");
}

TEST_P(ConnectVersions, TrailingBytesAreMalformed) {
  EXPECT_DECODE_ERROR(decode_wire(connect_wire(GetParam(), 0x02, "x"), GetParam()),
                      RC::malformed_packet, "3.1 nothing follows the last payload field");
}

TEST_P(ConnectVersions, EveryTruncationIsMalformed) {
  const auto v = GetParam();
  const auto full = connect_wire(v, 0xC2 | 0x04 | 0x08, will_part(v) + str("user") + str("pw"));
  ASSERT_TRUE(decode_wire(full, v).ok());
  const auto body = full.substr(2);
  for (std::size_t n = 0; n < body.size(); ++n) {
    EXPECT_DECODE_ERROR(decode_wire(frame(0x10, body.substr(0, n)), v), RC::malformed_packet,
                        "CONNECT cut to " + std::to_string(n) + " bytes");
  }
}

TEST(Decoder, ConnectReadsItsOwnVersionWhateverTheSession) {
  auto r = decode_wire(connect_wire(V::v5, 0x02), V::v3_1_1);
  ASSERT_TRUE(r.ok()) << r.error().what;
  EXPECT_EQ(std::get<Connect>(*r).version, V::v5);
  r = decode_wire(connect_wire(V::v3_1_1, 0x02), V::v5);
  ASSERT_TRUE(r.ok()) << r.error().what;
  EXPECT_EQ(std::get<Connect>(*r).version, V::v3_1_1);
}

TEST(Decoder, ConnectV5PropertyNotAllowedIsAProtocolError) {
  std::string b = str("MQTT") + bytes({0x05, 0x02, 0x00, 0x3C}) + bytes({0x03, 0x23, 0x00, 0x01}) + str("id");
  EXPECT_DECODE_ERROR(decode_wire(frame(0x10, b), V::v5), RC::protocol_error,
                      "5.0 3.1.2.11 Topic Alias is not a CONNECT property");
}

TEST(Decoder, ConnectV5WillDelayBelongsToTheWillProperties) {
  // In the CONNECT properties: not allowed.
  std::string b = str("MQTT") + bytes({0x05, 0x06, 0x00, 0x3C}) +
                  bytes({0x05, 0x18, 0x00, 0x00, 0x00, 0x05}) + str("id") + bytes({0x00}) +
                  str("t") + str("p");
  EXPECT_DECODE_ERROR(decode_wire(frame(0x10, b), V::v5), RC::protocol_error,
                      "5.0 3.1.3.2 Will Delay Interval is a will property");
  // In the will properties: allowed.
  b = str("MQTT") + bytes({0x05, 0x06, 0x00, 0x3C, 0x00}) + str("id") +
      bytes({0x05, 0x18, 0x00, 0x00, 0x00, 0x05}) + str("t") + str("p");
  auto r = decode_wire(frame(0x10, b), V::v5);
  ASSERT_TRUE(r.ok()) << r.error().what;
  EXPECT_EQ(std::get<Connect>(*r).will->props.will_delay_interval, 5u);
}

TEST(Decoder, ConnectV5RepeatedPropertyIsAProtocolError) {
  std::string b = str("MQTT") + bytes({0x05, 0x02, 0x00, 0x3C}) +
                  bytes({0x0A, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2}) + str("id");
  EXPECT_DECODE_ERROR(decode_wire(frame(0x10, b), V::v5), RC::protocol_error,
                      "5.0 3.1.2.11.2 Session Expiry Interval more than once");
}

TEST(Decoder, ConnectV5ReceiveMaximumZeroIsAProtocolError) {
  std::string b = str("MQTT") + bytes({0x05, 0x02, 0x00, 0x3C}) + bytes({0x03, 0x21, 0, 0}) + str("id");
  EXPECT_DECODE_ERROR(decode_wire(frame(0x10, b), V::v5), RC::protocol_error,
                      "5.0 3.1.2.11.3 Receive Maximum 0");
}

// ---------------------------------------------------------------------------------------------
// CONNACK

TEST_P(ConnackAllVersions, ConnackReservedFlagBitsAreMalformed) {
  const auto v = GetParam();
  for (int flags : {0x02, 0x80, 0xFE}) {
    EXPECT_DECODE_ERROR(decode_wire(frame(0x20, bytes({flags, 0x00}) + no_props(v)), v),
                        RC::malformed_packet, "3.2.2.1 bits 7-1 of the acknowledge flags are reserved");
  }
}

TEST_P(ConnackV3, ConnackReturnCodesMapToReasonCodes) {
  const std::pair<int, RC> table[] = {{0, RC::success},
                                      {1, RC::unsupported_protocol_version},
                                      {2, RC::client_identifier_not_valid},
                                      {3, RC::server_unavailable},
                                      {4, RC::bad_user_name_or_password},
                                      {5, RC::not_authorized}};
  for (const auto& [code, reason] : table) {
    auto r = decode_wire(frame(0x20, bytes({0x00, code})), GetParam());
    ASSERT_TRUE(r.ok()) << code;
    EXPECT_EQ(std::get<Connack>(*r).reason, reason) << "3.2.2.3 table 3.1, code " << code;
  }
}

TEST_P(ConnackV3, ConnackReservedReturnCodeIsAProtocolError) {
  for (int code : {6, 0x80, 0x87, 0xFF}) {
    EXPECT_DECODE_ERROR(decode_wire(frame(0x20, bytes({0x00, code})), GetParam()),
                        RC::protocol_error, "3.2.2.3 return codes 6-255 are reserved");
  }
}

TEST(Decoder, ConnackV5CarriesReasonCodeAndProperties) {
  auto r = decode_wire(frame(0x20, bytes({0x01, 0x87, 0x03, 0x21, 0x00, 0x0A})), V::v5);
  ASSERT_TRUE(r.ok()) << r.error().what;
  const auto& c = std::get<Connack>(*r);
  EXPECT_TRUE(c.session_present);
  EXPECT_EQ(c.reason, RC::not_authorized);
  EXPECT_EQ(c.props.receive_maximum, 10);
}

TEST_P(ConnackAllVersions, ConnackTrailingBytesAreMalformed) {
  const auto v = GetParam();
  EXPECT_DECODE_ERROR(decode_wire(frame(0x20, bytes({0x00, 0x00}) + no_props(v) + "x"), v),
                      RC::malformed_packet, "3.2 trailing bytes");
}

}  // namespace
}  // namespace hermod::mqtt
