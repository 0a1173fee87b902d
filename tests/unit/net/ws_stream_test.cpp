// WsStream over a socketpair: the handshake inside the first reads, data frames decoded into the
// caller's buffer, gathered writes sent as one binary frame, pings answered, refusals answered
// and ended, and a stream that moves to another poller mid-message.
#include "net/ws_stream.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "net/tcp_stream.hpp"

namespace hermod::net {
namespace {

using namespace std::chrono_literals;

const ws::MaskKey kKey{1, 2, 3, 4};
constexpr const char* kKeyText = "dGhlIHNhbXBsZSBub25jZQ==";

std::string masked(ws::Opcode op, const std::string& payload, bool fin = true) {
  std::uint8_t h[ws::kMaxHeaderSize];
  const std::size_t n = ws::encode_header(h, op, fin, payload.size(), &kKey);
  std::string body = payload;
  ws::apply_mask(reinterpret_cast<std::uint8_t*>(body.data()), body.size(), kKey, 0);
  return std::string(reinterpret_cast<char*>(h), n) + body;
}

struct Ready final : StreamEvents {
  int calls = 0;
  void on_stream_ready(Side) override { ++calls; }
};

struct WsStreamTest : ::testing::Test {
  boost::asio::io_context io;
  Poller poller{io};
  int peer = -1;
  Ready ready;
  std::unique_ptr<Stream> stream;

