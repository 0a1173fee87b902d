#include "bench/transport_layer.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <stdexcept>

#include "client/tls_config.hpp"
#include "client/transport_factory.hpp"
#include "net/ws_handshake.hpp"

namespace hermod::cli::bench {

namespace ws = net::ws;

namespace {

// Wire bytes already written above which the buffer is compacted (as BenchConnection's output).
constexpr std::size_t kCompactAt = 256 * 1024;

void random_bytes(unsigned char* out, std::size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) throw std::runtime_error("RAND_bytes failed");
}

std::string random_key() {
  unsigned char raw[16];
  random_bytes(raw, sizeof raw);
  unsigned char text[32];
  const int n = EVP_EncodeBlock(text, raw, sizeof raw);
  return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(n));
}

}  // namespace

// ------------------------------------------------------------------------------ TransportSetup

TransportSetup::TransportSetup(const BenchOptions& o) : o_(o) {
  if (client::uses_tls(o.transport)) {
    std::string error;
    ctx_ = client::new_client_tls_context(o.tls, error);
    if (!ctx_) throw std::runtime_error(error);
  }
  const bool v6 = o.host.find(':') != std::string::npos;
  host_header_ = (v6 ? "[" + o.host + "]" : o.host) + ":" + std::to_string(o.port);
}

TransportSetup::~TransportSetup() { SSL_CTX_free(ctx_); }

std::unique_ptr<TransportLayer> TransportSetup::make_layer() const {
  if (plain()) return nullptr;
  return std::make_unique<TransportLayer>(*this);
}

// ------------------------------------------------------------------------------ TransportLayer

TransportLayer::TransportLayer(const TransportSetup& setup) : setup_(setup) {
  const BenchOptions& o = setup.o_;
  if (setup.ctx_) {
    ssl_ = SSL_new(setup.ctx_);
    if (!ssl_ || !client::prepare_client_tls(ssl_, o.host, o.tls)) {
      throw std::runtime_error("cannot set up TLS: " + client::take_openssl_errors("SSL_new failed"));
    }
    // SSL_write returns after each record, and a write retried after WANT_WRITE may come from a
    // buffer that moved (the connection's output is compacted).
    SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  }
  if (client::uses_websocket(o.transport)) {
    ws::Deframer::Options d;
    d.expect_masked = false;
    d.mask_output = true;
    std::uint64_t seed = 0;
    random_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof seed);
    ws_ = std::make_unique<ws::Deframer>(d, seed);
  }
  phase_ = ssl_ ? Phase::tls : Phase::ws_request;
}

TransportLayer::~TransportLayer() { SSL_free(ssl_); }

long TransportLayer::raw_read(int fd, char* buf, std::size_t cap, Io& io) {
  io = Io::ok;
  if (ssl_) {
    ERR_clear_error();
    const int n = SSL_read(ssl_, buf, static_cast<int>(std::min<std::size_t>(cap, INT_MAX)));
    if (n > 0) return n;
    switch (SSL_get_error(ssl_, n)) {
      case SSL_ERROR_WANT_READ:
      case SSL_ERROR_WANT_WRITE: io = Io::would_block; break;
      case SSL_ERROR_ZERO_RETURN: io = Io::closed; break;
      default: io = Io::error; break;
    }
    return 0;
  }
  for (;;) {
    const ssize_t n = ::read(fd, buf, cap);
    if (n > 0) return n;
    if (n == 0) {
      io = Io::closed;
    } else if (errno == EINTR) {
      continue;
    } else {
      io = (errno == EAGAIN || errno == EWOULDBLOCK) ? Io::would_block : Io::error;
    }
    return 0;
  }
}

long TransportLayer::raw_write(int fd, const char* data, std::size_t n, Io& io) {
  io = Io::ok;
  if (ssl_) {
    ERR_clear_error();
    const int k = SSL_write(ssl_, data, static_cast<int>(std::min<std::size_t>(n, INT_MAX)));
    if (k > 0) return k;
    const int e = SSL_get_error(ssl_, k);
    io = (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) ? Io::would_block : Io::error;
    return 0;
  }
  for (;;) {
    const ssize_t k = ::write(fd, data, n);
    if (k >= 0) return k;
    if (errno == EINTR) continue;
    io = (errno == EAGAIN || errno == EWOULDBLOCK) ? Io::would_block : Io::error;
    return 0;
  }
}

void TransportLayer::set_io_failure(Io io, const char* doing) {
  if (io == Io::closed) {
    why_ = std::string("closed by the broker") + (phase_ == Phase::open ? "" : std::string(" during ") + doing);
  } else if (ssl_) {
    why_ = std::string(doing) + " failed: " + client::take_openssl_errors(errno ? std::strerror(errno) : "TLS error");
  } else {
    why_ = std::string(doing) + " failed: " + std::strerror(errno);
  }
}

bool TransportLayer::flush_wire(int fd) {
  while (wire_off_ < wire_.size()) {
    Io io;
    const long k = raw_write(fd, wire_.data() + wire_off_, wire_.size() - wire_off_, io);
    if (io == Io::would_block) break;
    if (io != Io::ok) {
      set_io_failure(io, "write");
      return false;
    }
    wire_off_ += static_cast<std::size_t>(k);
  }
  if (wire_off_ == wire_.size()) {
    wire_.clear();
    wire_off_ = 0;
  } else if (wire_off_ > kCompactAt) {
    wire_.erase(0, wire_off_);
    wire_off_ = 0;
  }
  return true;
}

