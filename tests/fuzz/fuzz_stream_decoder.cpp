// StreamDecoder on a byte stream fed in chunks: the packets and the final outcome must not depend
// on how the stream is split. Input: byte 0 picks the initial version and the size limit, byte 1
// seeds the chunk sizes, the rest is the stream. The oracle is the same stream fed in one piece.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "mqtt/decoder.hpp"

using namespace hermod::mqtt;

namespace {

struct Outcome {
  std::vector<Packet> packets;
  std::optional<ReasonCode> error;
};

// Calls next() until it yields nothing; returns false once the decoder reported an error.
bool drain(StreamDecoder& d, Outcome& out) {
  while (true) {
    auto r = d.next();
    if (!r) {
      out.error = r.error().code;
      return false;
    }
    if (!*r) return true;
    out.packets.push_back(std::move(**r));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  constexpr ProtocolVersion kVersions[] = {ProtocolVersion::v3_1_1, ProtocolVersion::v3_1,
                                           ProtocolVersion::v5, ProtocolVersion::v3_1_1};
  const ProtocolVersion version = kVersions[data[0] & 0x03];
  const std::uint32_t limit = (data[0] & 0x04) ? 16u + (data[0] >> 3) * 8u : kMaxPacketSize;
  std::uint32_t rng = 0x9E3779B9u ^ data[1];
  const std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);

  StreamDecoder whole(limit, version);
  whole.feed(stream);
  Outcome expected;
  drain(whole, expected);

  StreamDecoder chunked(limit, version);
  Outcome got;
  std::size_t pos = 0;
  while (pos < stream.size()) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    // Mostly small chunks (splitting headers and fields), now and then a large one.
    const std::size_t n = (rng & 0x100) ? 1 + (rng % 300) : 1 + (rng % 6);
    chunked.feed(stream.substr(pos, n));
    pos += std::min(n, stream.size() - pos);
    if (!drain(chunked, got)) break;
  }

  FUZZ_CHECK(got.packets == expected.packets);
  FUZZ_CHECK(got.error == expected.error);
  if (!expected.error) {
    FUZZ_CHECK(chunked.buffered() == whole.buffered());
    FUZZ_CHECK(chunked.version() == whole.version());
  }
  return 0;
}
