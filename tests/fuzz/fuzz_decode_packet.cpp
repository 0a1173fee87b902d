// decode_packet with a round-trip oracle. Input: one byte choosing the session's protocol version
// (3.1, 3.1.1 or 5.0), then a packet. When it decodes, encoding the result and decoding that must
// give the same packet, the encoding must be canonical (encoding it again changes nothing) and no
// longer than the input, and PUBLISH's header-only encoding must agree with the whole one. The
// broker's fast path (decode_publish_view, decode_short_ack) must agree with decode_packet
// wherever it does not decline.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "mqtt/decoder.hpp"
#include "mqtt/encoder.hpp"

using namespace hermod::mqtt;

namespace {

constexpr ProtocolVersion kVersions[] = {ProtocolVersion::v3_1, ProtocolVersion::v3_1_1,
                                         ProtocolVersion::v5};

bool is_decoder_error(ReasonCode rc) {
  return rc == ReasonCode::malformed_packet || rc == ReasonCode::protocol_error ||
         rc == ReasonCode::unsupported_protocol_version || rc == ReasonCode::topic_name_invalid ||
         rc == ReasonCode::topic_filter_invalid;  // a 3.1.1 UNSUBSCRIBE filter
}

hermod::Result<Packet> decode_whole(std::string_view wire, ProtocolVersion v) {
  auto h = parse_fixed_header(wire);
  FUZZ_CHECK(h && *h && (*h)->total_length() == wire.size());
  return decode_packet(**h, wire.substr((*h)->header_length), v);
}

void check_publish_header(const Publish& p, ProtocolVersion v, const std::string& wire) {
  const PublishHeader h{p.topic, p.payload.size(), p.qos, p.retain, p.dup, p.packet_id, &p.props};
  std::string out;
  encode_publish_header(h, v, out);
  out += p.payload;
  FUZZ_CHECK(out == wire);
  FUZZ_CHECK(publish_size(h, v) == wire.size());
}

void check_fast_path(const FixedHeader& h, std::string_view body, ProtocolVersion v, const hermod::Result<Packet>& whole) {
  auto view = decode_publish_view(h, body, v);
  if (!view) {
    FUZZ_CHECK(!whole.ok() && whole.error().code == view.error().code);
    return;
  }
  if (*view) {
    FUZZ_CHECK(whole.ok());
    const auto* p = std::get_if<Publish>(&*whole);
    FUZZ_CHECK(p && p->props.empty() && p->topic == (*view)->topic && p->payload == (*view)->payload &&
               p->qos == (*view)->qos && p->retain == (*view)->retain && p->dup == (*view)->dup &&
               p->packet_id == (*view)->packet_id);
    return;
  }
  auto ack = decode_short_ack(h, body);
  if (!ack) {
    FUZZ_CHECK(!whole.ok() && whole.error().code == ack.error().code);
    return;
  }
  if (*ack) FUZZ_CHECK(whole.ok() && type_of(*whole) == h.type());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const ProtocolVersion v = kVersions[data[0] % 3];
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);

  auto parsed = parse_fixed_header(in);
  if (!parsed || !*parsed) return 0;
  FixedHeader h = **parsed;
  std::string_view body = in.substr(h.header_length);
  if (body.size() >= h.remaining_length) {
    body = body.substr(0, h.remaining_length);
  } else {
    // Let the fuzzer reach the body decoders without having to get the length right.
    h.remaining_length = static_cast<std::uint32_t>(body.size());
  }

  auto first = decode_packet(h, body, v);
  check_fast_path(h, body, v, first);
  if (!first) {
    FUZZ_CHECK(is_decoder_error(first.error().code));
    return 0;
  }
  FUZZ_CHECK(type_of(*first) == h.type());

  const std::string wire = encode(*first, v);
  FUZZ_CHECK(wire.size() <= h.header_length + std::size_t{h.remaining_length});
  auto second = decode_whole(wire, v);
  FUZZ_CHECK(second.ok());
  FUZZ_CHECK(*second == *first);
  FUZZ_CHECK(encode(*second, v) == wire);
  if (const auto* p = std::get_if<Publish>(&*first)) check_publish_header(*p, v, wire);
  return 0;
}
