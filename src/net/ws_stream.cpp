#include "net/ws_stream.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "base/log.hpp"
#include "net/endpoint_text.hpp"

namespace hermod::net {

namespace {

// Bytes read per step of the opening handshake (a request is a few hundred).
constexpr std::size_t kRequestChunk = 2048;
// Buffers of one gathered write (the connection's at most 64) and the frame header before them.
constexpr std::size_t kMaxBuffers = 64;

IoResult write_some(Stream& inner, const char* data, std::size_t size) {
  const asio::const_buffer b(data, size);
  return inner.try_writev(std::span<const asio::const_buffer>(&b, 1));
}

}  // namespace

std::unique_ptr<WsStream> WsStream::accept(std::unique_ptr<Stream> inner, std::shared_ptr<const WsSettings> settings,
                                           Poller& poller) {
  State state(*settings);
  return std::make_unique<WsStream>(std::move(inner), std::move(settings), std::move(state), poller);
}

WsStream::WsStream(std::unique_ptr<Stream> inner, std::shared_ptr<const WsSettings> settings, State state,
                   Poller& poller)
    : inner_(std::move(inner)), settings_(std::move(settings)), poller_(poller), state_(std::move(state)) {
  inner_->set_events(this);
  token_ = poller_.add_target(*this);
}

WsStream::~WsStream() { close(); }

// ------------------------------------------------------------------------------ the handshake

std::optional<IoResult> WsStream::read_request() {
  char buf[kRequestChunk];
  for (;;) {
    const auto r = inner_->try_read(buf, sizeof buf);
    if (r.bytes == 0) return r;  // a wait, or the end before a whole request
    state_.handshake.append(buf, r.bytes);
    const auto peer = inner_->remote();
    auto check = ws::check_upgrade(state_.handshake, peer.address(), settings_->server);
    if (check.status == ws::UpgradeResult::Status::incomplete) continue;
    if (check.status == ws::UpgradeResult::Status::refused) {
      logger("ws")->info("{} WebSocket handshake refused: {}", endpoint_text(peer), check.why);
      state_.phase = State::Phase::refusing;
    } else {
      state_.pending = state_.handshake.substr(check.consumed);
      state_.phase = State::Phase::response;
      if (check.forwarded_for) state_.forwarded = asio::ip::tcp::endpoint(*check.forwarded_for, 0);
    }
    state_.handshake = std::move(check.response);
    return std::nullopt;
  }
}

bool WsStream::write_response(IoResult& result) {
  auto& out = state_.handshake;
  while (!out.empty()) {
    const auto r = write_some(*inner_, out.data(), out.size());
    if (r.bytes == 0) {
      result = r.closed ? r : IoResult{0, Want::write};
      return false;
    }
    out.erase(0, r.bytes);
  }
  std::string().swap(out);  // an open connection holds no handshake buffer
  return true;
}

std::optional<IoResult> WsStream::handshake() {
  if (state_.phase == State::Phase::open) return std::nullopt;
  if (closed_) return IoResult{0, Want::nothing, true, asio::error::make_error_code(asio::error::bad_descriptor)};
  if (state_.phase == State::Phase::request) {
    if (auto r = read_request()) return r;
  }
  IoResult result;
  if (!write_response(result)) return result;
  if (state_.phase == State::Phase::refusing) {
    inner_->shutdown_write();
    return IoResult{0, Want::nothing, true, asio::error::make_error_code(asio::error::connection_refused)};
  }
  state_.phase = State::Phase::open;
  return std::nullopt;
}

// ---------------------------------------------------------------------------------- framing

bool WsStream::flush_control(IoResult& result) {
  auto& out = state_.deframer.output();
  if (out.empty()) return true;
  if (state_.out_left > 0 || state_.out_header_sent < state_.out_header_size) return false;  // mid data frame
  const auto r = write_some(*inner_, out.data(), out.size());
  out.erase(0, r.bytes);
  if (out.empty()) {
    std::string().swap(out);
    return true;
  }
  result = r.closed ? r : IoResult{0, Want::write};
  return false;
}

IoResult WsStream::ended(const char* why) {
  IoResult ignored;
  flush_control(ignored);  // our close frame, best effort: the connection ends either way
  const auto& d = state_.deframer;
  if (d.failed()) {
    logger("ws")->info("{} WebSocket closed ({}): {}", endpoint_text(remote()), static_cast<int>(d.error_code()), why);
    return {0, Want::nothing, true, asio::error::make_error_code(asio::error::connection_aborted)};
  }
  return {0, Want::nothing, true};  // the client's close frame: a clean end of stream
}

IoResult WsStream::try_read(char* data, std::size_t size) {
  if (auto r = handshake()) return *r;
  auto& d = state_.deframer;
  if (d.failed() || d.closed()) return ended(d.why());
  for (;;) {
    IoResult r;
    if (!state_.pending.empty()) {
      r.bytes = std::min(size, state_.pending.size());
      std::memcpy(data, state_.pending.data(), r.bytes);
      state_.pending.erase(0, r.bytes);
      if (state_.pending.empty()) std::string().swap(state_.pending);
    } else {
      r = inner_->try_read(data, size);
      if (r.bytes == 0) return r;  // a wait or the end of the inner stream
    }
    const std::size_t n = d.decode(reinterpret_cast<std::uint8_t*>(data), r.bytes);
    if (d.failed() || d.closed()) {
      if (n > 0) return {n};  // the data before the end first; the next call reports it
      return ended(d.why());
    }
    IoResult w;
    flush_control(w);  // a pong; if it cannot go now it goes with the next write
    if (n > 0) return {n};
    // Only headers or control frames this time: read on until data or a wait.
  }
}

IoResult WsStream::try_writev(std::span<const asio::const_buffer> buffers) {
  if (auto r = handshake()) return *r;
  IoResult result;
  if (!flush_control(result) && state_.out_left == 0) return result;
  if (state_.deframer.close_sent()) {
    return {0, Want::nothing, true, asio::error::make_error_code(asio::error::shut_down)};
  }
  buffers = buffers.subspan(0, std::min(buffers.size(), kMaxBuffers));
  if (state_.out_left == 0) {
    // A new frame over these buffers.
    std::uint64_t size = 0;
    for (const auto& b : buffers) size += b.size();
    if (size == 0) return {};
    state_.out_header_size = static_cast<std::uint8_t>(ws::encode_header(state_.out_header, ws::Opcode::binary, true, size));
    state_.out_header_sent = 0;
    state_.out_left = size;
  }
  // The header's unsent part, then as much of the buffers as belongs to this frame.
  std::array<asio::const_buffer, kMaxBuffers + 1> iov;
  std::size_t count = 0;
  const std::size_t header_left = state_.out_header_size - state_.out_header_sent;
  if (header_left > 0) iov[count++] = asio::const_buffer(state_.out_header + state_.out_header_sent, header_left);
  std::uint64_t room = state_.out_left;
  for (const auto& b : buffers) {
    if (room == 0) break;
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(b.size(), room));
    iov[count++] = asio::const_buffer(b.data(), n);
    room -= n;
  }
  const auto r = inner_->try_writev(std::span<const asio::const_buffer>(iov.data(), count));
  const std::size_t header_part = std::min(r.bytes, header_left);
  state_.out_header_sent = static_cast<std::uint8_t>(state_.out_header_sent + header_part);
  const std::size_t payload = r.bytes - header_part;
  state_.out_left -= payload;
  if (state_.out_left == 0) flush_control(result);  // a pong that waited for this frame
  if (payload > 0) return {payload};
  if (r.closed) return r;
  return {0, Want::write};  // nothing of the payload went (at most a part of the header)
}

