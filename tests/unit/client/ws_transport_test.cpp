// WsTransport over a scripted inner transport: the test plays the server's side of the byte
// stream (the upgrade response, unmasked server frames) and reads what the client wrote.
#include "client/ws_transport.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <functional>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "client/error.hpp"
#include "client/transport_factory.hpp"
#include "net/ws_frame.hpp"
#include "net/ws_handshake.hpp"

namespace hermod::client {
namespace {

namespace asio = boost::asio;
namespace ws = net::ws;

// The byte stream under the WebSocket: connects at once, keeps every write, and completes a read
// when the test pushes bytes. Completions are posted, as a socket's would be.
class ScriptedStream : public Transport, public std::enable_shared_from_this<ScriptedStream> {
 public:
  explicit ScriptedStream(asio::io_context& io) : io_(io) {}

  void async_connect(const std::string& host, std::uint16_t port, ConnectHandler handler) override {
    connected_to = host + ":" + std::to_string(port);
    asio::post(io_, [handler = std::move(handler)] { handler({}); });
  }
  void async_read_some(asio::mutable_buffer buffer, IoHandler handler) override {
    read_buffer_ = buffer;
    read_handler_ = std::move(handler);
    deliver();
  }
  void async_write(asio::const_buffer buffer, IoHandler handler) override {
    written.append(static_cast<const char*>(buffer.data()), buffer.size());
    asio::post(io_, [handler = std::move(handler), n = buffer.size()] { handler({}, n); });
  }
  void close() override { closed = true; }

  void push(std::string bytes) {
    incoming_ += bytes;
    deliver();
  }

  std::string connected_to;
  std::string written;
  bool closed = false;

 private:
  void deliver() {
    if (!read_handler_ || incoming_.empty()) return;
    const std::size_t n = std::min(incoming_.size(), read_buffer_.size());
    std::memcpy(read_buffer_.data(), incoming_.data(), n);
    incoming_.erase(0, n);
    asio::post(io_, [h = std::move(read_handler_), n] { h({}, n); });
    read_handler_ = nullptr;
  }

  asio::io_context& io_;
  asio::mutable_buffer read_buffer_;
  IoHandler read_handler_;
  std::string incoming_;
};

// A server frame: never masked.
std::string server_frame(ws::Opcode op, std::string_view payload) {
  std::uint8_t header[ws::kMaxHeaderSize];
  const std::size_t n = ws::encode_header(header, op, true, payload.size());
  return std::string(reinterpret_cast<const char*>(header), n) + std::string(payload);
}

struct Frame {
  ws::FrameHeader header;
  std::string payload;  // unmasked
};

// Takes the frames at the start of `bytes` (the client's, all masked).
std::vector<Frame> take_frames(std::string& bytes) {
  std::vector<Frame> frames;
  for (;;) {
    Frame f;
    const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
    if (ws::parse_header(data, bytes.size(), f.header) != ws::HeaderStatus::complete) break;
    if (bytes.size() < f.header.header_size + f.header.payload_size) break;
    f.payload = bytes.substr(f.header.header_size, f.header.payload_size);
    if (f.header.masked) ws::apply_mask(reinterpret_cast<std::uint8_t*>(f.payload.data()), f.payload.size(), f.header.mask, 0);
    bytes.erase(0, f.header.header_size + f.header.payload_size);
    frames.push_back(std::move(f));
  }
  return frames;
}

class WsTransportTest : public ::testing::Test {
 protected:
  WsTransportTest() {
    stream = std::make_shared<ScriptedStream>(io);
    transport = std::make_shared<WsTransport>(io.get_executor(), stream, WsSettings{"/mqtt", {"mqtt"}});
  }

  // Runs until the connect completes with the server answering `response(key)`.
  std::error_code connect(const std::function<std::string(const std::string& key)>& response) {
    std::optional<std::error_code> result;
    transport->async_connect("broker.test", 9001, [&](std::error_code ec) { result = ec; });
    io.run_for(std::chrono::milliseconds(50));
    io.restart();
    const auto at = stream->written.find("Sec-WebSocket-Key: ");
    EXPECT_NE(at, std::string::npos) << stream->written;
    key = stream->written.substr(at + 19, stream->written.find("\r\n", at) - at - 19);
    request = stream->written;
    stream->written.clear();
    stream->push(response(key));
    while (!result && io.run_one_for(std::chrono::seconds(2))) {
    }
    io.restart();
    EXPECT_TRUE(result.has_value());
    return result.value_or(make_error_code(Errc::timeout));
  }

