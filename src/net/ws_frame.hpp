// WebSocket framing (RFC 6455 section 5) without I/O: frame headers in and out, masking, and a
// Deframer that turns a received byte stream into the bytes of its data frames, in place.
//
// MQTT over WebSocket is one byte stream carried in binary messages ([MQTT-6.0.0-1..4]): packets
// may be split across frames and a frame may hold several packets, so frame boundaries carry no
// meaning to MQTT and the Deframer hands the payload on as a stream. It works in the caller's
// buffer: a received read is unmasked and compacted over the frame headers it contained, so the
// broker decodes MQTT from its worker's scratch buffer as it does over TCP (no copy, no buffer per
// idle connection). Control frames (ping, pong, close) are handled here; what they call for (a
// pong, a closing handshake) is queued as bytes to send (`output()`).
//
// Used by both ends: the broker's WsStream (client frames must be masked, its own are not) and the
// client library (the other way round). Threads: none; one Deframer per connection.
// Invariants: after failed() or closed() decode() returns 0 and queues nothing more.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hermod::net::ws {

enum class Opcode : std::uint8_t { continuation = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA };

// Status codes of a close frame (RFC 6455 section 7.4.1).
enum class CloseCode : std::uint16_t {
  normal = 1000,
  going_away = 1001,
  protocol_error = 1002,
  unsupported_data = 1003,  // a text frame: MQTT is binary ([MQTT-6.0.0-1])
  no_status = 1005,         // never sent: a close frame without a code
  invalid_payload = 1007,
  policy_violation = 1008,
  message_too_big = 1009,
  internal_error = 1011,
};

using MaskKey = std::array<std::uint8_t, 4>;

// The largest frame header: 2 bytes, an 8-byte length and a 4-byte mask key.
inline constexpr std::size_t kMaxHeaderSize = 14;
// A control frame's payload is at most 125 bytes (section 5.5).
inline constexpr std::size_t kMaxControlPayload = 125;

struct FrameHeader {
  bool fin = true;
  std::uint8_t rsv = 0;  // the three reserved bits; no extension is negotiated, so they must be 0
  Opcode opcode = Opcode::binary;
  bool masked = false;
  MaskKey mask{};
  std::uint64_t payload_size = 0;
  std::size_t header_size = 0;  // bytes the header took
};

enum class HeaderStatus : std::uint8_t { complete, incomplete };

// Reads the header at the start of [data, data + size): complete (with `header` filled) or
// incomplete (more bytes needed). Checks nothing beyond the encoding; see Deframer for the rules.
HeaderStatus parse_header(const std::uint8_t* data, std::size_t size, FrameHeader& header);

// Writes the header of a frame carrying `payload_size` bytes into `out` (kMaxHeaderSize bytes of
// room), masked with `mask` when one is given (a client's frames); returns its size.
std::size_t encode_header(std::uint8_t* out, Opcode opcode, bool fin, std::uint64_t payload_size,
                          const MaskKey* mask = nullptr);

// XORs `size` bytes with `mask`, the first byte with key byte `offset % 4`; returns the offset of
// the byte after them (for a payload masked in pieces).
std::size_t apply_mask(std::uint8_t* data, std::size_t size, const MaskKey& mask, std::size_t offset);

// A whole control frame (close, ping or pong) with `payload` (at most 125 bytes), masked when
// `mask` is given.
std::string control_frame(Opcode opcode, std::string_view payload, const MaskKey* mask = nullptr);
// A close frame's payload: the code, then a reason (cut to fit a control frame).
std::string close_payload(CloseCode code, std::string_view reason = {});

class Deframer {
 public:
  struct Options {
    bool expect_masked = true;  // a server: every frame from the client must be masked (5.1)
    std::uint64_t max_message_size = 268'435'460;  // bytes of one (possibly fragmented) message
    bool mask_output = false;   // a client: the frames this side sends are masked (keys: next_mask)
  };
  // `seed`: where the mask keys of a client start (from a random source: RFC 6455 section 10.3
  // asks for keys a third party cannot predict).
  explicit Deframer(Options options, std::uint64_t seed = 0) : options_(options), mask_state_(seed) {}

  // Decodes the `size` received bytes at `data` in place: the payload of every data frame (binary
  // and its continuations) is unmasked and moved to the front, and its length returned. Control
  // frames are consumed and answered into output(); a protocol error or a close ends decoding.
  std::size_t decode(std::uint8_t* data, std::size_t size);

  // Bytes this side must send (pongs, its close frame), to be written before any later data frame
  // would be. The writer removes what it sent.
  std::string& output() { return output_; }

  // A rule was broken: the close frame with `error_code()` is queued; the connection should end
  // once output() is written. `why()` says what, for the log.
  bool failed() const { return failed_; }
  CloseCode error_code() const { return error_; }
  const char* why() const { return why_; }
  // The peer sent a close frame (our answering close is queued): the stream has ended cleanly.
  bool closed() const { return closed_; }
  CloseCode peer_close_code() const { return peer_code_; }
  // Starts the closing handshake from this side (queues a close frame); decode() then reads on
  // until the peer's close.
  void close(CloseCode code, std::string_view reason = {});
  bool close_sent() const { return close_sent_; }
  // The key for the next frame this side sends (mask_output only).
  MaskKey next_mask();

  // For the hand-off between workers: the state is plain values and moves with the stream.
  Deframer(Deframer&&) = default;
  Deframer& operator=(Deframer&&) = default;

 private:
  void fail(CloseCode code, const char* why);
  // frame_'s header is complete: checks it against the rules; false if it broke one.
  bool begin_frame();
  void end_frame();
  void queue(Opcode opcode, std::string_view payload);

  Options options_;
  std::string output_;
  std::string control_;  // a control frame's payload received so far
  FrameHeader frame_;    // the frame being received, once its header is complete
  std::uint64_t mask_state_;
  std::uint64_t left_ = 0;          // payload bytes of frame_ still to come
  std::uint64_t message_size_ = 0;  // payload bytes of the current data message so far
  std::size_t mask_offset_ = 0;
  std::array<std::uint8_t, kMaxHeaderSize> header_{};  // a header split across reads
  std::uint8_t header_size_ = 0;
  bool in_frame_ = false;    // frame_ is being received (its header is complete)
  bool in_message_ = false;  // a data message began and its final frame has not come
  bool failed_ = false;
  bool closed_ = false;
  bool close_sent_ = false;
  CloseCode error_ = CloseCode::normal;
  CloseCode peer_code_ = CloseCode::no_status;
  const char* why_ = "";
};

}  // namespace hermod::net::ws