  void SetUp() override { stream = make(std::make_shared<WsSettings>()); }
  void TearDown() override {
    if (peer >= 0) ::close(peer);
  }
  std::unique_ptr<Stream> make(std::shared_ptr<const WsSettings> settings) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    if (peer >= 0) ::close(peer);
    peer = fds[1];
    boost::system::error_code ec;
    auto tcp = TcpStream::open(poller, fds[0], {}, ec);
    auto s = WsStream::accept(std::move(tcp), std::move(settings), poller);
    s->set_events(&ready);
    return s;
  }
  void send(const std::string& s) { ASSERT_EQ(::write(peer, s.data(), s.size()), static_cast<ssize_t>(s.size())); }
  // What the stream sent, waiting a little for the first byte.
  std::string received() {
    pollfd p{peer, POLLIN, 0};
    ::poll(&p, 1, 1000);
    std::string out;
    char buf[65536];
    for (ssize_t n; (n = ::read(peer, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }
  // Reads from the stream until it returns data or ends (the handshake takes a call or two).
  IoResult read(std::string& out) {
    char buf[65536];
    for (int i = 0; i < 10; ++i) {
      const auto r = stream->try_read(buf, sizeof buf);
      out.append(buf, r.bytes);
      if (r.bytes > 0 || r.closed) return r;
    }
    return {};
  }
  void open() {
    send("GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
         std::string(kKeyText) + "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n");
    std::string data;
    const auto r = read(data);
    EXPECT_FALSE(r.closed);
    const std::string answer = received();
    ASSERT_EQ(answer.rfind("HTTP/1.1 101 ", 0), 0u) << answer;
  }
};

TEST_F(WsStreamTest, DecodesFramesIntoTheCallersBufferAfterTheHandshake) {
  open();
  send(masked(ws::Opcode::binary, "\x10\x02", false) + masked(ws::Opcode::continuation, "ab") +
       masked(ws::Opcode::binary, "cd"));
  std::string data;
  while (data.size() < 6 && !read(data).closed) {
  }
  EXPECT_EQ(data, std::string("\x10\x02", 2) + "abcd");
}

TEST_F(WsStreamTest, AGatheredWriteIsOneBinaryFrame) {
  open();
  const std::string a = "\x20\x02", b(2, '\0');
  const boost::asio::const_buffer bufs[] = {{a.data(), 2}, {b.data(), 2}, {"xyz", 3}};
  const auto r = stream->try_writev(bufs);
  EXPECT_EQ(r.bytes, 7u) << "the count is of payload bytes, not of the header";
  EXPECT_EQ(received(), std::string("\x82\x07", 2) + a + b + "xyz");
}

TEST_F(WsStreamTest, APingIsAnsweredWithAPong) {
  open();
  send(masked(ws::Opcode::ping, "are you there") + masked(ws::Opcode::binary, "d"));
  std::string data;
  read(data);
  EXPECT_EQ(data, "d");
  EXPECT_EQ(received(), ws::control_frame(ws::Opcode::pong, "are you there"));
}

TEST_F(WsStreamTest, ABrokenRuleSendsItsCloseCodeAndEndsTheStream) {
  open();
  send(masked(ws::Opcode::text, "{}"));
  std::string data;
  const auto r = read(data);
  EXPECT_TRUE(r.closed);
  EXPECT_TRUE(r.error) << "a protocol error, not a clean end";
  EXPECT_EQ(received(), ws::control_frame(ws::Opcode::close, ws::close_payload(ws::CloseCode::unsupported_data)));
}

TEST_F(WsStreamTest, AnErrorBehindDataInTheSameReadIsReportedWithoutNewBytes) {
  open();
  // Half an MQTT packet, then an unmasked frame, in one read: the data comes first, and the
  // error must not wait for bytes the client will never send.
  send(masked(ws::Opcode::binary, std::string("\x30\x17\x00", 3)) + std::string("\x82\x01x", 3));
  std::string data;
  ASSERT_FALSE(read(data).closed);
  EXPECT_EQ(data, std::string("\x30\x17\x00", 3));
  stream->async_wait(Side::reading, Want::read);
  const auto until = std::chrono::steady_clock::now() + 1s;
  while (ready.calls == 0 && std::chrono::steady_clock::now() < until) io.run_for(10ms);
  ASSERT_EQ(ready.calls, 1) << "the wait completes from the loop";
  const auto r = read(data);
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(received(), ws::control_frame(ws::Opcode::close, ws::close_payload(ws::CloseCode::protocol_error)));
}

TEST_F(WsStreamTest, TheClientsCloseIsACleanEnd) {
  open();
  send(masked(ws::Opcode::close, ws::close_payload(ws::CloseCode::normal)));
  std::string data;
  const auto r = read(data);
  EXPECT_TRUE(r.closed);
  EXPECT_FALSE(r.error);
  EXPECT_EQ(received(), ws::control_frame(ws::Opcode::close, ws::close_payload(ws::CloseCode::normal)));
}

TEST_F(WsStreamTest, ARefusedRequestIsAnsweredAndEnds) {
  send("GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string data;
  const auto r = read(data);
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(received().rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u);
}

TEST_F(WsStreamTest, ForwardedAddressFromATrustedProxyBecomesTheRemote) {
  auto settings = std::make_shared<WsSettings>();
  settings->server.trusted_proxies = {*AddressRange::parse("0.0.0.0/0")};
  stream = make(settings);  // a socketpair's peer reads as 0.0.0.0
  send("GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
       std::string(kKeyText) + "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n" +
       "X-Forwarded-For: 203.0.113.9\r\n\r\n");
  std::string data;
  read(data);
  EXPECT_EQ(stream->remote().address().to_string(), "203.0.113.9");
}

TEST_F(WsStreamTest, MovesToAnotherPollerInTheMiddleOfAMessage) {
  open();
  send(masked(ws::Opcode::binary, "first", false) + masked(ws::Opcode::continuation, "sec", false).substr(0, 4));
  std::string data;
  read(data);
  EXPECT_EQ(data, "first");
  auto detached = stream->detach();
  ASSERT_TRUE(detached);
  boost::asio::io_context io2;
  Poller poller2(io2);
  stream = detached->attach(poller2);
  ASSERT_TRUE(stream);
  stream->set_events(&ready);
  send(masked(ws::Opcode::continuation, "sec", false).substr(4) + masked(ws::Opcode::continuation, "ond"));
  while (data.size() < 11 && !read(data).closed) {
  }
  EXPECT_EQ(data, "firstsecond") << "the frame split at the hand-off is decoded with its mask offset";
  stream->close();
}

}  // namespace
}  // namespace hermod::net
