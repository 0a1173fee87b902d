// WebSocket framing (RFC 6455 section 5): header encoding both ways, masking in pieces, and the
// Deframer's rules, each broken once, with the close code the broker answers.
#include "net/ws_frame.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace hermod::net::ws {
namespace {

using Bytes = std::vector<std::uint8_t>;

const MaskKey kKey{0x37, 0xfa, 0x21, 0x3d};

// A frame as a client sends it: masked with kKey.
Bytes client_frame(Opcode op, const std::string& payload, bool fin = true, std::uint8_t rsv = 0, bool masked = true) {
  Bytes out(kMaxHeaderSize);
  const std::size_t n = encode_header(out.data(), op, fin, payload.size(), masked ? &kKey : nullptr);
  out.resize(n);
  out[0] |= static_cast<std::uint8_t>(rsv << 4);
  Bytes body(payload.begin(), payload.end());
  if (masked) apply_mask(body.data(), body.size(), kKey, 0);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Decodes `in` in chunks of `chunk` bytes; returns the data bytes.
std::string decode_all(Deframer& d, Bytes in, std::size_t chunk) {
  std::string data;
  for (std::size_t at = 0; at < in.size(); at += chunk) {
    const std::size_t n = std::min(chunk, in.size() - at);
    const std::size_t got = d.decode(in.data() + at, n);
    data.append(reinterpret_cast<const char*>(in.data() + at), got);
  }
  return data;
}

TEST(WsFrame, HeaderLengthsRoundTrip) {
  for (const std::uint64_t size : {0ULL, 125ULL, 126ULL, 65535ULL, 65536ULL, 1ULL << 40}) {
    std::uint8_t h[kMaxHeaderSize];
    const std::size_t n = encode_header(h, Opcode::binary, true, size, &kKey);
    FrameHeader parsed;
    ASSERT_EQ(parse_header(h, n, parsed), HeaderStatus::complete) << size;
    EXPECT_EQ(parsed.payload_size, size);
    EXPECT_EQ(parsed.header_size, n);
    EXPECT_TRUE(parsed.masked);
    EXPECT_EQ(parsed.mask, kKey);
    EXPECT_EQ(parse_header(h, n - 1, parsed), HeaderStatus::incomplete) << "a header cut short needs more bytes";
  }
}

TEST(WsFrame, ServerFramesUseTheShortestLengthAndNoMask) {
  std::uint8_t h[kMaxHeaderSize];
  EXPECT_EQ(encode_header(h, Opcode::binary, true, 125), 2u);
  EXPECT_EQ(h[0], 0x82);
  EXPECT_EQ(h[1], 125);
  EXPECT_EQ(encode_header(h, Opcode::binary, true, 126), 4u);
  EXPECT_EQ(encode_header(h, Opcode::binary, true, 70000), 10u);
}

TEST(WsFrame, MaskingInPiecesEqualsMaskingAtOnce) {
  std::mt19937 rng(7);
  Bytes data(1000);
  for (auto& b : data) b = static_cast<std::uint8_t>(rng());
  Bytes whole = data;
  apply_mask(whole.data(), whole.size(), kKey, 0);
  for (const std::size_t cut : {1u, 3u, 8u, 13u, 500u}) {
    Bytes pieces = data;
    std::size_t offset = 0;
    for (std::size_t at = 0; at < pieces.size(); at += cut) {
      offset = apply_mask(pieces.data() + at, std::min(cut, pieces.size() - at), kKey, offset);
    }
    EXPECT_EQ(pieces, whole) << "cut " << cut;
  }
}

TEST(WsFrame, DataOfSeveralFramesComesOutAsOneStreamWhateverTheReadSizes) {
  // [MQTT-6.0.0-2]: packets may span frames, a frame may hold several packets.
  const Bytes in = cat({client_frame(Opcode::binary, "hello ", false), client_frame(Opcode::ping, "p"),
                        client_frame(Opcode::continuation, "wor", false), client_frame(Opcode::continuation, "ld"),
                        client_frame(Opcode::binary, std::string(300, 'x'))});
  for (const std::size_t chunk : {1u, 2u, 5u, 13u, 1000u}) {
    Deframer d({});
    EXPECT_EQ(decode_all(d, in, chunk), "hello world" + std::string(300, 'x')) << "chunk " << chunk;
    EXPECT_FALSE(d.failed()) << d.why();
    EXPECT_EQ(d.output(), control_frame(Opcode::pong, "p")) << "a ping is answered with its payload";
  }
}

TEST(WsFrame, EmptyFramesAreFine) {
  Deframer d({});
  EXPECT_EQ(decode_all(d, cat({client_frame(Opcode::binary, "", false), client_frame(Opcode::continuation, "a")}), 64), "a");
  EXPECT_FALSE(d.failed());
}

struct Broken {
  const char* name;
  Bytes frame;
  CloseCode code;
};

TEST(WsFrame, EachBrokenRuleClosesWithItsCode) {
  const std::vector<Broken> cases = {
      {"unmasked client frame (5.1)", client_frame(Opcode::binary, "x", true, 0, false), CloseCode::protocol_error},
      {"text frame ([MQTT-6.0.0-1])", client_frame(Opcode::text, "x"), CloseCode::unsupported_data},
      {"reserved bit (5.2)", client_frame(Opcode::binary, "x", true, 4), CloseCode::protocol_error},
      {"unknown opcode (5.2)", client_frame(static_cast<Opcode>(3), "x"), CloseCode::protocol_error},
      {"fragmented ping (5.5)", client_frame(Opcode::ping, "x", false), CloseCode::protocol_error},
      {"ping over 125 bytes (5.5)", client_frame(Opcode::ping, std::string(126, 'p')), CloseCode::protocol_error},
      {"continuation first (5.4)", client_frame(Opcode::continuation, "x"), CloseCode::protocol_error},
      {"binary inside a fragmented message (5.4)",
       cat({client_frame(Opcode::binary, "a", false), client_frame(Opcode::binary, "b")}), CloseCode::protocol_error},
      {"close with one byte (5.5.1)", client_frame(Opcode::close, "x"), CloseCode::protocol_error},
      {"close with code 1005 (7.4.1)", client_frame(Opcode::close, close_payload(CloseCode::no_status)),
       CloseCode::protocol_error},
      {"message over the limit", client_frame(Opcode::binary, std::string(101, 'm')), CloseCode::message_too_big},
  };
  for (const auto& c : cases) {
    Deframer d({true, 100});
    decode_all(d, c.frame, 1000);
    ASSERT_TRUE(d.failed()) << c.name;
    EXPECT_EQ(d.error_code(), c.code) << c.name;
    EXPECT_EQ(d.output(), control_frame(Opcode::close, close_payload(c.code))) << c.name;
    Bytes more = client_frame(Opcode::binary, "after");
    EXPECT_EQ(d.decode(more.data(), more.size()), 0u) << c.name << ": nothing is decoded after a failure";
  }
}

TEST(WsFrame, FragmentsCountTowardsTheMessageLimit) {
  Deframer d({true, 10});
  decode_all(d, cat({client_frame(Opcode::binary, "123456", false), client_frame(Opcode::continuation, "789012")}), 64);
  EXPECT_TRUE(d.failed());
  EXPECT_EQ(d.error_code(), CloseCode::message_too_big);
}

TEST(WsFrame, ThePeersCloseIsAnsweredWithItsCode) {
  Deframer d({});
  const std::string data = decode_all(d, cat({client_frame(Opcode::binary, "last"),
                                              client_frame(Opcode::close, close_payload(CloseCode::going_away, "bye")),
                                              client_frame(Opcode::binary, "ignored")}),
                                      1000);
  EXPECT_EQ(data, "last");
  EXPECT_TRUE(d.closed());
  EXPECT_FALSE(d.failed());
  EXPECT_EQ(d.peer_close_code(), CloseCode::going_away);
  EXPECT_EQ(d.output(), control_frame(Opcode::close, close_payload(CloseCode::going_away)));
}

TEST(WsFrame, AnEmptyCloseIsAnsweredNormal) {
  Deframer d({});
  decode_all(d, client_frame(Opcode::close, ""), 1000);
  EXPECT_TRUE(d.closed());
  EXPECT_EQ(d.peer_close_code(), CloseCode::no_status);
  EXPECT_EQ(d.output(), control_frame(Opcode::close, close_payload(CloseCode::normal)));
}

TEST(WsFrame, AClientDeframerWantsUnmaskedFramesAndMasksItsOwn) {
  Deframer d({false, 1000, true}, 42);
  Bytes in = cat({client_frame(Opcode::binary, "srv", true, 0, false), client_frame(Opcode::ping, "hi", true, 0, false)});
  EXPECT_EQ(decode_all(d, in, 1000), "srv");
  ASSERT_FALSE(d.failed()) << d.why();
  // The pong is masked: its second byte has the mask bit, and unmasked it says "hi".
  Bytes pong(d.output().begin(), d.output().end());
  FrameHeader h;
  ASSERT_EQ(parse_header(pong.data(), pong.size(), h), HeaderStatus::complete);
  EXPECT_TRUE(h.masked);
  EXPECT_EQ(h.opcode, Opcode::pong);
  apply_mask(pong.data() + h.header_size, 2, h.mask, 0);
  EXPECT_EQ(std::string(pong.begin() + static_cast<long>(h.header_size), pong.end()), "hi");
  Bytes masked = client_frame(Opcode::binary, "x");
  d.decode(masked.data(), masked.size());
  EXPECT_TRUE(d.failed()) << "a server's frame must not be masked (5.1)";
}

TEST(WsFrame, MaskKeysDiffer) {
  Deframer d({false, 1000, true}, 1);
  EXPECT_NE(d.next_mask(), d.next_mask());
}

}  // namespace
}  // namespace hermod::net::ws
