#include "mqtt/wire.hpp"

#include "mqtt/utf8.hpp"

namespace hermod::mqtt {

namespace {
const Error kTruncated{ReasonCode::malformed_packet, "packet shorter than its fields"};
}

Result<VarintDecode> decode_varint(std::string_view data) {
  std::uint32_t value = 0;
  for (std::uint8_t i = 0; i < 4; ++i) {
    if (i >= data.size()) return VarintDecode{0, 0};
    const auto byte = static_cast<std::uint8_t>(data[i]);
    value |= static_cast<std::uint32_t>(byte & 0x7F) << (7 * i);
    if ((byte & 0x80) == 0) {
      // A last byte of 0 after a continuation byte encodes the value in more bytes than needed:
      // the encoding MUST be minimal [MQTT-1.5.5-1], so such bytes cannot be parsed (malformed).
      if (i > 0 && byte == 0) {
        return Error{ReasonCode::malformed_packet, "variable byte integer not minimally encoded"};
      }
      return VarintDecode{value, static_cast<std::uint8_t>(i + 1)};
    }
  }
  return Error{ReasonCode::malformed_packet, "variable byte integer longer than 4 bytes"};
}

std::uint8_t varint_size(std::uint32_t value) {
  if (value < 128) return 1;
  if (value < 16'384) return 2;
  if (value < 2'097'152) return 3;
  return 4;
}

void append_varint(std::string& out, std::uint32_t value) {
  do {
    auto byte = static_cast<std::uint8_t>(value & 0x7F);
    value >>= 7;
    if (value != 0) byte |= 0x80;
    out.push_back(static_cast<char>(byte));
  } while (value != 0);
}

Result<std::uint8_t> Reader::u8() {
  if (remaining() < 1) return kTruncated;
  return static_cast<std::uint8_t>(data_[pos_++]);
}

Result<std::uint16_t> Reader::u16() {
  if (remaining() < 2) return kTruncated;
  const auto hi = static_cast<std::uint8_t>(data_[pos_]);
  const auto lo = static_cast<std::uint8_t>(data_[pos_ + 1]);
  pos_ += 2;
  return static_cast<std::uint16_t>((hi << 8) | lo);
}

Result<std::uint32_t> Reader::u32() {
  auto hi = u16();
  if (!hi) return hi.error();
  auto lo = u16();
  if (!lo) return lo.error();
  return (static_cast<std::uint32_t>(*hi) << 16) | *lo;
}

Result<std::uint32_t> Reader::varint() {
  auto v = decode_varint(rest());
  if (!v) return v.error();
  if (v->length == 0) return kTruncated;
  pos_ += v->length;
  return v->value;
}

Result<std::string_view> Reader::bytes(std::size_t n) {
  if (remaining() < n) return kTruncated;
  auto s = data_.substr(pos_, n);
  pos_ += n;
  return s;
}

Result<std::string_view> Reader::binary() {
  auto len = u16();
  if (!len) return len.error();
  return bytes(*len);
}

Result<std::string_view> Reader::utf8() {
  auto s = binary();
  if (!s) return s;
  if (!is_valid_mqtt_utf8(*s)) return Error{ReasonCode::malformed_packet, "invalid UTF-8 string"};
  return s;
}

}  // namespace hermod::mqtt
