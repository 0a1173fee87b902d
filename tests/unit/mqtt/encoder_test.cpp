// encode(): round trips through the decoder for every packet type and version, byte-exact
// encodings, the 3.1.1 mappings of MQTT 5 reason codes, and header-only PUBLISH encoding.
#include "mqtt/encoder.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "codec_test_support.hpp"

namespace hermod::mqtt {
namespace {

using test::bytes;
using test::decode_wire;
using test::full_properties;
using test::hex;
using V = ProtocolVersion;
using RC = ReasonCode;
using C = PropertyContext;

// ---------------------------------------------------------------------------------------------
// Round trips

struct RoundTripCase {
  V version;
  std::string name;
  Packet packet;
};

void PrintTo(const RoundTripCase& c, std::ostream* os) { *os << c.name; }

Connect full_connect(V v) {
  Connect c;
  c.version = v;
  c.clean_start = false;
  c.keep_alive = 65535;
  c.client_id = "";  // zero bytes is allowed [MQTT-3.1.3-6]
  Will w;
  w.topic = "clients/c1/status";
  w.payload = std::string("off\0line\xFF", 9);
  w.qos = 1;
  w.retain = true;
  if (is_v5(v)) w.props = full_properties(C::will);
  c.will = w;
  c.username = "user";
  c.password = std::string("p\0w", 3);
  if (is_v5(v)) c.props = full_properties(C::connect);
  return c;
}

template <typename Ack>
void add_publish_response(std::vector<RoundTripCase>& out, V v, const std::string& prefix) {
  out.push_back({v, prefix + "_id_ffff", Ack{.packet_id = 0xFFFF}});
  if (is_v5(v)) {
    // Reason codes each type allows (tables 3-4 to 3-7): PUBACK/PUBREC a failure, PUBREL/PUBCOMP 0x92.
    const bool release = Ack::kType == PacketType::pubrel || Ack::kType == PacketType::pubcomp;
    const auto failure = release ? RC::packet_identifier_not_found : RC::implementation_specific_error;
    out.push_back({v, prefix + "_reason",
                   Ack{.packet_id = 3, .reason = release ? RC::packet_identifier_not_found : RC::no_matching_subscribers}});
    out.push_back({v, prefix + "_success_with_properties",
                   Ack{.packet_id = 4, .props = full_properties(context_of(Ack::kType))}});
    out.push_back({v, prefix + "_reason_and_properties",
                   Ack{.packet_id = 5, .reason = failure, .props = full_properties(context_of(Ack::kType))}});
  }
}

std::vector<RoundTripCase> round_trip_cases() {
  std::vector<RoundTripCase> out;
  for (V v : {V::v3_1, V::v3_1_1, V::v5}) {
    const bool v5 = is_v5(v);
    auto props = [v5](C ctx) { return v5 ? full_properties(ctx) : Properties{}; };

    out.push_back({v, "connect_minimal", Connect{.version = v, .keep_alive = 60, .client_id = "c1"}});
    out.push_back({v, "connect_full", full_connect(v)});
    Connect will_qos2{.version = v, .client_id = "w"};
    will_qos2.will = Will{.topic = "w/t", .payload = "", .qos = 2, .retain = false};
    out.push_back({v, "connect_will_qos2", will_qos2});
    if (v5) {
      out.push_back({v, "connect_password_without_username",
                     Connect{.version = v, .client_id = "c", .password = "secret"}});
    }

    out.push_back({v, "connack_accepted", Connack{.session_present = true}});
    out.push_back({v, "connack_refused", Connack{.reason = RC::not_authorized}});
    if (v5) {
      out.push_back({v, "connack_properties", Connack{.session_present = true, .props = props(C::connack)}});
      out.push_back({v, "connack_v5_reason", Connack{.reason = RC::bad_authentication_method}});
    }

    out.push_back({v, "publish_qos0", Publish{.topic = "a/b", .payload = "hello"}});
    out.push_back({v, "publish_qos1_retain",
                   Publish{.topic = "a", .payload = "x", .qos = 1, .retain = true, .packet_id = 1}});
    out.push_back({v, "publish_qos2_dup",
                   Publish{.topic = "$SYS/x", .payload = std::string("\0\xFF", 2), .qos = 2,
                           .dup = true, .packet_id = 0xFFFF}});
    out.push_back({v, "publish_empty_payload", Publish{.topic = "t"}});
    out.push_back({v, "publish_70000_byte_payload",
                   Publish{.topic = "big", .payload = std::string(70000, 'p'), .qos = 1, .packet_id = 9}});
    out.push_back({v, "publish_65535_byte_topic", Publish{.topic = std::string(65535, 't')}});
    if (v5) {
      out.push_back({v, "publish_properties",
                     Publish{.topic = "a/b", .payload = "p", .qos = 1, .packet_id = 2,
                             .props = props(C::publish)}});
      Publish alias_only{.topic = "", .payload = "p"};
      alias_only.props.topic_alias = 3;
      out.push_back({v, "publish_topic_alias_only", alias_only});
    }

    add_publish_response<Puback>(out, v, "puback");
    add_publish_response<Pubrec>(out, v, "pubrec");
    add_publish_response<Pubrel>(out, v, "pubrel");
    add_publish_response<Pubcomp>(out, v, "pubcomp");

    Subscribe sub{.packet_id = 10};
    sub.subscriptions.push_back({"a/+", {.qos = 1}});
    sub.subscriptions.push_back({"$share/g/#", {.qos = 2}});
    sub.subscriptions.push_back({"x", {.qos = 0}});
    if (v5) {
      sub.subscriptions.push_back(
          {"y/#", {.qos = 1, .no_local = true, .retain_as_published = true, .retain_handling = 2}});
      sub.subscriptions.push_back({"z", {.qos = 0, .retain_handling = 1}});
      sub.props = props(C::subscribe);
    }
    out.push_back({v, "subscribe", sub});

    Suback suback{.packet_id = 10, .reasons = {RC::granted_qos_1, RC::granted_qos_2, RC::success,
                                               RC::unspecified_error}};
    if (v5) {
      suback.reasons.push_back(RC::not_authorized);
      suback.reasons.push_back(RC::shared_subscriptions_not_supported);
      suback.props = props(C::suback);
    }
    out.push_back({v, "suback", suback});

    Unsubscribe unsub{.packet_id = 11, .filters = {"a/+", "$share/g/#", "b"}};
    if (v5) unsub.props = props(C::unsubscribe);
    out.push_back({v, "unsubscribe", unsub});

    Unsuback unsuback{.packet_id = 11};
    if (v5) {
      unsuback.reasons = {RC::success, RC::no_subscription_existed, RC::not_authorized};
      unsuback.props = props(C::unsuback);
    }
    out.push_back({v, "unsuback", unsuback});

    out.push_back({v, "pingreq", Pingreq{}});
    out.push_back({v, "pingresp", Pingresp{}});

    out.push_back({v, "disconnect", Disconnect{}});
    if (v5) {
      out.push_back({v, "disconnect_reason", Disconnect{.reason = RC::disconnect_with_will_message}});
      out.push_back({v, "disconnect_properties",
                     Disconnect{.reason = RC::server_moved, .props = props(C::disconnect)}});
      out.push_back({v, "disconnect_success_with_properties", Disconnect{.props = props(C::disconnect)}});
      out.push_back({v, "auth", Auth{}});
      out.push_back({v, "auth_continue",
                     Auth{.reason = RC::continue_authentication, .props = props(C::auth)}});
      out.push_back({v, "auth_reauthenticate", Auth{.reason = RC::re_authenticate}});
    }
  }
  return out;
}

class RoundTrip : public ::testing::TestWithParam<RoundTripCase> {};

INSTANTIATE_TEST_SUITE_P(Encoder, RoundTrip, ::testing::ValuesIn(round_trip_cases()),
                         [](const auto& info) {
                           return test::version_name(info.param.version) + "_" + info.param.name;
                         });

TEST_P(RoundTrip, DecodeOfEncodeGivesThePacketBack) {
  const auto& c = GetParam();
  const auto wire = encode(c.packet, c.version);
  auto r = decode_wire(wire, c.version);
  ASSERT_TRUE(r.ok()) << r.error().what << "\nwire: " << hex(wire.substr(0, 200));
  EXPECT_EQ(*r, c.packet) << "wire: " << hex(wire.substr(0, 200));
}

TEST(Encoder, EncodingAppendsToTheBuffer) {
  for (const auto& c : round_trip_cases()) {
    std::string out = "prefix";
    encode(c.packet, c.version, out);
    EXPECT_EQ(out, "prefix" + encode(c.packet, c.version)) << c.name;
  }
}

TEST(Encoder, RoundTripCoversEveryPacketTypeInEveryVersion) {
  for (V v : {V::v3_1, V::v3_1_1, V::v5}) {
    std::set<PacketType> seen;
    for (const auto& c : round_trip_cases()) {
      if (c.version == v) seen.insert(type_of(c.packet));
    }
    EXPECT_EQ(seen.size(), is_v5(v) ? 15u : 14u) << test::version_name(v);
  }
}

// ---------------------------------------------------------------------------------------------
// Byte-exact encodings

struct ExactCase {
  const char* name;
  V version;
  Packet packet;
  std::string wire;
  const char* rule;
};

void PrintTo(const ExactCase& c, std::ostream* os) { *os << c.name; }

class ExactBytes : public ::testing::TestWithParam<ExactCase> {};

INSTANTIATE_TEST_SUITE_P(
    Encoder, ExactBytes,
    ::testing::Values(
        ExactCase{"connect_3_1_1", V::v3_1_1, Connect{.keep_alive = 60, .client_id = "id"},
                  bytes({0x10, 0x0E, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 2, 'i', 'd'}),
                  "3.1.2.1 protocol name MQTT, level 4"},
        ExactCase{"connect_3_1", V::v3_1,
                  Connect{.version = V::v3_1, .keep_alive = 60, .client_id = "id"},
                  bytes({0x10, 0x10, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 0x02, 0, 60, 0, 2, 'i', 'd'}),
                  "MQTT 3.1 protocol name MQIsdp, level 3"},
        ExactCase{"connect_5", V::v5, Connect{.version = V::v5, .keep_alive = 60, .client_id = "id"},
                  bytes({0x10, 0x0F, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 60, 0, 0, 2, 'i', 'd'}),
                  "5.0 3.1.2 level 5 and an empty property list"},
        ExactCase{"connect_flags", V::v3_1_1,
                  Connect{.clean_start = false, .client_id = "c",
                          .will = Will{.topic = "t", .payload = "p", .qos = 2, .retain = true},
                          .username = "u", .password = "w"},
                  bytes({0x10, 0x19, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xF4, 0, 0, 0, 1, 'c', 0, 1, 't',
                         0, 1, 'p', 0, 1, 'u', 0, 1, 'w'}),
                  "3.1.2.3 connect flags"},
        ExactCase{"connack_v3", V::v3_1_1, Connack{.session_present = true},
                  bytes({0x20, 0x02, 0x01, 0x00}), "3.2"},
        ExactCase{"connack_v5", V::v5, Connack{.reason = RC::banned},
                  bytes({0x20, 0x03, 0x00, 0x8A, 0x00}), "5.0 3.2.2"},
        ExactCase{"publish_qos1", V::v3_1_1,
                  Publish{.topic = "a/b", .payload = "hi", .qos = 1, .retain = true, .packet_id = 10},
                  bytes({0x33, 0x09, 0, 3, 'a', '/', 'b', 0, 10, 'h', 'i'}), "3.3.1"},
        ExactCase{"publish_dup_qos2_v5", V::v5,
                  Publish{.topic = "t", .payload = "", .qos = 2, .dup = true, .packet_id = 1},
                  bytes({0x3C, 0x06, 0, 1, 't', 0, 1, 0x00}), "5.0 3.3.1"},
        ExactCase{"puback_v3", V::v3_1_1, Puback{.packet_id = 7}, bytes({0x40, 0x02, 0, 7}), "3.4"},
        ExactCase{"puback_v5_success_short_form", V::v5, Puback{.packet_id = 7},
                  bytes({0x40, 0x02, 0, 7}), "5.0 3.4.2.1 reason code and properties omitted"},
        ExactCase{"puback_v5_reason_without_properties", V::v5,
                  Puback{.packet_id = 7, .reason = RC::no_matching_subscribers},
                  bytes({0x40, 0x03, 0, 7, 0x10}), "5.0 3.4.2.1 property length omitted"},
        ExactCase{"pubrec_v3", V::v3_1_1, Pubrec{.packet_id = 7}, bytes({0x50, 0x02, 0, 7}), "3.5"},
        ExactCase{"pubrel_v3", V::v3_1_1, Pubrel{.packet_id = 7}, bytes({0x62, 0x02, 0, 7}),
                  "[MQTT-3.6.1-1] PUBREL flags 0010"},
        ExactCase{"pubcomp_v3", V::v3_1_1, Pubcomp{.packet_id = 7}, bytes({0x70, 0x02, 0, 7}), "3.7"},
        ExactCase{"subscribe_v3", V::v3_1_1,
                  Subscribe{.packet_id = 1, .subscriptions = {{"a", {.qos = 2}}}},
                  bytes({0x82, 0x06, 0, 1, 0, 1, 'a', 0x02}), "[MQTT-3.8.1-1] SUBSCRIBE flags 0010"},
        ExactCase{"subscribe_v5_options", V::v5,
                  Subscribe{.packet_id = 1,
                            .subscriptions = {{"a", {.qos = 1, .no_local = true,
                                                     .retain_as_published = true,
                                                     .retain_handling = 2}}}},
                  bytes({0x82, 0x07, 0, 1, 0x00, 0, 1, 'a', 0x2D}), "5.0 3.8.3.1 option bits"},
        ExactCase{"suback_v3", V::v3_1_1,
                  Suback{.packet_id = 1, .reasons = {RC::granted_qos_2, RC::unspecified_error}},
                  bytes({0x90, 0x04, 0, 1, 0x02, 0x80}), "3.9.3"},
        ExactCase{"unsubscribe_v3", V::v3_1_1, Unsubscribe{.packet_id = 1, .filters = {"a"}},
                  bytes({0xA2, 0x05, 0, 1, 0, 1, 'a'}), "[MQTT-3.10.1-1] UNSUBSCRIBE flags 0010"},
        ExactCase{"unsuback_v3", V::v3_1_1, Unsuback{.packet_id = 1}, bytes({0xB0, 0x02, 0, 1}),
                  "3.11"},
        ExactCase{"unsuback_v5", V::v5, Unsuback{.packet_id = 1, .reasons = {RC::success}},
                  bytes({0xB0, 0x04, 0, 1, 0x00, 0x00}), "5.0 3.11"},
        ExactCase{"pingreq", V::v3_1_1, Pingreq{}, bytes({0xC0, 0x00}), "3.12"},
        ExactCase{"pingresp", V::v5, Pingresp{}, bytes({0xD0, 0x00}), "3.13"},
        ExactCase{"disconnect_v3", V::v3_1_1, Disconnect{}, bytes({0xE0, 0x00}), "3.14"},
        ExactCase{"disconnect_v5_success", V::v5, Disconnect{}, bytes({0xE0, 0x00}),
                  "5.0 3.14.2.1 reason code omitted"},
        ExactCase{"disconnect_v5_reason", V::v5, Disconnect{.reason = RC::session_taken_over},
                  bytes({0xE0, 0x01, 0x8E}), "5.0 3.14.2.1"},
        ExactCase{"auth_v5_success", V::v5, Auth{}, bytes({0xF0, 0x00}), "5.0 3.15.2.1"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_P(ExactBytes, MatchTheStandard) {
  EXPECT_EQ(hex(encode(GetParam().packet, GetParam().version)), hex(GetParam().wire)) << GetParam().rule;
}

// ---------------------------------------------------------------------------------------------
// MQTT 3.1.1 peers

TEST(Encoder, V3ConnackMapsReasonCodesToReturnCodes) {
  const std::pair<RC, int> table[] = {
      {RC::success, 0},
      {RC::unsupported_protocol_version, 1},
      {RC::client_identifier_not_valid, 2},
      {RC::server_unavailable, 3},
      {RC::server_busy, 3},
      {RC::unspecified_error, 3},
      {RC::malformed_packet, 3},
      {RC::protocol_error, 3},
      {RC::implementation_specific_error, 3},
      {RC::quota_exceeded, 3},
      {RC::bad_user_name_or_password, 4},
      {RC::not_authorized, 5},
      {RC::banned, 5},
      {RC::bad_authentication_method, 5},
  };
  for (V v : {V::v3_1, V::v3_1_1}) {
    for (const auto& [reason, code] : table) {
      const auto wire = encode(Connack{.reason = reason}, v);
      ASSERT_EQ(wire.size(), 4u);
      EXPECT_EQ(static_cast<std::uint8_t>(wire[3]), code)
          << "3.2.2.3 table 3.1 for " << to_string(reason);
    }
  }
}

TEST(Encoder, V5ConnackWritesTheReasonCodeItself) {
  for (RC reason : {RC::success, RC::unsupported_protocol_version, RC::server_busy, RC::banned,
                    RC::use_another_server, RC::connection_rate_exceeded}) {
    const auto wire = encode(Connack{.reason = reason}, V::v5);
    EXPECT_EQ(static_cast<std::uint8_t>(wire[3]), static_cast<std::uint8_t>(reason));
  }
}

TEST(Encoder, V3SubackWritesEveryFailureAs0x80) {
  const Suback s{.packet_id = 1,
                 .reasons = {RC::success, RC::granted_qos_1, RC::granted_qos_2, RC::unspecified_error,
                             RC::implementation_specific_error, RC::not_authorized,
                             RC::topic_filter_invalid, RC::packet_identifier_in_use,
                             RC::quota_exceeded, RC::shared_subscriptions_not_supported,
                             RC::subscription_identifiers_not_supported,
                             RC::wildcard_subscriptions_not_supported}};
  for (V v : {V::v3_1, V::v3_1_1}) {
    EXPECT_EQ(hex(encode(s, v)), "90 0e 00 01 00 01 02 80 80 80 80 80 80 80 80 80")
        << "[MQTT-3.9.3-2] 3.1.1 knows only 0x00, 0x01, 0x02 and 0x80";
  }
  EXPECT_EQ(hex(encode(s, V::v5)), "90 0f 00 01 00 00 01 02 80 83 87 8f 91 97 9e a1 a2")
      << "5.0 3.9.3 reason codes are sent as they are";
}

TEST(Encoder, V3DropsMqtt5Fields) {
  Publish with_props{.topic = "t", .payload = "p", .qos = 1, .packet_id = 1,
                     .props = full_properties(C::publish)};
  Publish without = with_props;
  without.props = {};
  EXPECT_EQ(hex(encode(with_props, V::v3_1_1)), hex(encode(without, V::v3_1_1)));

  EXPECT_EQ(hex(encode(Puback{.packet_id = 1, .reason = RC::not_authorized,
                              .props = full_properties(C::puback)},
                       V::v3_1_1)),
            "40 02 00 01");
  EXPECT_EQ(hex(encode(Disconnect{.reason = RC::server_shutting_down}, V::v3_1_1)), "e0 00");
  EXPECT_EQ(hex(encode(Unsuback{.packet_id = 1, .reasons = {RC::success}}, V::v3_1_1)), "b0 02 00 01");
  EXPECT_EQ(hex(encode(Subscribe{.packet_id = 1,
                                 .subscriptions = {{"a", {.qos = 1, .no_local = true,
                                                          .retain_as_published = true,
                                                          .retain_handling = 2}}}},
                       V::v3_1_1)),
            "82 06 00 01 00 01 61 01")
      << "[MQTT-3.8.3-4] 3.1.1 options carry only the QoS";
}

TEST(Encoder, ConnectLayoutFollowsItsOwnVersion) {
  const Connect c{.version = V::v5, .client_id = "id"};
  EXPECT_EQ(encode(c, V::v3_1_1), encode(c, V::v5)) << "a CONNECT names its own version";
}

// ---------------------------------------------------------------------------------------------
// Header-only PUBLISH

struct HeaderCase {
  V version;
  std::uint8_t qos;
  bool with_props;
};

void PrintTo(const HeaderCase& c, std::ostream* os) {
  *os << test::version_name(c.version) << " QoS " << int{c.qos} << (c.with_props ? " with properties" : "");
}

class PublishHeaderEncoding : public ::testing::TestWithParam<HeaderCase> {};

std::vector<HeaderCase> header_cases() {
  std::vector<HeaderCase> out;
  for (V v : {V::v3_1, V::v3_1_1, V::v5}) {
    for (std::uint8_t qos : {0, 1, 2}) {
      out.push_back({v, qos, false});
      out.push_back({v, qos, true});
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Encoder, PublishHeaderEncoding, ::testing::ValuesIn(header_cases()),
                         [](const auto& info) {
                           return test::version_name(info.param.version) + "_qos" +
                                  std::to_string(info.param.qos) +
                                  (info.param.with_props ? "_props" : "_no_props");
                         });

Publish sample_publish(const HeaderCase& c, std::size_t payload_size) {
  Publish p{.topic = "sensors/1/temp", .payload = std::string(payload_size, 'x'), .qos = c.qos,
            .retain = true, .dup = c.qos > 0, .packet_id = static_cast<PacketId>(c.qos ? 0x1234 : 0)};
  if (c.with_props) p.props = full_properties(C::publish);
  return p;
}

PublishHeader header_of(const Publish& p) {
  return PublishHeader{p.topic, p.payload.size(), p.qos, p.retain, p.dup, p.packet_id, &p.props};
}

TEST_P(PublishHeaderEncoding, HeaderPlusPayloadEqualsTheWholePacket) {
  for (std::size_t size : {0, 1, 64, 1024, 20000}) {
    const auto p = sample_publish(GetParam(), size);
    std::string out;
    encode_publish_header(header_of(p), GetParam().version, out);
    out += p.payload;
    EXPECT_EQ(out, encode(p, GetParam().version)) << "payload " << size;
  }
}

TEST_P(PublishHeaderEncoding, PublishSizeIsExactAcrossRemainingLengthBoundaries) {
  // The remaining length of the same PUBLISH with an empty payload.
  const auto empty = parse_fixed_header(encode(sample_publish(GetParam(), 0), GetParam().version));
  ASSERT_TRUE(empty.ok() && empty->has_value());
  const std::size_t overhead = (*empty)->remaining_length;
  for (std::size_t target : {std::size_t{127}, std::size_t{128}, std::size_t{16'383}, std::size_t{16'384},
                             std::size_t{2'097'151}, std::size_t{2'097'152}}) {
    if (target < overhead) continue;
    const auto p = sample_publish(GetParam(), target - overhead);
    const auto wire = encode(p, GetParam().version);
    EXPECT_EQ(publish_size(header_of(p), GetParam().version), wire.size())
        << "remaining length " << target;
    auto h = parse_fixed_header(wire);
    ASSERT_TRUE(h.ok() && h->has_value());
    EXPECT_EQ((*h)->remaining_length, target);
    EXPECT_EQ((*h)->total_length(), wire.size());
  }
}

TEST(Encoder, PublishHeaderWithoutPropertiesWritesAnEmptyPropertyList) {
  const Publish p{.topic = "t", .payload = "p"};
  PublishHeader h = header_of(p);
  h.props = nullptr;
  std::string out;
  encode_publish_header(h, V::v5, out);
  out += p.payload;
  EXPECT_EQ(out, encode(p, V::v5));
  EXPECT_EQ(publish_size(h, V::v5), out.size());
}

TEST(Encoder, PublishHeaderServesManyRecipientsFromOnePayload) {
  // One payload, two recipients with different QoS, packet id and protocol version.
  const std::string payload(300, 'z');
  const Properties props = full_properties(C::publish);
  const PublishHeader to_v5{"a/b", payload.size(), 1, false, false, 77, &props};
  const PublishHeader to_v3{"a/b", payload.size(), 0, false, false, 0, nullptr};
  std::string a;
  encode_publish_header(to_v5, V::v5, a);
  std::string b;
  encode_publish_header(to_v3, V::v3_1_1, b);
  auto ra = decode_wire(a + payload, V::v5);
  auto rb = decode_wire(b + payload, V::v3_1_1);
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ(std::get<Publish>(*ra).packet_id, 77);
  EXPECT_EQ(std::get<Publish>(*ra).props, props);
  EXPECT_EQ(std::get<Publish>(*rb).qos, 0);
  EXPECT_EQ(std::get<Publish>(*ra).payload, payload);
  EXPECT_EQ(std::get<Publish>(*rb).payload, payload);
}

}  // namespace
}  // namespace hermod::mqtt
