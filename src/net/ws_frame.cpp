#include "net/ws_frame.hpp"

#include <algorithm>
#include <cstring>

namespace hermod::net::ws {

namespace {

bool is_control(Opcode op) { return (static_cast<std::uint8_t>(op) & 0x8) != 0; }

bool is_known(std::uint8_t op) { return op <= 0x2 || (op >= 0x8 && op <= 0xA); }

// Codes a close frame may carry (RFC 6455 section 7.4): the defined ones that are not reserved
// for local use, and the ranges for libraries (3000-3999) and applications (4000-4999).
bool valid_close_code(std::uint16_t c) {
  if (c >= 3000 && c <= 4999) return true;
  return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1011);
}

}  // namespace

HeaderStatus parse_header(const std::uint8_t* data, std::size_t size, FrameHeader& h) {
  if (size < 2) return HeaderStatus::incomplete;
  h.fin = (data[0] & 0x80) != 0;
  h.rsv = static_cast<std::uint8_t>((data[0] >> 4) & 0x7);
  h.opcode = static_cast<Opcode>(data[0] & 0x0F);
  h.masked = (data[1] & 0x80) != 0;
  const std::uint8_t len7 = data[1] & 0x7F;
  std::size_t at = 2;
  if (len7 == 126) {
    if (size < at + 2) return HeaderStatus::incomplete;
    h.payload_size = (std::uint64_t{data[2]} << 8) | data[3];
    at += 2;
  } else if (len7 == 127) {
    if (size < at + 8) return HeaderStatus::incomplete;
    h.payload_size = 0;
    for (int i = 0; i < 8; ++i) h.payload_size = (h.payload_size << 8) | data[at + i];
    at += 8;
  } else {
    h.payload_size = len7;
  }
  if (h.masked) {
    if (size < at + 4) return HeaderStatus::incomplete;
    std::memcpy(h.mask.data(), data + at, 4);
    at += 4;
  }
  h.header_size = at;
  return HeaderStatus::complete;
}

std::size_t encode_header(std::uint8_t* out, Opcode opcode, bool fin, std::uint64_t size, const MaskKey* mask) {
  out[0] = static_cast<std::uint8_t>((fin ? 0x80 : 0) | static_cast<std::uint8_t>(opcode));
  const std::uint8_t m = mask ? 0x80 : 0;
  std::size_t at;
  if (size < 126) {
    out[1] = static_cast<std::uint8_t>(m | size);
    at = 2;
  } else if (size <= 0xFFFF) {
    out[1] = m | 126;
    out[2] = static_cast<std::uint8_t>(size >> 8);
    out[3] = static_cast<std::uint8_t>(size);
    at = 4;
  } else {
    out[1] = m | 127;
    for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<std::uint8_t>(size >> (56 - 8 * i));
    at = 10;
  }
  if (mask) {
    std::memcpy(out + at, mask->data(), 4);
    at += 4;
  }
  return at;
}

std::size_t apply_mask(std::uint8_t* data, std::size_t size, const MaskKey& mask, std::size_t offset) {
  offset &= 3;
  std::size_t i = 0;
  // Byte by byte up to a key boundary, then eight bytes at a time with the key rotated to match.
  while (i < size && offset != 0) {
    data[i++] ^= mask[offset];
    offset = (offset + 1) & 3;
  }
  std::uint8_t key8[8];
  for (int k = 0; k < 8; ++k) key8[k] = mask[k & 3];
  std::uint64_t key;
  std::memcpy(&key, key8, 8);
  for (; i + 8 <= size; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, data + i, 8);
    word ^= key;
    std::memcpy(data + i, &word, 8);
  }
  for (; i < size; ++i) {
    data[i] ^= mask[offset];
    offset = (offset + 1) & 3;
  }
  return offset;
}

std::string control_frame(Opcode opcode, std::string_view payload, const MaskKey* mask) {
  payload = payload.substr(0, kMaxControlPayload);
  std::uint8_t header[kMaxHeaderSize];
  const std::size_t n = encode_header(header, opcode, true, payload.size(), mask);
  std::string frame(reinterpret_cast<const char*>(header), n);
  frame.append(payload);
  if (mask) {
    apply_mask(reinterpret_cast<std::uint8_t*>(frame.data() + n), payload.size(), *mask, 0);
  }
  return frame;
}

std::string close_payload(CloseCode code, std::string_view reason) {
  const auto c = static_cast<std::uint16_t>(code);
  std::string p{static_cast<char>(c >> 8), static_cast<char>(c & 0xFF)};
  p.append(reason.substr(0, kMaxControlPayload - 2));
  return p;
}

// -------------------------------------------------------------------------------- Deframer

