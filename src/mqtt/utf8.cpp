#include "mqtt/utf8.hpp"

#include <cstdint>
#include <cstring>

namespace hermod::mqtt {

namespace {

constexpr std::uint32_t kIllFormed = 0xFFFFFFFF;

// The multi-byte sequence whose lead byte (>= 0x80) is at `p`: its code point and, in `length`,
// its byte count; kIllFormed if the lead or a continuation byte is wrong, the sequence is cut
// short, overlong, a surrogate (U+D800..U+DFFF) or beyond U+10FFFF.
inline std::uint32_t decode_multibyte(const std::uint8_t* p, const std::uint8_t* end, int& length) {
  const std::uint8_t c = *p;
  int extra;
  std::uint32_t cp;
  std::uint32_t min;
  if ((c & 0xE0) == 0xC0) { extra = 1; cp = c & 0x1F; min = 0x80; }
  else if ((c & 0xF0) == 0xE0) { extra = 2; cp = c & 0x0F; min = 0x800; }
  else if ((c & 0xF8) == 0xF0) { extra = 3; cp = c & 0x07; min = 0x10000; }
  else return kIllFormed;  // continuation byte in lead position, or 0xF8..0xFF
  if (end - p <= extra) return kIllFormed;
  for (int i = 1; i <= extra; ++i) {
    if ((p[i] & 0xC0) != 0x80) return kIllFormed;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return kIllFormed;
  length = extra + 1;
  return cp;
}

}  // namespace

bool is_valid_mqtt_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    // Topics and most payloads are ASCII: eight bytes at a time while none has its high bit set
    // and none is zero.
    constexpr std::uint64_t kLow = 0x0101010101010101ULL;
    constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
    while (end - p >= 8) {
      std::uint64_t v;
      std::memcpy(&v, p, sizeof v);
      if (((v | ((v - kLow) & ~v)) & kHigh) != 0) break;
      p += 8;
    }
    if (p == end) break;
    const std::uint8_t c = *p;
    if (c < 0x80) {
      if (c == 0) return false;
      ++p;
      continue;
    }
    int length;
    if (decode_multibyte(p, end, length) == kIllFormed) return false;
    p += length;
  }
  return true;
}

bool has_control_character(std::string_view s) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(s.data());
  const auto* end = p + s.size();
  // Topics are short and mostly printable ASCII: eight bytes at a time while none is below 0x20,
  // equal to 0x7F or to 0xC2 (the lead byte of U+0080..U+00BF).
  constexpr std::uint64_t kLow = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  const auto has_zero = [](std::uint64_t v) { return ((v - kLow) & ~v & kHigh) != 0; };
  while (p < end) {
    if (end - p >= 8) {
      std::uint64_t v;
      std::memcpy(&v, p, sizeof v);
      const bool below_space = ((v - kLow * 0x20) & ~v & kHigh) != 0;
      if (!below_space && !has_zero(v ^ (kLow * 0x7F)) && !has_zero(v ^ (kLow * 0xC2))) {
        p += 8;
        continue;
      }
    }
    const std::uint8_t c = *p;
    if (c < 0x20 || c == 0x7F) return true;
    if (c == 0xC2 && end - p >= 2 && p[1] >= 0x80 && p[1] <= 0x9F) return true;
    ++p;
  }
  return false;
}

unsigned scan_text(std::string_view s) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(s.data());
  const auto* end = p + s.size();
  constexpr std::uint64_t kLow = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  // Nonzero if some byte of v is zero (never misses one; may flag a neighbour, which only sends
  // the word to the byte loop).
  const auto zero_byte = [](std::uint64_t v) { return (v - kLow) & ~v & kHigh; };
  unsigned flags = 0;
  while (p < end) {
    // Eight bytes at a time while all are printable ASCII other than '+' and '#'.
    if (end - p >= 8) {
      std::uint64_t v;
      std::memcpy(&v, p, sizeof v);
      const std::uint64_t odd = (v & kHigh) | ((v - kLow * 0x20) & ~v & kHigh) | zero_byte(v ^ (kLow * 0x7F)) |
                                zero_byte(v ^ (kLow * '+')) | zero_byte(v ^ (kLow * '#'));
      if (odd == 0) {
        p += 8;
        continue;
      }
    }
    const std::uint8_t c = *p;
    if (c < 0x80) {
      if (c == 0) return flags | kTextBadUtf8;
      if (c < 0x20 || c == 0x7F) flags |= kTextControl;
      if (c == '+' || c == '#') flags |= kTextWildcard;
      ++p;
      continue;
    }
    int length;
    const std::uint32_t cp = decode_multibyte(p, end, length);
    if (cp == kIllFormed) return flags | kTextBadUtf8;
    if (cp <= 0x9F) flags |= kTextControl;  // U+0080..U+009F
    p += length;
  }
  return flags;
}

}  // namespace hermod::mqtt