  static std::string accepting(const std::string& key) {
    return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: " +
           ws::accept_key(key) + "\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
  }

  // One async_read_some, run to completion (or nothing within a short time).
  std::optional<std::pair<std::error_code, std::string>> read() {
    std::optional<std::pair<std::error_code, std::string>> got;
    transport->async_read_some(asio::buffer(buffer), [&](std::error_code ec, std::size_t n) {
      got.emplace(ec, std::string(buffer.data(), n));
    });
    while (!got && io.run_one_for(std::chrono::milliseconds(200))) {
    }
    io.restart();
    return got;
  }

  asio::io_context io;
  std::shared_ptr<ScriptedStream> stream;
  std::shared_ptr<WsTransport> transport;
  std::string key;
  std::string request;
  std::array<char, 4096> buffer{};
};

TEST_F(WsTransportTest, UpgradeRequestOffersMqttOnThePathWithARandomKey) {
  ASSERT_FALSE(connect(accepting));
  EXPECT_EQ(stream->connected_to, "broker.test:9001");
  EXPECT_EQ(request.rfind("GET /mqtt HTTP/1.1\r\n", 0), 0u) << request;
  EXPECT_NE(request.find("Host: broker.test:9001\r\n"), std::string::npos) << request;
  EXPECT_NE(request.find("Sec-WebSocket-Protocol: mqtt\r\n"), std::string::npos) << request;
  EXPECT_NE(request.find("Sec-WebSocket-Version: 13\r\n"), std::string::npos) << request;
  EXPECT_EQ(key.size(), 24u);  // base64 of 16 bytes
  EXPECT_EQ(transport->protocol(), "mqtt");
}

TEST_F(WsTransportTest, KeysDifferBetweenConnections) {
  ASSERT_FALSE(connect(accepting));
  const std::string first = key;
  stream = std::make_shared<ScriptedStream>(io);
  transport = std::make_shared<WsTransport>(io.get_executor(), stream, WsSettings{});
  ASSERT_FALSE(connect(accepting));
  EXPECT_NE(first, key);
}

TEST_F(WsTransportTest, FramesThatCameWithTheResponseAreRead) {
  ASSERT_FALSE(connect([](const std::string& k) { return accepting(k) + server_frame(ws::Opcode::binary, "abc"); }));
  auto got = read();
  ASSERT_TRUE(got);
  EXPECT_FALSE(got->first);
  EXPECT_EQ(got->second, "abc");
}

TEST_F(WsTransportTest, EachWriteIsOneMaskedBinaryFrame) {
  ASSERT_FALSE(connect(accepting));
  std::optional<std::error_code> done;
  std::size_t reported = 0;
  const std::string payload = "\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c";
  transport->async_write(asio::buffer(payload), [&](std::error_code ec, std::size_t n) {
    done = ec;
    reported = n;
  });
  while (!done && io.run_one_for(std::chrono::seconds(1))) {
  }
  io.restart();
  ASSERT_TRUE(done);
  EXPECT_FALSE(*done);
  EXPECT_EQ(reported, payload.size());
  auto frames = take_frames(stream->written);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].header.opcode, ws::Opcode::binary);
  EXPECT_TRUE(frames[0].header.fin);
  EXPECT_TRUE(frames[0].header.masked) << "[RFC 6455 5.3] a client masks every frame";
  EXPECT_EQ(frames[0].payload, payload);
  EXPECT_TRUE(stream->written.empty());
}

TEST_F(WsTransportTest, PingIsAnsweredWithPongAndDataStillArrives) {
  ASSERT_FALSE(connect(accepting));
  stream->push(server_frame(ws::Opcode::ping, "hi") + server_frame(ws::Opcode::binary, "data"));
  auto got = read();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->second, "data");
  io.run_for(std::chrono::milliseconds(20));
  io.restart();
  auto frames = take_frames(stream->written);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].header.opcode, ws::Opcode::pong);
  EXPECT_TRUE(frames[0].header.masked);
  EXPECT_EQ(frames[0].payload, "hi");
}

