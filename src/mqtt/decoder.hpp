// Bytes → packets. Three entry points, all incremental-friendly and allocation-light:
//  * parse_fixed_header: is a whole packet at the start of this buffer, and how long is it?
//  * decode_packet: one complete packet's body into a Packet, validated as the standard says.
//  * StreamDecoder: owns a buffer and yields packets from a byte stream split anywhere.
// Errors carry the reason code the receiver should report: malformed_packet (0x81),
// protocol_error (0x82), packet_too_large (0x95), topic_name_invalid (0x90, a wildcard or empty
// topic name), topic_filter_invalid (0x8F, only for a 3.1.1 UNSUBSCRIBE, which has no other way
// to refuse a filter) or unsupported_protocol_version (0x84, only from CONNECT, answered with
// CONNACK 0x01 to 3.1.1 clients).
// Any thread; no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mqtt/packet.hpp"
#include "mqtt/result.hpp"
#include "mqtt/wire.hpp"

namespace hermod::mqtt {

// Largest possible MQTT packet: 1 type byte + 4 length bytes + kMaxVarint.
inline constexpr std::uint32_t kMaxPacketSize = kMaxVarint + 5;

struct FixedHeader {
  std::uint8_t first_byte = 0;        // type in the high nibble, flags in the low one
  std::uint32_t remaining_length = 0;
  std::uint8_t header_length = 0;     // 2..5 bytes
  PacketType type() const { return static_cast<PacketType>(first_byte >> 4); }
  std::uint8_t flags() const { return first_byte & 0x0F; }
  std::size_t total_length() const { return header_length + std::size_t{remaining_length}; }
};

// Parses the fixed header at the start of `data`. nullopt: more bytes are needed to know.
// Errors: a remaining length of more than 4 bytes (malformed), a packet larger than
// `max_packet_size` (packet_too_large): reported as soon as the header is known, so a peer that
// declares a huge length is refused before it sends the bytes.
Result<std::optional<FixedHeader>> parse_fixed_header(std::string_view data,
                                                      std::uint32_t max_packet_size = kMaxPacketSize);

// Decodes one complete packet. `body` is exactly header.remaining_length bytes. `version` is the
// session's protocol version; CONNECT ignores it and reads its own. Every string is UTF-8
// validated, topic names are checked, reserved bits must be zero, reason codes must be ones the
// packet type allows, identifiers (client id, user name, topics, filters) hold no control
// characters, and topic filters are at least one character long. Decodes any packet type,
// whoever sent it (the client library and hermod-cli read CONNACK with it).
Result<Packet> decode_packet(const FixedHeader& header, std::string_view body, ProtocolVersion version);

// Who sent the bytes a receiver decodes. Four packet types travel only from the server
// (CONNACK, SUBACK, UNSUBACK, PINGRESP) and four only from the client (CONNECT, SUBSCRIBE,
// UNSUBSCRIBE, PINGREQ), a direction table 2-1 of both standards gives.
enum class Sender : std::uint8_t { client, server };

// Refuses a packet by its fixed header alone: one of the types `sender` never sends is a
// protocol error (0x82) whatever its body holds, and type 0 is malformed. Call it as soon as
// parse_fixed_header has a header, so such a packet is refused before its body arrives.
Result<void> check_packet_type(const FixedHeader& header, Sender sender);

// decode_packet for a receiver that knows who sent the packet: check_packet_type first, so a
// type `sender` never sends is refused by type (0x82) before its body is parsed.
Result<Packet> decode_packet(const FixedHeader& header, std::string_view body, ProtocolVersion version,
                             Sender sender);

// The broker's fast path for the two packets that make up almost all traffic, decoded without
// building a Packet (whose Properties alone are ~500 bytes to construct and destroy):
//  * a PUBLISH without properties (every 3.1/3.1.1 PUBLISH, and a 5.0 one whose property
//    length is 0), as views into `body`;
//  * an acknowledgement (PUBACK, PUBREC, PUBREL, PUBCOMP) of exactly 2 bytes: packet id only.
// nullopt: not such a packet (decode it with decode_packet). Errors are decode_packet's for the
// same bytes, so either path may be taken for any input.
struct PublishView {
  std::string_view topic;
  std::string_view payload;
  std::uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  PacketId packet_id = 0;
};
Result<std::optional<PublishView>> decode_publish_view(const FixedHeader& header, std::string_view body,
                                                       ProtocolVersion version);
// The packet id of a 2-byte acknowledgement, or nullopt for any other packet (including an
// acknowledgement with a reason code or properties). Errors: a zero packet id, reserved flags.
Result<std::optional<PacketId>> decode_short_ack(const FixedHeader& header, std::string_view body);

// A byte-stream decoder: feed() any split of the stream, then call next() until it returns nullopt.
// After a CONNECT is decoded, later packets are read with the CONNECT's protocol version; a client
// sets the version it sent with set_version(). After an error the stream is unusable.
class StreamDecoder {
 public:
  explicit StreamDecoder(std::uint32_t max_packet_size = kMaxPacketSize,
                         ProtocolVersion version = ProtocolVersion::v3_1_1)
      : max_packet_size_(max_packet_size), version_(version) {}

  void feed(std::string_view bytes) { buffer_.append(bytes); }
  Result<std::optional<Packet>> next();
  void set_version(ProtocolVersion v) { version_ = v; }
  ProtocolVersion version() const { return version_; }
  std::size_t buffered() const { return buffer_.size() - consumed_; }

 private:
  std::string buffer_;
  std::size_t consumed_ = 0;
  std::uint32_t max_packet_size_;
  ProtocolVersion version_;
};

}  // namespace hermod::mqtt