TransportLayer::Step TransportLayer::handshake(int fd) {
  for (;;) {
    switch (phase_) {
      case Phase::tls: {
        if (SSL_get_fd(ssl_) < 0) SSL_set_fd(ssl_, fd);
        ERR_clear_error();
        const int rc = SSL_connect(ssl_);
        if (rc == 1) {
          phase_ = ws_ ? Phase::ws_request : Phase::open;
          continue;
        }
        const int e = SSL_get_error(ssl_, rc);
        if (e == SSL_ERROR_WANT_READ) return Step::want_read;
        if (e == SSL_ERROR_WANT_WRITE) return Step::want_write;
        if (auto verify = setup_.o_.tls.insecure ? std::error_code() : client::verification_error(ssl_)) {
          why_ = "TLS handshake failed: " + verify.message();
        } else {
          why_ = "TLS handshake failed: " + client::take_openssl_errors("connection closed by the broker");
        }
        return Step::failed;
      }
      case Phase::ws_request:
        if (key_.empty()) {
          key_ = random_key();
          wire_ = ws::client_request(setup_.host_header_, setup_.o_.ws_path, key_,
                                     client::websocket_protocols(setup_.o_.version));
          wire_off_ = 0;
        }
        if (!flush_wire(fd)) return Step::failed;
        if (pending() > 0) return Step::want_write;
        phase_ = Phase::ws_response;
        continue;
      case Phase::ws_response:
        return read_response(fd);
      case Phase::open:
        return Step::done;
    }
  }
}

TransportLayer::Step TransportLayer::read_response(int fd) {
  for (;;) {
    char buf[1024];
    Io io;
    const long n = raw_read(fd, buf, sizeof buf, io);
    if (io == Io::would_block) return Step::want_read;
    if (io != Io::ok) {
      set_io_failure(io, "the WebSocket upgrade");
      return Step::failed;
    }
    response_.append(buf, static_cast<std::size_t>(n));
    const auto r = ws::check_response(response_, key_, client::websocket_protocols(setup_.o_.version));
    if (r.status == ws::ResponseResult::Status::incomplete) continue;
    if (r.status == ws::ResponseResult::Status::refused) {
      why_ = "WebSocket upgrade refused: " + r.why;
      return Step::failed;
    }
    leftover_ = response_.substr(r.consumed);
    response_ = std::string();
    phase_ = Phase::open;
    return Step::done;
  }
}

TransportLayer::ReadResult TransportLayer::read(int fd, char* buf, std::size_t cap) {
  ReadResult r;
  std::size_t got = 0;
  if (!leftover_.empty()) {
    got = std::min(leftover_.size(), cap);
    std::memcpy(buf, leftover_.data(), got);
    leftover_.erase(0, got);
  }
  // TLS: read until OpenSSL wants more from the socket, so that no decrypted record waits in
  // OpenSSL while epoll (level-triggered, on the socket) has nothing to report.
  while (got < cap) {
    Io io;
    const long n = raw_read(fd, buf + got, cap - got, io);
    if (io == Io::would_block) {
      r.drained = true;
      break;
    }
    if (io != Io::ok) {
      set_io_failure(io, "read");
      r.failed = true;
      break;
    }
    got += static_cast<std::size_t>(n);
    // Plain ws: a short read means the socket is empty, as on the TCP path.
    if (!ssl_ && got < cap) {
      r.drained = true;
      break;
    }
  }
  if (!ws_) {
    r.n = got;
    return r;
  }
  r.n = ws_->decode(reinterpret_cast<std::uint8_t*>(buf), got);
  if (auto& control = ws_->output(); !control.empty()) {
    wire_ += control;
    control.clear();
  }
  if (ws_->failed()) {
    why_ = std::string("WebSocket error from the broker: ") + ws_->why();
    r.failed = true;
  } else if (ws_->closed()) {
    why_ = "the broker closed the WebSocket (code " + std::to_string(static_cast<unsigned>(ws_->peer_close_code())) +
           ")";
    r.failed = true;
  }
  return r;
}

std::size_t TransportLayer::write(int fd, const char* data, std::size_t n, bool& failed) {
  failed = false;
  if (!ws_) {
    // TLS alone: straight from the caller's buffer, record by record.
    std::size_t taken = 0;
    while (taken < n) {
      Io io;
      const long k = raw_write(fd, data + taken, n - taken, io);
      if (io == Io::would_block) break;
      if (io != Io::ok) {
        set_io_failure(io, "write");
        failed = true;
        break;
      }
      taken += static_cast<std::size_t>(k);
    }
    return taken;
  }
  if (n > 0) {
    // One masked binary frame for everything queued this turn.
    const ws::MaskKey key = ws_->next_mask();
    std::uint8_t header[ws::kMaxHeaderSize];
    const std::size_t h = ws::encode_header(header, ws::Opcode::binary, true, n, &key);
    const std::size_t at = wire_.size();
    wire_.append(reinterpret_cast<const char*>(header), h);
    wire_.append(data, n);
    ws::apply_mask(reinterpret_cast<std::uint8_t*>(wire_.data() + at + h), n, key, 0);
  }
  if (!flush_wire(fd)) failed = true;
  return n;
}

}  // namespace hermod::cli::bench
