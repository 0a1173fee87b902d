// StreamDecoder: packets from a byte stream split anywhere, the CONNECT's version applied to what
// follows, and the maximum packet size enforced from the fixed header alone.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "codec_test_support.hpp"
#include "mqtt/decoder.hpp"
#include "mqtt/encoder.hpp"

namespace hermod::mqtt {
namespace {

using test::bytes;
using test::full_properties;
using V = ProtocolVersion;
using RC = ReasonCode;
using C = PropertyContext;

// What a server reads from one client: CONNECT first, then a session's worth of packets.
std::vector<Packet> session_packets(V v) {
  const bool v5 = is_v5(v);
  auto props = [v5](C ctx) { return v5 ? full_properties(ctx) : Properties{}; };
  Connect connect{.version = v, .keep_alive = 30, .client_id = "stream-client", .props = props(C::connect)};
  connect.will = Will{.topic = "w", .payload = "gone", .qos = 1, .props = props(C::will)};
  Subscribe subscribe{.packet_id = 2, .subscriptions = {{"a/#", {.qos = 2}}, {"b/+", {.qos = 0}}},
                      .props = v5 ? Properties{.subscription_identifiers = {5}} : Properties{}};
  return {
      connect,
      Publish{.topic = "a/b", .payload = std::string(300, 'x'), .qos = 1, .packet_id = 1,
              .props = props(C::publish)},
      Puback{.packet_id = 1, .reason = v5 ? RC::no_matching_subscribers : RC::success,
             .props = props(C::puback)},
      subscribe,
      Pingreq{},
      Publish{.topic = "c", .payload = ""},
      Pubrel{.packet_id = 0x0102},
      Unsubscribe{.packet_id = 3, .filters = {"a/#"}},
      Disconnect{.reason = v5 ? RC::disconnect_with_will_message : RC::success},
  };
}

std::string session_bytes(V v) {
  std::string out;
  for (const auto& p : session_packets(v)) encode(p, v, out);
  return out;
}

// Calls next() until it yields nothing more; fails the test on an error.
void drain(StreamDecoder& d, std::vector<Packet>& out) {
  while (true) {
    auto r = d.next();
    ASSERT_TRUE(r.ok()) << r.error().what;
    if (!r->has_value()) return;
    out.push_back(std::move(**r));
  }
}

class StreamSplits : public ::testing::TestWithParam<V> {};
INSTANTIATE_TEST_SUITE_P(StreamDecoder, StreamSplits, ::testing::Values(V::v3_1, V::v3_1_1, V::v5),
                         [](const auto& info) { return test::version_name(info.param); });

TEST_P(StreamSplits, WholeStreamAtOnceYieldsEveryPacket) {
  StreamDecoder d;
  d.feed(session_bytes(GetParam()));
  std::vector<Packet> got;
  drain(d, got);
  EXPECT_EQ(got, session_packets(GetParam()));
  EXPECT_EQ(d.buffered(), 0u);
  EXPECT_EQ(d.version(), GetParam()) << "the CONNECT's version applies to the rest of the stream";
}

TEST_P(StreamSplits, ByteByByteYieldsTheSamePackets) {
  const auto stream = session_bytes(GetParam());
  StreamDecoder d;
  std::vector<Packet> got;
  for (char c : stream) {
    d.feed(std::string_view(&c, 1));
    drain(d, got);
  }
  EXPECT_EQ(got, session_packets(GetParam()));
  EXPECT_EQ(d.buffered(), 0u);
}

TEST_P(StreamSplits, EveryTwoPieceSplitYieldsTheSamePackets) {
  const auto stream = session_bytes(GetParam());
  const auto expected = session_packets(GetParam());
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    StreamDecoder d;
    std::vector<Packet> got;
    d.feed(std::string_view(stream).substr(0, cut));
    drain(d, got);
    d.feed(std::string_view(stream).substr(cut));
    drain(d, got);
    ASSERT_EQ(got, expected) << "split at byte " << cut;
    ASSERT_EQ(d.buffered(), 0u) << "split at byte " << cut;
  }
}

TEST_P(StreamSplits, BufferedCountsBytesNotYetDecoded) {
  const auto packets = session_packets(GetParam());
  StreamDecoder d;
  std::size_t fed = 0;
  std::size_t decoded_bytes = 0;
  std::size_t count = 0;
  const auto stream = session_bytes(GetParam());
  for (std::size_t i = 0; i < stream.size(); i += 7) {
    const auto chunk = std::string_view(stream).substr(i, 7);
    d.feed(chunk);
    fed += chunk.size();
    while (true) {
      auto r = d.next();
      ASSERT_TRUE(r.ok()) << r.error().what;
      if (!r->has_value()) break;
      decoded_bytes += encode(packets[count++], GetParam()).size();
    }
    EXPECT_EQ(d.buffered(), fed - decoded_bytes);
  }
  EXPECT_EQ(count, packets.size());
}

TEST(StreamDecoder, PartialPacketYieldsNothingYet) {
  const auto wire = encode(Publish{.topic = "t", .payload = "payload"}, V::v3_1_1);
  StreamDecoder d;
  d.feed(std::string_view(wire).substr(0, wire.size() - 1));
  auto r = d.next();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  EXPECT_EQ(d.buffered(), wire.size() - 1);
  d.feed(std::string_view(wire).substr(wire.size() - 1));
  r = d.next();
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ(std::get<Publish>(**r).payload, "payload");
}

TEST(StreamDecoder, PacketsBeforeConnectUseTheConstructorVersion) {
  // A v5 PUBACK with a reason code is three bytes too long for 3.1.1.
  const auto puback = encode(Puback{.packet_id = 1, .reason = RC::not_authorized}, V::v5);
  StreamDecoder v3;
  v3.feed(puback);
  EXPECT_DECODE_ERROR(v3.next(), RC::malformed_packet, "3.4.2 v3 PUBACK is two bytes");
  StreamDecoder v5(kMaxPacketSize, V::v5);
  v5.feed(puback);
  auto r = v5.next();
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ(std::get<Puback>(**r).reason, RC::not_authorized);
}

TEST(StreamDecoder, ClientSetsTheVersionItSent) {
  StreamDecoder d;
  d.set_version(V::v5);
  d.feed(encode(Connack{.props = {.receive_maximum = 20}}, V::v5));
  auto r = d.next();
  ASSERT_TRUE(r.ok() && r->has_value()) << (r.ok() ? "" : r.error().what);
  EXPECT_EQ(std::get<Connack>(**r).props.receive_maximum, 20);
}

TEST(StreamDecoder, PacketTooLargeIsReportedFromTheHeaderAlone) {
  StreamDecoder d(1024);
  d.feed(bytes({0x30, 0xFF, 0x7F}));  // announces 16383 bytes that have not arrived
  EXPECT_DECODE_ERROR(d.next(), RC::packet_too_large,
                      "5.0 3.1.2.11.4 a packet above Maximum Packet Size, refused before its body");
}

TEST(StreamDecoder, PacketExactlyAtTheLimitDecodes) {
  const auto wire = encode(Publish{.topic = "t", .payload = std::string(100, 'p')}, V::v3_1_1);
  StreamDecoder at(static_cast<std::uint32_t>(wire.size()));
  at.feed(wire);
  auto r = at.next();
  ASSERT_TRUE(r.ok() && r->has_value());
  StreamDecoder below(static_cast<std::uint32_t>(wire.size() - 1));
  below.feed(wire);
  EXPECT_DECODE_ERROR(below.next(), RC::packet_too_large, "the limit counts the whole packet");
}

TEST(StreamDecoder, GoodPacketsBeforeAnErrorAreYielded) {
  std::string stream = encode(Pingreq{}, V::v3_1_1) + encode(Pingreq{}, V::v3_1_1);
  stream += bytes({0x36, 0x00});  // PUBLISH with QoS 3
  stream += encode(Pingreq{}, V::v3_1_1);
  StreamDecoder d;
  d.feed(stream);
  for (int i = 0; i < 2; ++i) {
    auto r = d.next();
    ASSERT_TRUE(r.ok() && r->has_value()) << i;
  }
  EXPECT_DECODE_ERROR(d.next(), RC::malformed_packet, "[MQTT-3.3.1-4]");
}

TEST(StreamDecoder, MalformedRemainingLengthIsAnError) {
  StreamDecoder d;
  d.feed(bytes({0xC0, 0x80, 0x80, 0x80, 0x80}));
  EXPECT_DECODE_ERROR(d.next(), RC::malformed_packet, "2.2.3 remaining length over four bytes");
}

TEST(StreamDecoder, DrainedDecoderHoldsLessThanOnePacket) {
  // Feeding a long run of PINGREQs one and a half packets at a time keeps few bytes buffered.
  const auto ping = encode(Pingreq{}, V::v3_1_1);
  std::string stream;
  for (int i = 0; i < 1000; ++i) stream += ping;
  StreamDecoder d;
  std::size_t count = 0;
  for (std::size_t i = 0; i < stream.size(); i += 3) {
    d.feed(std::string_view(stream).substr(i, 3));
    while (true) {
      auto r = d.next();
      ASSERT_TRUE(r.ok());
      if (!r->has_value()) break;
      ++count;
    }
    EXPECT_LT(d.buffered(), 2u);
  }
  EXPECT_EQ(count, 1000u);
}

}  // namespace
}  // namespace hermod::mqtt
