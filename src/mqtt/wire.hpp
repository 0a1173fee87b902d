// Primitive MQTT wire encodings (section 1.5 of both standards): two- and four-byte integers,
// variable byte integers, length-prefixed strings and binary data. Reader never reads past its
// input and reports a malformed packet instead; Writer appends to a std::string used as a byte
// buffer. Any thread; no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mqtt/result.hpp"

namespace hermod::mqtt {

inline constexpr std::uint32_t kMaxVarint = 268'435'455;  // 0xFF,0xFF,0xFF,0x7F

// Decodes a variable byte integer at the start of `data`. Returns the value and its length in
// bytes, or length 0 when `data` ends before the integer does. An integer longer than four bytes,
// or one not in its shortest form (a last byte of 0 after a continuation byte, e.g. 0x80 0x00),
// is malformed [MQTT-1.5.5-1].
struct VarintDecode {
  std::uint32_t value = 0;
  std::uint8_t length = 0;
};
Result<VarintDecode> decode_varint(std::string_view data);

// Number of bytes the variable byte integer `value` takes (1-4). Precondition: value <= kMaxVarint.
std::uint8_t varint_size(std::uint32_t value);
void append_varint(std::string& out, std::uint32_t value);

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}

  std::size_t remaining() const { return data_.size() - pos_; }
  bool empty() const { return remaining() == 0; }
  std::string_view rest() const { return data_.substr(pos_); }
  void skip_all() { pos_ = data_.size(); }

  Result<std::uint8_t> u8();
  Result<std::uint16_t> u16();
  Result<std::uint32_t> u32();
  Result<std::uint32_t> varint();
  // Length-prefixed binary data (section 1.5.6).
  Result<std::string_view> binary();
  // Length-prefixed UTF-8 string, validated as section 1.5.4 requires.
  Result<std::string_view> utf8();
  // `n` raw bytes.
  Result<std::string_view> bytes(std::size_t n);

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
};

inline void append_u8(std::string& out, std::uint8_t v) { out.push_back(static_cast<char>(v)); }
inline void append_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xFF));
}
inline void append_u32(std::string& out, std::uint32_t v) {
  append_u16(out, static_cast<std::uint16_t>(v >> 16));
  append_u16(out, static_cast<std::uint16_t>(v & 0xFFFF));
}
// Length-prefixed string or binary data. Precondition: s.size() <= 65535 (callers validate).
inline void append_string(std::string& out, std::string_view s) {
  append_u16(out, static_cast<std::uint16_t>(s.size()));
  out.append(s);
}

}  // namespace hermod::mqtt