// ------------------------------------------------------------------------------------- events

void WsStream::async_wait(Side side, Want want) {
  if (closed_) return;
  // Bytes read past the request need no new byte from the socket, nor does an end the Deframer
  // has seen behind data already returned: complete from the loop.
  const auto& d = state_.deframer;
  if (side == Side::reading && state_.phase == State::Phase::open &&
      (!state_.pending.empty() || d.failed() || d.closed())) {
    poller_.defer(token_);
    return;
  }
  inner_->async_wait(side, want);
}

void WsStream::on_stream_ready(Side side) {
  if (closed_) return;
  if (events_) events_->on_stream_ready(side);  // last: it may destroy this stream
}

void WsStream::on_poll(std::uint32_t) { on_stream_ready(Side::reading); }

void WsStream::shutdown_write() {
  if (closed_) return;
  if (state_.phase == State::Phase::open) {
    state_.deframer.close(ws::CloseCode::normal);
    IoResult ignored;
    flush_control(ignored);
  }
  inner_->shutdown_write();
}

void WsStream::close() {
  if (closed_) return;
  closed_ = true;
  if (token_) poller_.remove(token_, -1, false);
  token_ = 0;
  inner_->close();
}

namespace {

class DetachedWs final : public DetachedStream {
 public:
  DetachedWs(std::unique_ptr<DetachedStream> inner, std::shared_ptr<const WsSettings> settings, WsStream::State state)
      : inner_(std::move(inner)), settings_(std::move(settings)), state_(std::move(state)) {}

  std::unique_ptr<Stream> attach(Poller& poller) override {
    auto inner = inner_->attach(poller);
    if (!inner) return nullptr;
    return std::make_unique<WsStream>(std::move(inner), std::move(settings_), std::move(state_), poller);
  }

 private:
  std::unique_ptr<DetachedStream> inner_;
  std::shared_ptr<const WsSettings> settings_;
  WsStream::State state_;
};

}  // namespace

std::unique_ptr<DetachedStream> WsStream::detach() {
  if (closed_) return nullptr;
  auto inner = inner_->detach();
  if (!inner) {
    close();
    return nullptr;
  }
  closed_ = true;  // this object is done; its state travels
  if (token_) poller_.remove(token_, -1, false);
  token_ = 0;
  return std::make_unique<DetachedWs>(std::move(inner), settings_, std::move(state_));
}

}  // namespace hermod::net