TEST_F(WsTransportTest, ReadOfOnlyAControlFrameWaitsForData) {
  ASSERT_FALSE(connect(accepting));
  std::optional<std::string> got;
  transport->async_read_some(asio::buffer(buffer), [&](std::error_code, std::size_t n) { got = std::string(buffer.data(), n); });
  stream->push(server_frame(ws::Opcode::ping, ""));
  io.run_for(std::chrono::milliseconds(30));
  io.restart();
  EXPECT_FALSE(got) << "a completion carries MQTT bytes, never zero";
  stream->push(server_frame(ws::Opcode::binary, "x"));
  while (!got && io.run_one_for(std::chrono::seconds(1))) {
  }
  EXPECT_EQ(got.value_or(""), "x");
}

TEST_F(WsTransportTest, CloseFrameEndsTheStreamWithWebsocketClosed) {
  ASSERT_FALSE(connect(accepting));
  stream->push(server_frame(ws::Opcode::close, ws::close_payload(ws::CloseCode::going_away)));
  auto got = read();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->first, make_error_code(Errc::websocket_closed));
  EXPECT_NE(transport->error_detail().find("1001"), std::string::npos) << transport->error_detail();
  io.run_for(std::chrono::milliseconds(20));
  io.restart();
  auto frames = take_frames(stream->written);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].header.opcode, ws::Opcode::close) << "the close is answered";
  // Later reads fail at once.
  auto again = read();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->first, make_error_code(Errc::websocket_closed));
}

TEST_F(WsTransportTest, MaskedFrameFromTheServerIsAProtocolError) {
  ASSERT_FALSE(connect(accepting));
  const ws::MaskKey mask{1, 2, 3, 4};
  std::uint8_t header[ws::kMaxHeaderSize];
  const std::size_t n = ws::encode_header(header, ws::Opcode::binary, true, 1, &mask);
  stream->push(std::string(reinterpret_cast<const char*>(header), n) + "z");
  auto got = read();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->first, make_error_code(Errc::websocket_error));
  EXPECT_NE(transport->error_detail().find("masked"), std::string::npos) << transport->error_detail();
}

TEST_F(WsTransportTest, RefusedUpgradeSaysWhatTheServerAnswered) {
  const auto ec = connect([](const std::string&) { return std::string("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"); });
  EXPECT_EQ(ec, make_error_code(Errc::websocket_refused));
  EXPECT_NE(transport->error_detail().find("404"), std::string::npos) << transport->error_detail();
}

TEST_F(WsTransportTest, WrongAcceptKeyIsRefused) {
  const auto ec = connect([](const std::string&) {
    return std::string("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: bm90IHRoZSByaWdodCBrZXk=\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n");
  });
  EXPECT_EQ(ec, make_error_code(Errc::websocket_refused));
  EXPECT_NE(transport->error_detail().find("Accept"), std::string::npos) << transport->error_detail();
}

TEST_F(WsTransportTest, ResponseSplitAcrossReadsIsJoined) {
  std::optional<std::error_code> result;
  transport->async_connect("h", 80, [&](std::error_code ec) { result = ec; });
  io.run_for(std::chrono::milliseconds(30));
  io.restart();
  const auto at = stream->written.find("Sec-WebSocket-Key: ");
  const std::string k = stream->written.substr(at + 19, 24);
  const std::string response = accepting(k);
  stream->push(response.substr(0, 20));
  io.run_for(std::chrono::milliseconds(20));
  io.restart();
  EXPECT_FALSE(result);
  stream->push(response.substr(20));
  while (!result && io.run_one_for(std::chrono::seconds(1))) {
  }
  ASSERT_TRUE(result);
  EXPECT_FALSE(*result);
}

TEST(WsSubprotocols, MqttForV311AndV5AndMqttv31ForV31) {
  EXPECT_EQ(websocket_protocols(mqtt::ProtocolVersion::v3_1_1), std::vector<std::string>{"mqtt"});
  EXPECT_EQ(websocket_protocols(mqtt::ProtocolVersion::v5), std::vector<std::string>{"mqtt"});
  EXPECT_EQ(websocket_protocols(mqtt::ProtocolVersion::v3_1), std::vector<std::string>{"mqttv3.1"});
}

}  // namespace
}  // namespace hermod::client
