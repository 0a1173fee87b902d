// MQTT over WebSocket for the broker's listeners: WsStream, the server side of RFC 6455 over
// another Stream (TCP for `ws`, TlsStream for `wss`).
//
// The opening handshake runs inside the first try_read calls (ws_handshake.hpp checks the
// request); a refused request gets its 4xx answer and the stream ends. Once open, try_read reads
// the inner stream into the caller's buffer and the Deframer (ws_frame.hpp) unmasks and compacts
// the data frames there, so MQTT is decoded from the worker's scratch buffer as over TCP; control
// frames are answered from here. try_writev sends a gathered write as one binary frame: a header
// of 2 to 10 bytes before the caller's buffers in the same writev, so a large payload is never
// copied. Pongs and the close frame go out between data frames, never inside one.
//
// Idle cost: the handshake's buffers are freed once open; what stays is the Deframer's few words.
// Moving between workers: the whole framing state travels with the inner stream (detach()).
// Threads: as Stream. The settings are immutable and shared by the listener's connections.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "net/poller.hpp"
#include "net/stream.hpp"
#include "net/ws_frame.hpp"
#include "net/ws_handshake.hpp"

namespace hermod::net {

struct WsSettings {
  ws::ServerOptions server;                       // path, allowed origins, trusted proxies
  std::uint64_t max_message_size = 268'435'460;  // one WebSocket message, fragments summed
};

class WsStream final : public Stream, private StreamEvents, private Poller::Target {
 public:
  // The server side of a new WebSocket connection over `inner` (its handshake still to come).
  static std::unique_ptr<WsStream> accept(std::unique_ptr<Stream> inner, std::shared_ptr<const WsSettings> settings,
                                          Poller& poller);

  // Everything a connection's WebSocket layer holds besides its inner stream (moved in a hand-off).
  struct State {
    enum class Phase : std::uint8_t { request, response, refusing, open };
    explicit State(const WsSettings& s) : deframer({true, s.max_message_size}) {}
    Phase phase = Phase::request;
    std::string handshake;  // the request received so far; then the response still to send
    std::string pending;    // bytes read past the request, to decode before reading again
    ws::Deframer deframer;
    // The client a trusted proxy named in X-Forwarded-For or X-Real-IP; else the inner stream's
    // remote (which a PROXY protocol header may set after this stream was made).
    std::optional<asio::ip::tcp::endpoint> forwarded;
    std::uint64_t out_left = 0;         // payload bytes of the data frame being written still to go
    std::uint8_t out_header[ws::kMaxHeaderSize];  // that frame's header
    std::uint8_t out_header_size = 0;
    std::uint8_t out_header_sent = 0;
  };

  WsStream(std::unique_ptr<Stream> inner, std::shared_ptr<const WsSettings> settings, State state, Poller& poller);
  ~WsStream() override;

  void set_events(StreamEvents* events) override { events_ = events; }
  IoResult try_read(char* data, std::size_t size) override;
  IoResult try_writev(std::span<const asio::const_buffer> buffers) override;
  void async_wait(Side side, Want want) override;
  void shutdown_write() override;
  void close() override;
  const asio::ip::tcp::endpoint& remote() const override {
    return state_.forwarded ? *state_.forwarded : inner_->remote();
  }
  std::unique_ptr<DetachedStream> detach() override;
  std::optional<PeerIdentity> peer_identity() const override { return inner_->peer_identity(); }

 private:
  void on_stream_ready(Side side) override;     // the inner stream's wait completed
  void on_poll(std::uint32_t events) override;  // a deferred completion (pending bytes)
  // Runs the opening handshake; nothing once open, else the result to return.
  std::optional<IoResult> handshake();
  std::optional<IoResult> read_request();
  // Writes state_.handshake (the response); true when all of it went.
  bool write_response(IoResult& result);
  // Sends the Deframer's queued control frames if no data frame is half written; false if some
  // are left (`result` then says why).
  bool flush_control(IoResult& result);
  IoResult ended(const char* why);  // a protocol error or a close: what try_read returns

  std::unique_ptr<Stream> inner_;
  std::shared_ptr<const WsSettings> settings_;
  Poller& poller_;
  Poller::Token token_ = 0;
  StreamEvents* events_ = nullptr;
  State state_;
  bool closed_ = false;
};

}  // namespace hermod::net
