// Primitive wire encodings (section 1.5): integers, variable byte integers, strings, binary data.
#include "mqtt/wire.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "codec_test_support.hpp"

namespace hermod::mqtt {
namespace {

using test::bytes;
using test::hex;

struct VarintCase {
  std::uint32_t value;
  std::string wire;
};

void PrintTo(const VarintCase& c, std::ostream* os) { *os << c.value << " = " << hex(c.wire); }

class VarintBoundary : public ::testing::TestWithParam<VarintCase> {};

// The examples of section 2.2.3 (3.1.1) / table 1-1 (5.0): the first and last value of each length.
INSTANTIATE_TEST_SUITE_P(
    Wire, VarintBoundary,
    ::testing::Values(VarintCase{0, bytes({0x00})}, VarintCase{127, bytes({0x7F})},
                      VarintCase{128, bytes({0x80, 0x01})},
                      VarintCase{16'383, bytes({0xFF, 0x7F})},
                      VarintCase{16'384, bytes({0x80, 0x80, 0x01})},
                      VarintCase{2'097'151, bytes({0xFF, 0xFF, 0x7F})},
                      VarintCase{2'097'152, bytes({0x80, 0x80, 0x80, 0x01})},
                      VarintCase{kMaxVarint, bytes({0xFF, 0xFF, 0xFF, 0x7F})}),
    [](const auto& info) { return "value_" + std::to_string(info.param.value); });

TEST_P(VarintBoundary, EncodesToTheStandardsBytes) {
  std::string out;
  append_varint(out, GetParam().value);
  EXPECT_EQ(hex(out), hex(GetParam().wire));
  EXPECT_EQ(varint_size(GetParam().value), GetParam().wire.size());
}

TEST_P(VarintBoundary, DecodesValueAndLength) {
  auto r = decode_varint(GetParam().wire + "tail");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->value, GetParam().value);
  EXPECT_EQ(r->length, GetParam().wire.size());
}

TEST_P(VarintBoundary, ReportsNeedMoreBytesWhenCutShort) {
  const auto& wire = GetParam().wire;
  for (std::size_t n = 0; n < wire.size(); ++n) {
    auto r = decode_varint(std::string_view(wire).substr(0, n));
    ASSERT_TRUE(r.ok()) << n;
    EXPECT_EQ(r->length, 0) << "prefix of " << n << " bytes";
  }
}

TEST(Wire, VarintLongerThanFourBytesIsMalformed) {
  auto r = decode_varint(bytes({0xFF, 0xFF, 0xFF, 0xFF, 0x7F}));
  EXPECT_DECODE_ERROR(r, ReasonCode::malformed_packet, "[MQTT-1.5.5] at most four bytes");
  // Already malformed once the fourth byte has its continuation bit set.
  EXPECT_DECODE_ERROR(decode_varint(bytes({0x80, 0x80, 0x80, 0x80})), ReasonCode::malformed_packet,
                      "[MQTT-1.5.5] at most four bytes");
}

TEST(Wire, ReaderReadsBigEndianIntegers) {
  const auto data = bytes({0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07});
  Reader in(data);
  EXPECT_EQ(*in.u8(), 0x01);
  EXPECT_EQ(*in.u16(), 0x0203);
  EXPECT_EQ(*in.u32(), 0x04050607u);
  EXPECT_TRUE(in.empty());
}

TEST(Wire, ReaderReportsMalformedInsteadOfReadingPastTheEnd) {
  EXPECT_DECODE_ERROR(Reader("").u8(), ReasonCode::malformed_packet, "u8 on empty input");
  EXPECT_DECODE_ERROR(Reader("\x01").u16(), ReasonCode::malformed_packet, "u16 on 1 byte");
  EXPECT_DECODE_ERROR(Reader("\x01\x02\x03").u32(), ReasonCode::malformed_packet, "u32 on 3 bytes");
  EXPECT_DECODE_ERROR(Reader("\x80").varint(), ReasonCode::malformed_packet, "cut varint");
  EXPECT_DECODE_ERROR(Reader("ab").bytes(3), ReasonCode::malformed_packet, "bytes(3) on 2 bytes");
}

TEST(Wire, BinaryLengthBeyondTheDataIsMalformed) {
  const auto data = bytes({0x00, 0x05, 'a', 'b', 'c', 'd'});
  Reader in(data);
  EXPECT_DECODE_ERROR(in.binary(), ReasonCode::malformed_packet, "[MQTT-1.5.6] length prefix");
}

TEST(Wire, BinaryMayHoldAnyByteIncludingNull) {
  const auto data = bytes({0x00, 0x03, 0x00, 0xFF, 0xC0, 'x'});
  Reader in(data);
  auto r = in.binary();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(hex(*r), "00 ff c0");
  EXPECT_EQ(in.rest(), "x");
}

TEST(Wire, Utf8StringIsValidated) {
  EXPECT_EQ(*Reader(bytes({0x00, 0x02, 0xC3, 0xA9})).utf8(), "\xC3\xA9");
  EXPECT_DECODE_ERROR(Reader(bytes({0x00, 0x02, 0xC0, 0x80})).utf8(), ReasonCode::malformed_packet,
                      "[MQTT-1.5.3-1] overlong");
  EXPECT_DECODE_ERROR(Reader(bytes({0x00, 0x01, 0x00})).utf8(), ReasonCode::malformed_packet,
                      "[MQTT-1.5.3-2] U+0000");
}

TEST(Wire, EmptyStringIsValid) {
  const auto data = bytes({0x00, 0x00});
  Reader in(data);
  auto r = in.utf8();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  EXPECT_TRUE(in.empty());
}

TEST(Wire, WriterAppendsBigEndianAndLengthPrefixes) {
  std::string out;
  append_u8(out, 0xAB);
  append_u16(out, 0x1234);
  append_u32(out, 0xDEADBEEF);
  append_string(out, "hi");
  EXPECT_EQ(hex(out), "ab 12 34 de ad be ef 00 02 68 69");
}

TEST(Wire, StringOfMaximumLengthRoundTrips) {
  const std::string s(65535, 'x');
  std::string out;
  append_string(out, s);
  ASSERT_EQ(out.size(), 65537u);
  Reader in(out);
  EXPECT_EQ(*in.utf8(), s);
}

}  // namespace
}  // namespace hermod::mqtt
