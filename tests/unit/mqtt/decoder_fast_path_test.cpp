// decode_publish_view and decode_short_ack (the broker's fast path): for every input they take,
// they must agree with decode_packet, field by field and error code by error code; for every
// input they decline, decode_packet is what runs.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "codec_test_support.hpp"

namespace hermod::mqtt::test {
namespace {

struct Split {
  FixedHeader header;
  std::string_view body;
};

// The body views `wire`, which must outlive the result.
Split split(const std::string& wire) {
  auto h = parse_fixed_header(wire);
  EXPECT_TRUE(h && *h);
  return {**h, std::string_view(wire).substr((**h).header_length)};
}

// Checks that the fast path either declines `wire` or decodes it exactly as decode_packet does.
// Returns whether it took it.
bool agrees(const std::string& wire, ProtocolVersion v) {
  const auto [h, body] = split(wire);
  const auto whole = decode_packet(h, body, v);
  const auto view = decode_publish_view(h, body, v);
  const auto ack = decode_short_ack(h, body);
  if (!view) {
    EXPECT_FALSE(whole.ok()) << hex(wire);
    if (!whole.ok()) {
      EXPECT_EQ(view.error().code, whole.error().code) << hex(wire);
    }
    return true;
  }
  if (*view) {
    EXPECT_TRUE(whole.ok()) << hex(wire);
    if (!whole.ok()) return true;
    const auto& p = std::get<Publish>(*whole);
    EXPECT_EQ((*view)->topic, p.topic);
    EXPECT_EQ((*view)->payload, p.payload);
    EXPECT_EQ((*view)->qos, p.qos);
    EXPECT_EQ((*view)->retain, p.retain);
    EXPECT_EQ((*view)->dup, p.dup);
    EXPECT_EQ((*view)->packet_id, p.packet_id);
    EXPECT_TRUE(p.props.empty());
    return true;
  }
  if (!ack) {
    EXPECT_FALSE(whole.ok()) << hex(wire);
    if (!whole.ok()) {
      EXPECT_EQ(ack.error().code, whole.error().code) << hex(wire);
    }
    return true;
  }
  if (*ack) {
    EXPECT_TRUE(whole.ok()) << hex(wire);
    if (whole.ok()) {
      std::visit(
          [&](const auto& p) {
            using T = std::decay_t<decltype(p)>;
            if constexpr (requires { p.packet_id; p.reason; }) {
              EXPECT_EQ(p.packet_id, **ack);
              EXPECT_EQ(p.reason, ReasonCode::success);
              EXPECT_TRUE(p.props.empty());
            } else {
              ADD_FAILURE() << "short ack decoded as another packet: " << hex(wire) << typeid(T).name();
            }
          },
          *whole);
    }
    return true;
  }
  return false;
}

constexpr ProtocolVersion kAll[] = {ProtocolVersion::v3_1, ProtocolVersion::v3_1_1, ProtocolVersion::v5};

TEST(PublishView, TakesAPublishWithoutProperties) {
  for (auto v : kAll) {
    Publish p;
    p.topic = "a/b";
    p.payload = "hello";
    p.qos = 1;
    p.packet_id = 7;
    p.retain = true;
    const auto wire = encode(Packet{p}, v);
    const auto [h, body] = split(wire);
    auto view = decode_publish_view(h, body, v);
    ASSERT_TRUE(view && *view);
    EXPECT_EQ((*view)->topic, "a/b");
    EXPECT_EQ((*view)->payload, "hello");
    EXPECT_EQ((*view)->packet_id, 7);
    EXPECT_TRUE((*view)->retain);
    EXPECT_TRUE(agrees(wire, v));
  }
}

TEST(PublishView, DeclinesMqtt5PropertiesAndOtherPackets) {
  Publish p;
  p.topic = "a";
  p.props.content_type = "text/plain";
  const auto with_props = encode(Packet{p}, ProtocolVersion::v5);
  auto [h, body] = split(with_props);
  auto view = decode_publish_view(h, body, ProtocolVersion::v5);
  ASSERT_TRUE(view);
  EXPECT_FALSE(*view);
  EXPECT_FALSE(agrees(with_props, ProtocolVersion::v5));  // decode_packet's job
  EXPECT_FALSE(agrees(encode(Packet{Pingreq{}}, ProtocolVersion::v3_1_1), ProtocolVersion::v3_1_1));
}

TEST(PublishView, ReportsTheErrorsDecodePacketReports) {
  const std::vector<std::pair<std::string, ProtocolVersion>> bad = {
      {bytes({0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01}), ProtocolVersion::v3_1_1},  // QoS 3
      {bytes({0x38, 0x03, 0x00, 0x01, 'a'}), ProtocolVersion::v3_1_1},              // DUP on QoS 0
      {bytes({0x32, 0x05, 0x00, 0x01, 'a', 0x00, 0x00}), ProtocolVersion::v3_1_1},  // packet id 0
      {bytes({0x30, 0x03, 0x00, 0x01, '+'}), ProtocolVersion::v3_1_1},              // wildcard in topic
      {bytes({0x30, 0x03, 0x00, 0x01, 0x00}), ProtocolVersion::v3_1_1},             // NUL in topic
      {bytes({0x30, 0x03, 0x00, 0x02, 'a'}), ProtocolVersion::v3_1_1},              // topic cut short
      {bytes({0x30, 0x03, 0x00, 0x00, 0x00}), ProtocolVersion::v5},                 // empty topic, no alias
      {bytes({0x30, 0x03, 0x00, 0x01, 'a'}), ProtocolVersion::v5},                  // no property length
      {bytes({0x30, 0x02, 0x00, 0x00}), ProtocolVersion::v3_1_1},                   // empty topic
  };
  for (const auto& [wire, v] : bad) {
    const auto [h, body] = split(wire);
    EXPECT_FALSE(decode_packet(h, body, v).ok()) << hex(wire);
    EXPECT_TRUE(agrees(wire, v)) << hex(wire);
  }
}

TEST(ShortAck, TakesTwoByteAcknowledgementsOnly) {
  EXPECT_TRUE(agrees(bytes({0x40, 0x02, 0x01, 0x02}), ProtocolVersion::v3_1_1));  // PUBACK
  EXPECT_TRUE(agrees(bytes({0x50, 0x02, 0x01, 0x02}), ProtocolVersion::v5));      // PUBREC
  EXPECT_TRUE(agrees(bytes({0x62, 0x02, 0x01, 0x02}), ProtocolVersion::v5));      // PUBREL
  EXPECT_TRUE(agrees(bytes({0x70, 0x02, 0x01, 0x02}), ProtocolVersion::v3_1));    // PUBCOMP
  EXPECT_TRUE(agrees(bytes({0x60, 0x02, 0x01, 0x02}), ProtocolVersion::v3_1_1));  // PUBREL without its flags
  EXPECT_TRUE(agrees(bytes({0x40, 0x02, 0x00, 0x00}), ProtocolVersion::v3_1_1));  // packet id 0
  // With a reason code: decode_packet's.
  EXPECT_FALSE(agrees(bytes({0x40, 0x03, 0x01, 0x02, 0x10}), ProtocolVersion::v5));
  const std::string wire = bytes({0x40, 0x02, 0x12, 0x34});
  const auto [h, body] = split(wire);
  auto id = decode_short_ack(h, body);
  ASSERT_TRUE(id && *id);
  EXPECT_EQ(**id, 0x1234);
}

}  // namespace
}  // namespace hermod::mqtt::test