MaskKey Deframer::next_mask() {
  // splitmix64: cheap, and every key differs; the seed is what makes them unpredictable.
  std::uint64_t z = (mask_state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  MaskKey key;
  std::memcpy(key.data(), &z, 4);
  return key;
}

void Deframer::queue(Opcode opcode, std::string_view payload) {
  if (options_.mask_output) {
    const MaskKey key = next_mask();
    output_ += control_frame(opcode, payload, &key);
  } else {
    output_ += control_frame(opcode, payload);
  }
}

void Deframer::fail(CloseCode code, const char* why) {
  failed_ = true;
  error_ = code;
  why_ = why;
  if (!close_sent_) {
    queue(Opcode::close, close_payload(code));
    close_sent_ = true;
  }
}

void Deframer::close(CloseCode code, std::string_view reason) {
  if (close_sent_) return;
  queue(Opcode::close, close_payload(code, reason));
  close_sent_ = true;
}

bool Deframer::begin_frame() {
  const FrameHeader& h = frame_;
  const auto op = static_cast<std::uint8_t>(h.opcode);
  if (h.rsv != 0) return fail(CloseCode::protocol_error, "reserved bits set (no extension was agreed)"), false;
  if (!is_known(op)) return fail(CloseCode::protocol_error, "unknown opcode"), false;
  if (h.masked != options_.expect_masked) {
    return fail(CloseCode::protocol_error, h.masked ? "masked frame from the server" : "unmasked frame from the client"),
           false;
  }
  if (h.payload_size >> 63) return fail(CloseCode::protocol_error, "frame length with the top bit set"), false;
  if (is_control(h.opcode)) {
    if (!h.fin) return fail(CloseCode::protocol_error, "fragmented control frame"), false;
    if (h.payload_size > kMaxControlPayload) return fail(CloseCode::protocol_error, "control frame over 125 bytes"), false;
    control_.clear();
  } else if (h.opcode == Opcode::continuation) {
    if (!in_message_) return fail(CloseCode::protocol_error, "continuation frame outside a message"), false;
  } else {
    if (in_message_) return fail(CloseCode::protocol_error, "new message inside a fragmented one"), false;
    // MQTT is carried in binary frames only ([MQTT-6.0.0-1]).
    if (h.opcode == Opcode::text) return fail(CloseCode::unsupported_data, "text frame (MQTT needs binary frames)"), false;
    in_message_ = true;
    message_size_ = 0;
  }
  if (!is_control(h.opcode)) {
    message_size_ += h.payload_size;
    if (message_size_ > options_.max_message_size) return fail(CloseCode::message_too_big, "message too big"), false;
  }
  left_ = h.payload_size;
  mask_offset_ = 0;
  in_frame_ = true;
  return true;
}

void Deframer::end_frame() {
  in_frame_ = false;
  if (!is_control(frame_.opcode)) {
    if (frame_.fin) in_message_ = false;
    return;
  }
  if (frame_.opcode == Opcode::ping) {
    if (!close_sent_) queue(Opcode::pong, control_);
  } else if (frame_.opcode == Opcode::close) {
    if (control_.size() == 1) return fail(CloseCode::protocol_error, "close frame with a one-byte payload");
    std::uint16_t code = static_cast<std::uint16_t>(CloseCode::no_status);
    if (control_.size() >= 2) {
      code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(control_[0]) << 8) | static_cast<std::uint8_t>(control_[1]));
      if (!valid_close_code(code)) return fail(CloseCode::protocol_error, "invalid close code");
    }
    closed_ = true;
    peer_code_ = static_cast<CloseCode>(code);
    // Answer with the same code (section 5.5.1); a close without one is answered "normal".
    if (!close_sent_) {
      queue(Opcode::close, close_payload(control_.size() >= 2 ? peer_code_ : CloseCode::normal));
      close_sent_ = true;
    }
  }
  control_.clear();
}

std::size_t Deframer::decode(std::uint8_t* data, std::size_t size) {
  std::size_t out = 0;
  std::size_t i = 0;
  while (i < size && !failed_ && !closed_) {
    if (!in_frame_) {
      // The header, possibly completing one split across reads.
      const std::size_t take = std::min(kMaxHeaderSize - header_size_, size - i);
      std::memcpy(header_.data() + header_size_, data + i, take);
      if (parse_header(header_.data(), header_size_ + take, frame_) == HeaderStatus::incomplete) {
        header_size_ = static_cast<std::uint8_t>(header_size_ + take);
        i += take;  // all of the input: a header needs at most 14 bytes
        break;
      }
      i += frame_.header_size - header_size_;
      header_size_ = 0;
      if (!begin_frame()) break;
      if (left_ == 0) end_frame();
      continue;
    }
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, size - i));
    if (frame_.masked) mask_offset_ = apply_mask(data + i, n, frame_.mask, mask_offset_);
    if (is_control(frame_.opcode)) {
      control_.append(reinterpret_cast<const char*>(data + i), n);
    } else {
      if (out != i) std::memmove(data + out, data + i, n);
      out += n;
    }
    i += n;
    left_ -= n;
    if (left_ == 0) end_frame();
  }
  return out;
}

}  // namespace hermod::net::ws
