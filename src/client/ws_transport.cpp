#include "client/ws_transport.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <random>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#include "client/error.hpp"
#include "net/ws_handshake.hpp"

namespace hermod::client {

namespace asio = boost::asio;
namespace ws = net::ws;

namespace {

// Bytes from OpenSSL's CSPRNG; std::random_device (the kernel's) if it ever fails.
void random_bytes(unsigned char* out, std::size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) == 1) return;
  std::random_device rd;
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<unsigned char>(rd());
}

std::uint64_t random_seed() {
  std::uint64_t seed = 0;
  random_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof seed);
  return seed;
}

// Sec-WebSocket-Key: 16 random bytes, base64 (section 4.1).
std::string random_key() {
  unsigned char raw[16];
  random_bytes(raw, sizeof raw);
  unsigned char text[32];
  const int n = EVP_EncodeBlock(text, raw, sizeof raw);
  return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(n));
}

// The Host header: an IPv6 address goes back into brackets.
std::string host_header(const std::string& host, std::uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::error_code aborted() { return boost::system::error_code(asio::error::operation_aborted); }

ws::Deframer::Options deframer_options() {
  ws::Deframer::Options o;
  o.expect_masked = false;  // a server's frames are never masked (section 5.1)
  o.mask_output = true;     // ours always are
  return o;
}

}  // namespace

WsTransport::WsTransport(const asio::any_io_executor& ex, std::shared_ptr<Transport> inner, WsSettings settings)
    : ex_(ex), inner_(std::move(inner)), settings_(std::move(settings)), deframer_(deframer_options(), random_seed()) {}

void WsTransport::async_connect(const std::string& host, std::uint16_t port, ConnectHandler handler) {
  inner_->async_connect(host, port, [self = shared_from_this(), host_field = host_header(host, port),
                                     handler = std::move(handler)](std::error_code ec) mutable {
    if (ec) {
      self->detail_ = self->inner_->error_detail();
      return handler(ec);
    }
    self->key_ = random_key();
    self->writing_ = ws::client_request(host_field, self->settings_.path, self->key_, self->settings_.protocols);
    self->inner_writing_ = true;
    self->inner_->async_write(asio::buffer(self->writing_),
                              [self, handler = std::move(handler)](std::error_code ec, std::size_t) mutable {
                                self->inner_writing_ = false;
                                self->writing_.clear();
                                if (ec) return handler(ec);
                                self->read_response(std::move(handler));
                              });
  });
}

void WsTransport::read_response(ConnectHandler handler) {
  // Read in small steps: the response is a few hundred bytes, and what follows it (frames the
  // server sends at once) is kept for the first async_read_some.
  const std::size_t at = response_.size();
  response_.resize(at + 1024);
  inner_->async_read_some(asio::buffer(response_.data() + at, 1024),
                          [self = shared_from_this(), at, handler = std::move(handler)](std::error_code ec,
                                                                                        std::size_t n) mutable {
                            self->response_.resize(at + (ec ? 0 : n));
                            self->on_response_bytes(std::move(handler), ec, n);
                          });
}

void WsTransport::on_response_bytes(ConnectHandler handler, std::error_code ec, std::size_t) {
  if (ec) {
    detail_ = "connection closed during the WebSocket upgrade: " + ec.message();
    return handler(ec);
  }
  const auto r = ws::check_response(response_, key_, settings_.protocols);
  switch (r.status) {
    case ws::ResponseResult::Status::incomplete:
      return read_response(std::move(handler));
    case ws::ResponseResult::Status::refused:
      detail_ = r.why;
      return handler(make_error_code(Errc::websocket_refused));
    case ws::ResponseResult::Status::accepted:
      protocol_ = r.protocol;
      leftover_ = response_.substr(r.consumed);
      response_.clear();
      response_.shrink_to_fit();
      return handler({});
  }
}

std::error_code WsTransport::stream_end() {
  if (deframer_.failed()) {
    detail_ = deframer_.why();
    return make_error_code(Errc::websocket_error);
  }
  if (deframer_.closed()) {
    detail_ = "close code " + std::to_string(static_cast<unsigned>(deframer_.peer_close_code()));
    return make_error_code(Errc::websocket_closed);
  }
  return {};
}

