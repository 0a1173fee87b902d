#include "bench/bench_connection.hpp"

#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netdb.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "mqtt/decoder.hpp"
#include "mqtt/encoder.hpp"

namespace hermod::cli::bench {

namespace {
// Reads per readiness event before other connections get their turn.
constexpr int kReadsPerEvent = 4;
}  // namespace

sockaddr_in resolve_ipv4(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res); rc != 0 || !res) {
    throw std::runtime_error("cannot resolve " + host + ": " + gai_strerror(rc));
  }
  sockaddr_in a{};
  std::memcpy(&a, res->ai_addr, sizeof a);
  freeaddrinfo(res);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  return a;
}

BenchConnection::BenchConnection(Loop& loop, ConnectionSink& sink, mqtt::ProtocolVersion version)
    : loop_(loop), sink_(sink), version_(version) {}

BenchConnection::~BenchConnection() {
  if (fd_ >= 0) {
    loop_.remove(fd_);
    ::close(fd_);
  }
}

bool BenchConnection::open(const sockaddr_in& to, const sockaddr_in* from, std::unique_ptr<TransportLayer> layer) {
  layer_ = std::move(layer);
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return false;
  const int one = 1;
  // With Nagle on, small packets wait for the peer's delayed ACK (about 40 ms on Linux).
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (from) {
    // Choose the port at connect() time, so ports are shared across destinations.
    setsockopt(fd_, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(from), sizeof *from) != 0) {
      const int e = errno;
      ::close(fd_);
      fd_ = -1;
      errno = e;
      return false;
    }
  }
  connecting_ = true;
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0 && errno != EINPROGRESS) {
    const int e = errno;
    ::close(fd_);
    fd_ = -1;
    errno = e;
    return false;
  }
  loop_.add(fd_, EPOLLIN | EPOLLOUT, this);
  want_write_ = true;
  return true;
}

void BenchConnection::close_gracefully() {
  if (fd_ < 0) return;
  on_flush();
  loop_.remove(fd_);
  ::shutdown(fd_, SHUT_WR);
  ::close(fd_);
  fd_ = -1;
}

void BenchConnection::queued() {
  if (dirty_ || fd_ < 0) return;
  dirty_ = true;
  loop_.mark_dirty(this);
}

void BenchConnection::send(const mqtt::Packet& p) {
  mqtt::encode(p, version_, out_);
  queued();
}

void BenchConnection::on_event(std::uint32_t events) {
  if (fd_ < 0) return;
  if (connecting_) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return fail("connect failed");
    connecting_ = false;
    if (layer_) {
      handshaking_ = true;
      return handshake();
    }
    update_interest();
    sink_.on_open(*this);
    return;
  }
  if (handshaking_) return handshake();
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    if (layer_) {
      read_ready_layered();
    } else {
      read_ready();
    }
  }
  if (fd_ >= 0 && (events & EPOLLOUT)) on_flush();
}

void BenchConnection::handshake() {
  switch (layer_->handshake(fd_)) {
    case TransportLayer::Step::want_read: return set_interest(false);
    case TransportLayer::Step::want_write: return set_interest(true);
    case TransportLayer::Step::failed: return fail(layer_->why());
    case TransportLayer::Step::done: break;
  }
  handshaking_ = false;
  set_interest(false);
  sink_.on_open(*this);
  // Frames that came with the upgrade response wait in the layer: read them now, no event
  // will announce them.
  if (fd_ >= 0) read_ready_layered();
}

void BenchConnection::read_ready_layered() {
  // Until the layer has drained the socket (see TransportLayer::read): no fixed number of reads.
  while (fd_ >= 0) {
    const auto r = layer_->read(fd_, loop_.scratch(), loop_.scratch_size());
    if (r.n > 0) process(std::string_view(loop_.scratch(), r.n));
    if (fd_ < 0) return;
    if (layer_->pending() > 0) queued();  // pongs
    if (r.failed) return fail(layer_->why());
    if (r.drained) return;
  }
}

void BenchConnection::read_ready() {
  for (int i = 0; i < kReadsPerEvent && fd_ >= 0; ++i) {
    const ssize_t n = ::read(fd_, loop_.scratch(), loop_.scratch_size());
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      return fail("read error");
    }
    if (n == 0) return fail("closed by the broker");
    process(std::string_view(loop_.scratch(), static_cast<std::size_t>(n)));
    if (static_cast<std::size_t>(n) < loop_.scratch_size()) return;  // drained
  }
}

void BenchConnection::process(std::string_view data) {
  std::string joined;
  if (!in_.empty()) {
    joined = std::move(in_);
    joined.append(data);
    data = joined;
    in_.clear();
  }
  std::size_t pos = 0;
  while (pos < data.size() && fd_ >= 0) {
    auto header = mqtt::parse_fixed_header(data.substr(pos));
    if (!header) return fail("malformed packet from the broker");
    if (!*header || data.size() - pos < (*header)->total_length()) break;
    const auto& h = **header;
    const auto body = data.substr(pos + h.header_length, h.remaining_length);
    pos += h.total_length();
    if (h.type() == mqtt::PacketType::publish) {
      auto view = mqtt::decode_publish_view(h, body, version_);
      if (!view) return fail("undecodable packet from the broker");
      if (*view) {
        sink_.on_publish(*this, **view);
        continue;
      }
    } else {
      auto ack = mqtt::decode_short_ack(h, body);
      if (!ack) return fail("undecodable packet from the broker");
      if (*ack) {
        sink_.on_short_ack(*this, h.type(), **ack);
        continue;
      }
    }
    auto packet = mqtt::decode_packet(h, body, version_);
    if (!packet) return fail("undecodable packet from the broker");
    sink_.on_packet(*this, std::move(*packet));
  }
  if (fd_ >= 0 && pos < data.size()) in_.assign(data.substr(pos));
}

bool BenchConnection::write_layered() {
  bool failed = false;
  out_off_ += layer_->write(fd_, out_.data() + out_off_, out_.size() - out_off_, failed);
  if (failed) fail(layer_->why());
  return !failed;
}

void BenchConnection::on_flush() {
  dirty_ = false;
  if (fd_ < 0 || connecting_) return;
  if (layer_) {
    if (handshaking_ || !write_layered()) return;
  } else {
    while (out_off_ < out_.size()) {
      const ssize_t n = ::write(fd_, out_.data() + out_off_, out_.size() - out_off_);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return fail("write error");
      }
      out_off_ += static_cast<std::size_t>(n);
    }
  }
  if (out_off_ == out_.size()) {
    out_.clear();
    out_off_ = 0;
  } else if (out_off_ > kHighWater) {
    out_.erase(0, out_off_);
    out_off_ = 0;
  }
  update_interest();
  const bool congested_now = congested();
  if (was_congested_ && !congested_now) {
    was_congested_ = false;
    sink_.on_writable(*this);
  }
  was_congested_ = was_congested_ || congested_now;
}

void BenchConnection::update_interest() {
  if (fd_ < 0) return;
  set_interest(out_off_ < out_.size() || (layer_ && layer_->pending() > 0));
}

void BenchConnection::set_interest(bool write) {
  if (fd_ < 0 || write == want_write_) return;
  want_write_ = write;
  loop_.modify(fd_, write ? (EPOLLIN | EPOLLOUT) : EPOLLIN, this);
}

void BenchConnection::fail(std::string_view why) {
  if (fd_ < 0) return;
  loop_.remove(fd_);
  ::close(fd_);
  fd_ = -1;
  sink_.on_closed(*this, why);
}

}  // namespace hermod::cli::bench
