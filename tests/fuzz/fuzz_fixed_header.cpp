// parse_fixed_header on arbitrary bytes: never reads past the input, reports "need more" only while
// the remaining length is unfinished, and applies the size limit as soon as the header is known.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "mqtt/decoder.hpp"
#include "mqtt/wire.hpp"

using namespace hermod::mqtt;

namespace {
constexpr std::uint32_t kSmallLimit = 64;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto any = parse_fixed_header(in);
  const auto small = parse_fixed_header(in, kSmallLimit);

  if (!any) {
    FUZZ_CHECK(any.error().code == ReasonCode::malformed_packet);  // only a too-long length
    FUZZ_CHECK(!small && small.error().code == ReasonCode::malformed_packet);
    return 0;
  }
  if (!*any) {
    // Need more bytes: the type byte and at most three continuation bytes have arrived.
    FUZZ_CHECK(size <= 4);
    FUZZ_CHECK(small && !*small);
    return 0;
  }

  const FixedHeader h = **any;
  FUZZ_CHECK(h.first_byte == data[0]);
  FUZZ_CHECK(h.header_length >= 2 && h.header_length <= 5 && h.header_length <= size);
  FUZZ_CHECK(h.remaining_length <= kMaxVarint && h.total_length() <= kMaxPacketSize);

  // The length bytes are a varint of the same value; the minimal encoding is never longer.
  std::string minimal;
  append_varint(minimal, h.remaining_length);
  FUZZ_CHECK(minimal.size() == varint_size(h.remaining_length));
  FUZZ_CHECK(minimal.size() <= std::size_t{h.header_length} - 1u);
  if (minimal.size() == std::size_t{h.header_length} - 1u) {
    FUZZ_CHECK(in.substr(1, minimal.size()) == minimal);
  }

  if (h.total_length() > kSmallLimit) {
    FUZZ_CHECK(!small && small.error().code == ReasonCode::packet_too_large);
  } else {
    FUZZ_CHECK(small && *small && (*small)->remaining_length == h.remaining_length &&
               (*small)->header_length == h.header_length);
  }

  // Every proper prefix of the header asks for more bytes.
  for (std::size_t n = 0; n < h.header_length; ++n) {
    const auto prefix = parse_fixed_header(in.substr(0, n));
    FUZZ_CHECK(prefix && !*prefix);
  }
  return 0;
}