void WsTransport::async_read_some(asio::mutable_buffer buffer, IoHandler handler) {
  if (auto ec = stream_end()) {
    return asio::post(ex_, [handler = std::move(handler), ec] { handler(ec, 0); });
  }
  if (!leftover_.empty()) {
    // Bytes that came with the upgrade response: decoded as if just read (posted, never inline).
    const std::size_t n = std::min(leftover_.size(), buffer.size());
    std::memcpy(buffer.data(), leftover_.data(), n);
    leftover_.erase(0, n);
    return asio::post(ex_, [self = shared_from_this(), buffer, handler = std::move(handler), n]() mutable {
      self->on_inner_read(buffer, std::move(handler), {}, n);
    });
  }
  inner_->async_read_some(buffer, [self = shared_from_this(), buffer, handler = std::move(handler)](
                                      std::error_code ec, std::size_t n) mutable {
    self->on_inner_read(buffer, std::move(handler), ec, n);
  });
}

void WsTransport::on_inner_read(asio::mutable_buffer buffer, IoHandler handler, std::error_code ec, std::size_t n) {
  if (ec) return handler(ec, 0);
  const std::size_t data = deframer_.decode(static_cast<std::uint8_t*>(buffer.data()), n);
  take_control_output();
  // MQTT bytes before a close or an error still count; the next read reports the end.
  if (data > 0) return handler({}, data);
  if (auto end = stream_end()) return handler(end, 0);
  if (closed_) return handler(aborted(), 0);
  async_read_some(buffer, std::move(handler));
}

void WsTransport::take_control_output() {
  auto& control = deframer_.output();
  if (control.empty()) return;
  out_ += control;
  control.clear();
  pump();
}

void WsTransport::async_write(asio::const_buffer buffer, IoHandler handler) {
  std::error_code ec = write_error_ ? write_error_ : stream_end();
  if (closed_) ec = aborted();
  if (ec) return asio::post(ex_, [handler = std::move(handler), ec] { handler(ec, 0); });
  const ws::MaskKey key = deframer_.next_mask();
  std::uint8_t header[ws::kMaxHeaderSize];
  const std::size_t h = ws::encode_header(header, ws::Opcode::binary, true, buffer.size(), &key);
  const std::size_t at = out_.size();
  out_.append(reinterpret_cast<const char*>(header), h);
  out_.append(static_cast<const char*>(buffer.data()), buffer.size());
  ws::apply_mask(reinterpret_cast<std::uint8_t*>(out_.data() + at + h), buffer.size(), key, 0);
  write_handler_ = std::move(handler);
  write_size_ = buffer.size();
  write_in_writing_ = false;
  pump();
}

void WsTransport::pump() {
  if (inner_writing_ || out_.empty() || closed_ || write_error_) return;
  writing_.swap(out_);
  out_.clear();
  const bool carries_client_frame = write_handler_ && !write_in_writing_;
  if (carries_client_frame) write_in_writing_ = true;
  inner_writing_ = true;
  inner_->async_write(asio::buffer(writing_), [self = shared_from_this(), carries_client_frame](std::error_code ec,
                                                                                              std::size_t) {
    self->inner_writing_ = false;
    self->writing_.clear();
    if (ec) self->write_error_ = ec;
    // The client's write completes when its frame is out, or when nothing more will be written
    // (an error, or close()): a pending operation never stays pending.
    if (self->write_handler_ && !carries_client_frame && !ec && self->closed_) ec = aborted();
    if (self->write_handler_ && (carries_client_frame || ec)) {
      auto h = std::move(self->write_handler_);
      self->write_handler_ = nullptr;
      self->write_in_writing_ = false;
      h(ec, ec ? 0 : self->write_size_);
    }
    self->pump();
  });
}

void WsTransport::close() {
  if (closed_) return;
  closed_ = true;
  inner_->close();
}

std::string WsTransport::error_detail() const { return detail_; }

}  // namespace hermod::client
