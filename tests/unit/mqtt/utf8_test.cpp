// is_valid_mqtt_utf8: well-formed UTF-8 without U+0000 (3.1.1 section 1.5.3, 5.0 section 1.5.4).
#include "mqtt/utf8.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "codec_test_support.hpp"

namespace hermod::mqtt {
namespace {

using test::bytes;
using test::hex;

TEST(Utf8, AcceptsEmptyString) { EXPECT_TRUE(is_valid_mqtt_utf8("")); }

TEST(Utf8, AcceptsAsciiWithoutNull) {
  EXPECT_TRUE(is_valid_mqtt_utf8("sensors/+/temperature #1 \x01\x7F"));
}

TEST(Utf8, AcceptsEachEncodingLength) {
  for (const auto& s : {bytes({0xC3, 0xA9}),               // U+00E9
                        bytes({0xC2, 0x80}),               // U+0080, smallest two-byte
                        bytes({0xE2, 0x82, 0xAC}),         // U+20AC
                        bytes({0xE0, 0xA0, 0x80}),         // U+0800, smallest three-byte
                        bytes({0xEF, 0xBB, 0xBF}),         // U+FEFF must not be skipped [MQTT-1.5.3-3]
                        bytes({0xED, 0x9F, 0xBF}),         // U+D7FF, just below the surrogates
                        bytes({0xEE, 0x80, 0x80}),         // U+E000, just above them
                        bytes({0xF0, 0x9D, 0x84, 0x9E}),   // U+1D11E
                        bytes({0xF0, 0x90, 0x80, 0x80}),   // U+10000, smallest four-byte
                        bytes({0xF4, 0x8F, 0xBF, 0xBF})}) {  // U+10FFFF, the last code point
    EXPECT_TRUE(is_valid_mqtt_utf8(s)) << hex(s);
  }
}

TEST(Utf8, RejectsNullCharacter) {
  EXPECT_FALSE(is_valid_mqtt_utf8(std::string("a\0b", 3))) << "[MQTT-1.5.3-2]";
  EXPECT_FALSE(is_valid_mqtt_utf8(std::string("\0", 1))) << "[MQTT-1.5.3-2]";
}

TEST(Utf8, RejectsOverlongEncodings) {
  for (const auto& s : {bytes({0xC0, 0x80}),               // U+0000 in two bytes ("modified UTF-8")
                        bytes({0xC0, 0xAF}),               // '/' in two bytes
                        bytes({0xC1, 0xBF}),               // U+007F in two bytes
                        bytes({0xE0, 0x80, 0xAF}),         // '/' in three bytes
                        bytes({0xE0, 0x9F, 0xBF}),         // U+07FF in three bytes
                        bytes({0xF0, 0x80, 0x80, 0xAF}),   // '/' in four bytes
                        bytes({0xF0, 0x8F, 0xBF, 0xBF})}) {  // U+FFFF in four bytes
    EXPECT_FALSE(is_valid_mqtt_utf8(s)) << "[MQTT-1.5.3-1] overlong " << hex(s);
  }
}

TEST(Utf8, RejectsSurrogateCodePoints) {
  for (const auto& s : {bytes({0xED, 0xA0, 0x80}),   // U+D800
                        bytes({0xED, 0xAD, 0xBF}),   // U+DB7F
                        bytes({0xED, 0xB0, 0x80}),   // U+DC00
                        bytes({0xED, 0xBF, 0xBF}),   // U+DFFF
                        bytes({0xED, 0xA0, 0xBD, 0xED, 0xB2, 0xA9})}) {  // CESU-8 pair
    EXPECT_FALSE(is_valid_mqtt_utf8(s)) << "[MQTT-1.5.3-1] surrogate " << hex(s);
  }
}

TEST(Utf8, RejectsCodePointsAboveU10FFFF) {
  for (const auto& s : {bytes({0xF4, 0x90, 0x80, 0x80}),  // U+110000
                        bytes({0xF7, 0xBF, 0xBF, 0xBF}),
                        bytes({0xF8, 0x88, 0x80, 0x80, 0x80}),  // five-byte form
                        bytes({0xFC, 0x84, 0x80, 0x80, 0x80, 0x80}),
                        bytes({0xFE}), bytes({0xFF})}) {
    EXPECT_FALSE(is_valid_mqtt_utf8(s)) << "[MQTT-1.5.3-1] " << hex(s);
  }
}

TEST(Utf8, RejectsTruncatedSequences) {
  for (const auto& s : {bytes({0xC3}),                    // two-byte, cut at the end
                        bytes({0xE2, 0x82}),              // three-byte, cut
                        bytes({0xF0, 0x9D, 0x84}),        // four-byte, cut
                        bytes({0x61, 0xE2}),              // cut after valid text
                        bytes({0xE2, 0x82, 0x61}),        // continuation replaced by ASCII
                        bytes({0xC3, 0xC3, 0xA9}),        // lead byte followed by a lead byte
                        bytes({0xF0, 0x9D, 0x84, 0x00})}) {  // NUL as the last continuation
    EXPECT_FALSE(is_valid_mqtt_utf8(s)) << "[MQTT-1.5.3-1] truncated " << hex(s);
  }
}

TEST(Utf8, RejectsContinuationByteWithoutLead) {
  for (const auto& s : {bytes({0x80}), bytes({0xBF}), bytes({0x61, 0x80, 0x61}),
                        bytes({0xC3, 0xA9, 0xA9})}) {
    EXPECT_FALSE(is_valid_mqtt_utf8(s)) << "[MQTT-1.5.3-1] stray continuation " << hex(s);
  }
}

// Long ASCII runs are checked eight bytes at a time: a bad byte or a multi-byte character must be
// seen wherever it falls relative to those blocks.
TEST(Utf8, FindsABadByteAtEveryOffsetOfALongAsciiRun) {
  const std::string ascii(40, 'a');
  EXPECT_TRUE(is_valid_mqtt_utf8(ascii));
  for (std::size_t at = 0; at < ascii.size(); ++at) {
    for (const auto& bad : {bytes({0x00}), bytes({0x80}), bytes({0xFF}), bytes({0xC3}), bytes({0xED, 0xA0, 0x80})}) {
      std::string s = ascii;
      s.replace(at, 1, bad);
      EXPECT_FALSE(is_valid_mqtt_utf8(s)) << "bad bytes at " << at << ": " << hex(s);
    }
    std::string good = ascii;
    good.replace(at, 1, bytes({0xF0, 0x9D, 0x84, 0x9E}));  // U+1D11E
    EXPECT_TRUE(is_valid_mqtt_utf8(good)) << hex(good);
  }
}

// scan_text is the decoder's one-pass check of a PUBLISH topic: it must agree with the three
// separate checks it replaces, on strings built from the bytes at every edge of its word loop.
TEST(ScanText, AgreesWithTheSeparateChecks) {
  const std::string alphabet = bytes({0x00, 0x01, 0x1F, 0x20, 'a', '+', '#', '/', 0x7E, 0x7F, 0x80, 0x9F, 0xA0,
                                      0xC2, 0xC3, 0xE2, 0x82, 0xAC, 0xED, 0xF0, 0x9D, 0x84, 0x9E, 0xFF});
  std::uint32_t seed = 12345;
  const auto next = [&seed] { return seed = seed * 1664525u + 1013904223u; };
  for (int round = 0; round < 200000; ++round) {
    std::string s(next() % 24, 'a');
    for (auto& c : s) {
      // Mostly plain ASCII, so that whole words take the fast path between the odd bytes.
      if (next() % 4 == 0) c = alphabet[next() % alphabet.size()];
    }
    const unsigned flags = scan_text(s);
    const bool valid = is_valid_mqtt_utf8(s);
    ASSERT_EQ((flags & kTextBadUtf8) == 0, valid) << hex(s);
    if (!valid) continue;
    ASSERT_EQ((flags & kTextControl) != 0, has_control_character(s)) << hex(s);
    ASSERT_EQ((flags & kTextWildcard) != 0, s.find_first_of("+#") != std::string::npos) << hex(s);
  }
}

TEST(ScanText, FlagsEachKindInALongTopic) {
  const std::string plain = "sensors/building-7/floor-3/room-12/temperature";
  EXPECT_EQ(scan_text(plain), 0u);
  EXPECT_EQ(scan_text(plain + "/+"), unsigned{kTextWildcard});
  EXPECT_EQ(scan_text(plain + "\x7F"), unsigned{kTextControl});
  EXPECT_EQ(scan_text(plain + bytes({0xC2, 0x85})), unsigned{kTextControl});  // U+0085
  EXPECT_EQ(scan_text(plain + bytes({0xC2, 0xA0})), 0u);                      // U+00A0: not a control
  EXPECT_NE(scan_text(plain + bytes({0x00})) & kTextBadUtf8, 0u);
  EXPECT_NE(scan_text(plain + bytes({0xC0, 0xAF})) & kTextBadUtf8, 0u);       // overlong '/'
}

}  // namespace
}  // namespace hermod::mqtt
