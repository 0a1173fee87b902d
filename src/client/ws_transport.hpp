// MQTT over WebSocket (RFC 6455, [MQTT-6.0.0]) on top of another Transport: TcpTransport for ws,
// TlsTransport for wss. The framing and the handshake are src/net's (ws_frame.hpp,
// ws_handshake.hpp), the ones the broker's listeners use; this class only moves bytes.
//
//  * async_connect: the inner connect, then the HTTP upgrade: GET <path> with Host, a random
//    16-byte Sec-WebSocket-Key and the subprotocols offered ("mqtt"; "mqttv3.1" for MQTT 3.1),
//    and the check of the server's 101 (accept key, chosen subprotocol). A refusal completes with
//    Errc::websocket_refused, its reason in error_detail().
//  * async_write: each write is one binary frame, masked with a fresh key (the payload is copied
//    to be masked: the client's buffer is const, and client traffic is small).
//  * async_read_some: reads into the caller's buffer and decodes it in place (the Deframer
//    unmasks nothing here, it compacts payloads over frame headers); a read that held only
//    control frames or part of a header reads again, so a completion always carries MQTT bytes.
//    Pings are answered with pongs, written between the client's frames. A close frame ends the
//    stream with Errc::websocket_closed, a broken rule with Errc::websocket_error.
//  * close: closes the inner transport (no closing handshake: MQTT's DISCONNECT has been sent).
//
// Mask keys and the Sec-WebSocket-Key come from OpenSSL's RAND_bytes (a CSPRNG), as RFC 6455
// section 10.3 asks. Threads and invariants as in transport.hpp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "client/transport.hpp"
#include "net/ws_frame.hpp"

namespace hermod::client {

struct WsSettings {
  std::string path = "/mqtt";
  std::vector<std::string> protocols = {"mqtt"};  // offered in order of preference
};

class WsTransport final : public Transport, public std::enable_shared_from_this<WsTransport> {
 public:
  WsTransport(const boost::asio::any_io_executor& ex, std::shared_ptr<Transport> inner, WsSettings settings);

  void async_connect(const std::string& host, std::uint16_t port, ConnectHandler handler) override;
  void async_read_some(boost::asio::mutable_buffer buffer, IoHandler handler) override;
  void async_write(boost::asio::const_buffer buffer, IoHandler handler) override;
  void close() override;
  std::string error_detail() const override;

  // The subprotocol the server chose (after a successful connect).
  const std::string& protocol() const { return protocol_; }

 private:
  void read_response(ConnectHandler handler);
  void on_response_bytes(ConnectHandler handler, std::error_code ec, std::size_t n);
  void on_inner_read(boost::asio::mutable_buffer buffer, IoHandler handler, std::error_code ec, std::size_t n);
  // The error that ends the stream once the Deframer failed or saw a close, else {}.
  std::error_code stream_end();
  void take_control_output();
  void pump();

  boost::asio::any_io_executor ex_;
  std::shared_ptr<Transport> inner_;
  WsSettings settings_;
  net::ws::Deframer deframer_;
  std::string key_;
  std::string protocol_;
  std::string detail_;
  std::string response_;  // the upgrade response as received
  std::string leftover_;  // bytes after the response: the start of the frames

  std::string out_;      // frames waiting for the inner write in flight
  std::string writing_;  // the frames of the inner write in flight
  bool inner_writing_ = false;
  IoHandler write_handler_;        // the client's write, whose frame is in out_ or writing_
  std::size_t write_size_ = 0;
  bool write_in_writing_ = false;  // its frame is part of writing_
  std::error_code write_error_;
  bool closed_ = false;
};

}  // namespace hermod::client
