// Packets → bytes, for a peer that speaks `version`: MQTT 5 fields (properties, reason codes) are
// written only for v5 peers; for 3.1/3.1.1 they are dropped or mapped (CONNACK return codes).
// PUBLISH can be encoded as header only, so one shared payload serves many recipients.
// Any thread; no shared state. Preconditions: strings fit in 65535 bytes and the packet in
// kMaxPacketSize (the broker and the client validate before encoding).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mqtt/packet.hpp"

namespace hermod::mqtt {

// Appends the encoding of `packet` to `out`.
void encode(const Packet& packet, ProtocolVersion version, std::string& out);
std::string encode(const Packet& packet, ProtocolVersion version);

// The parts of a PUBLISH header that differ per recipient, without the payload bytes.
struct PublishHeader {
  std::string_view topic;
  std::size_t payload_size = 0;
  std::uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  PacketId packet_id = 0;
  const Properties* props = nullptr;  // may be null; must outlive the call
};

// Appends PUBLISH's fixed and variable header; the caller sends `payload_size` payload bytes after it.
void encode_publish_header(const PublishHeader& h, ProtocolVersion version, std::string& out);

// Total encoded size of a PUBLISH with this header (header and payload).
std::size_t publish_size(const PublishHeader& h, ProtocolVersion version);

}  // namespace hermod::mqtt
