// decode_properties in each context (byte 0 picks it; the rest is a property list). Two oracles:
//  * the 0x81/0x82 split: an independent scanner below (written from table 2-4 of MQTT 5.0, not
//    from properties.cpp) says whether the list parses. Bytes that do not parse must fail with
//    malformed_packet wherever they sit; a list that parses must fail with protocol_error exactly
//    when a property is not allowed in the context, repeats, or has a value out of range, and
//    must decode otherwise.
//  * agreement: a list that decodes must re-encode to one no longer than the input that decodes
//    to the same properties, and encoded_properties_size must be exact.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "mqtt/properties.hpp"
#include "mqtt/utf8.hpp"
#include "mqtt/wire.hpp"

using namespace hermod::mqtt;

namespace {

enum Kind { kNone, kByte, kFlag, kTwo, kTwoNonZero, kFour, kFourNonZero, kVbiNonZero, kUtf8, kBinary, kPair };

Kind kind_of(std::uint32_t id) {
  switch (id) {
    case 0x01: case 0x17: case 0x19: case 0x24: case 0x25: case 0x28: case 0x29: case 0x2A: return kFlag;
    case 0x02: case 0x11: case 0x18: return kFour;
    case 0x27: return kFourNonZero;
    case 0x03: case 0x08: case 0x12: case 0x15: case 0x1A: case 0x1C: case 0x1F: return kUtf8;
    case 0x09: case 0x16: return kBinary;
    case 0x0B: return kVbiNonZero;
    case 0x13: case 0x22: case 0x23: return kTwo;
    case 0x21: return kTwoNonZero;
    case 0x26: return kPair;
    default: return kNone;
  }
}

// A variable byte integer in its shortest form, at most four bytes; false if it is not one.
bool scan_vbi(std::string_view& in, std::uint32_t& value) {
  value = 0;
  for (int i = 0; i < 4; ++i) {
    if (in.empty()) return false;
    const auto b = static_cast<std::uint8_t>(in[0]);
    in.remove_prefix(1);
    value |= static_cast<std::uint32_t>(b & 0x7F) << (7 * i);
    if (!(b & 0x80)) return i == 0 || b != 0;
  }
  return false;
}

bool scan_bytes(std::string_view& in, std::size_t n, std::string_view* out = nullptr) {
  if (in.size() < n) return false;
  if (out) *out = in.substr(0, n);
  in.remove_prefix(n);
  return true;
}

bool scan_string(std::string_view& in, bool utf8) {
  std::string_view len;
  if (!scan_bytes(in, 2, &len)) return false;
  const std::size_t n = (static_cast<std::uint8_t>(len[0]) << 8) | static_cast<std::uint8_t>(len[1]);
  std::string_view s;
  if (!scan_bytes(in, n, &s)) return false;
  return !utf8 || is_valid_mqtt_utf8(s);
}

enum class Verdict { ok, breach, unparsable };

Verdict scan(std::string_view in, PropertyContext ctx) {
  std::uint32_t length = 0;
  if (!scan_vbi(in, length) || in.size() < length) return Verdict::unparsable;
  std::string_view list = in.substr(0, length);
  bool breach = false;
  std::set<std::uint32_t> seen;
  while (!list.empty()) {
    std::uint32_t id = 0;
    if (!scan_vbi(list, id)) return Verdict::unparsable;
    const Kind k = kind_of(id);
    if (k == kNone) return Verdict::unparsable;
    if (!property_allowed(static_cast<PropertyId>(id), ctx)) breach = true;
    if (id != 0x26 && id != 0x0B && !seen.insert(id).second) breach = true;
    std::string_view v;
    std::uint32_t n = 0;
    switch (k) {
      case kFlag:
        if (!scan_bytes(list, 1, &v)) return Verdict::unparsable;
        if (static_cast<std::uint8_t>(v[0]) > 1) breach = true;
        break;
      case kTwo: case kTwoNonZero:
        if (!scan_bytes(list, 2, &v)) return Verdict::unparsable;
        if (k == kTwoNonZero && v[0] == 0 && v[1] == 0) breach = true;
        break;
      case kFour: case kFourNonZero:
        if (!scan_bytes(list, 4, &v)) return Verdict::unparsable;
        if (k == kFourNonZero && v == std::string_view("\0\0\0\0", 4)) breach = true;
        break;
      case kVbiNonZero:
        if (!scan_vbi(list, n)) return Verdict::unparsable;
        if (n == 0) breach = true;
        break;
      case kUtf8: if (!scan_string(list, true)) return Verdict::unparsable; break;
      case kBinary: if (!scan_string(list, false)) return Verdict::unparsable; break;
      case kPair:
        if (!scan_string(list, true) || !scan_string(list, true)) return Verdict::unparsable;
        break;
      default: return Verdict::unparsable;
    }
  }
  return breach ? Verdict::breach : Verdict::ok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto ctx = static_cast<PropertyContext>(1 + data[0] % 16);  // connect .. auth, will
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);

  Reader reader(in);
  auto props = decode_properties(reader, ctx);
  switch (scan(in, ctx)) {
    case Verdict::unparsable: FUZZ_CHECK(!props && props.error().code == ReasonCode::malformed_packet); return 0;
    case Verdict::breach: FUZZ_CHECK(!props && props.error().code == ReasonCode::protocol_error); return 0;
    case Verdict::ok: FUZZ_CHECK(props.ok()); break;
  }
  const std::size_t consumed = in.size() - reader.remaining();

  std::string out;
  encode_properties(out, *props, ctx);
  FUZZ_CHECK(out.size() == encoded_properties_size(*props, ctx));
  FUZZ_CHECK(out.size() <= consumed);

  Reader again(out);
  auto second = decode_properties(again, ctx);
  FUZZ_CHECK(second.ok());
  FUZZ_CHECK(again.empty());
  FUZZ_CHECK(*second == *props);  // so nothing that decoded was dropped as not allowed in ctx
  return 0;
}
