#include "bench/idle_connections.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_connection.hpp"
#include "bench/event_loop.hpp"
#include "bench/transport_layer.hpp"
#include "mqtt/decoder.hpp"
#include "mqtt/encoder.hpp"

namespace hermod::cli::bench {

namespace {

constexpr std::uint64_t kPollNs = 50'000'000;
// Descriptors kept free for the loop, stdio and the like.
constexpr std::uint64_t kReservedFds = 32;

class IdleConnections {
 public:
  explicit IdleConnections(const BenchOptions& o) : o_(o), broker_(resolve_ipv4(o.host, o.port)), transport_(o) {
    rlimit l{};
    getrlimit(RLIMIT_NOFILE, &l);
    r_.fd_limit = l.rlim_cur;
    r_.requested = o.connections;
    const std::uint64_t usable = l.rlim_cur > kReservedFds ? l.rlim_cur - kReservedFds : 0;
    n_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(o.connections, usable));
    if (n_ < o.connections) {
      std::fprintf(stderr, "hermod-cli bench: %u connections requested, the fd limit (%llu) allows %u\n",
                   o.connections, static_cast<unsigned long long>(l.rlim_cur), n_);
    }
    // Several source addresses only make sense towards a loopback broker.
    use_sources_ = (ntohl(broker_.sin_addr.s_addr) >> 24) == 127 && o.sources > 0;
    conns_.resize(n_);
    for (std::uint32_t i = 0; i < n_; ++i) {
      conns_[i].owner = this;
      conns_[i].index = i;
    }
  }

  ConnsResult run() {
    const double cpu0 = process_cpu_seconds();
    const std::uint64_t t0 = now_ns();
    connect_all();
    r_.connect_s = static_cast<double>(last_connack_ns_ > t0 ? last_connack_ns_ - t0 : 0) / 1e9;
    announce_hold();
    hold();
    close_all();
    r_.self.cpu_s = process_cpu_seconds() - cpu0;
    r_.self.wall_s = static_cast<double>(now_ns() - t0) / 1e9;
    return r_;
  }

 private:
  enum class State : std::uint8_t { unused, connecting, handshaking, awaiting_connack, idle, closed };

  struct Conn final : Loop::Handler {
    IdleConnections* owner = nullptr;
    std::uint32_t index = 0;
    int fd = -1;
    State state = State::unused;
    std::unique_ptr<TransportLayer> layer;  // TLS / WebSocket runs
    void on_event(std::uint32_t events) override { owner->on_event(*this, events); }
  };

  void connect_all() {
    const std::uint64_t deadline = now_ns() + static_cast<std::uint64_t>(o_.setup_timeout * 1e9);
    open_more();
    while ((pending_ > 0 || (next_ < n_ && !exhausted_)) && now_ns() < deadline) {
      loop_.poll(static_cast<std::int64_t>(kPollNs));
      open_more();
    }
    for (auto& c : conns_) {
      if (c.state == State::connecting || c.state == State::handshaking || c.state == State::awaiting_connack) {
        fail(c, "timed out");
      }
    }
    r_.failed += n_ - next_;  // never attempted (out of descriptors)
  }

  void open_more() {
    while (pending_ < o_.connect_concurrency && next_ < n_ && !exhausted_) open(conns_[next_++]);
  }

  void open(Conn& c) {
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      exhausted_ = true;
      note_error(std::string("socket: ") + std::strerror(errno));
      ++r_.failed;
      return;
    }
    const int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (use_sources_) {
      // 127.0.0.2, 127.0.0.3, ...: each source address has its own ephemeral port range.
      setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      sockaddr_in from{};
      from.sin_family = AF_INET;
      from.sin_addr.s_addr = htonl((127u << 24) + 2 + c.index % o_.sources);
      if (::bind(c.fd, reinterpret_cast<const sockaddr*>(&from), sizeof from) != 0) {
        return fail_unregistered(c, std::string("bind: ") + std::strerror(errno));
      }
    }
    if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&broker_), sizeof broker_) != 0 && errno != EINPROGRESS) {
      return fail_unregistered(c, std::string("connect: ") + std::strerror(errno));
    }
    c.layer = transport_.make_layer();
    c.state = State::connecting;
    ++pending_;
    loop_.add(c.fd, EPOLLOUT, &c);
  }

  void on_event(Conn& c, std::uint32_t events) {
    switch (c.state) {
      case State::connecting: return on_connected(c);
      case State::handshaking: return on_handshake(c);
      case State::awaiting_connack: return on_connack(c);
      case State::idle:
        if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_idle_readable(c);
        return;
      default: return;
    }
  }

  void on_connected(Conn& c) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return fail(c, std::string("connect: ") + std::strerror(err));
    if (c.layer) {
      c.state = State::handshaking;
      return on_handshake(c);
    }
    send_connect(c);
  }

  void on_handshake(Conn& c) {
    switch (c.layer->handshake(c.fd)) {
      case TransportLayer::Step::want_read: return loop_.modify(c.fd, EPOLLIN, &c);
      case TransportLayer::Step::want_write: return loop_.modify(c.fd, EPOLLIN | EPOLLOUT, &c);
      case TransportLayer::Step::failed: return fail(c, c.layer->why());
      case TransportLayer::Step::done: return send_connect(c);
    }
  }

  void send_connect(Conn& c) {
    mqtt::Connect connect;
    connect.version = o_.version;
    connect.keep_alive = o_.keepalive;
    connect.client_id = "hb" + std::to_string(getpid()) + "-idle" + std::to_string(c.index);
    const std::string bytes = mqtt::encode(connect, o_.version);
    // A fresh socket's send buffer always takes a CONNECT this small in one write.
    if (c.layer) {
      bool failed = false;
      const std::size_t taken = c.layer->write(c.fd, bytes.data(), bytes.size(), failed);
      if (failed) return fail(c, "write CONNECT: " + c.layer->why());
      if (taken != bytes.size() || c.layer->pending() > 0) return fail(c, "write CONNECT: short write");
    } else if (::write(c.fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
      return fail(c, std::string("write CONNECT: ") + std::strerror(errno));
    }
    c.state = State::awaiting_connack;
    loop_.modify(c.fd, EPOLLIN, &c);
  }

  // Reads what is there: the bytes in the loop's scratch buffer, or 0 with `closed` false (nothing
  // yet) or true (`why` says how it ended).
  std::size_t read_some(Conn& c, bool& closed, std::string& why) {
    closed = false;
    if (c.layer) {
      const auto r = c.layer->read(c.fd, loop_.scratch(), loop_.scratch_size());
      if (r.failed && r.n == 0) {
        closed = true;
        why = c.layer->why();
      }
      return r.n;
    }
    const ssize_t n = ::read(c.fd, loop_.scratch(), loop_.scratch_size());
    if (n > 0) return static_cast<std::size_t>(n);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    closed = true;
    why = n == 0 ? "closed by the broker" : std::string("read: ") + std::strerror(errno);
    return 0;
  }

  void on_connack(Conn& c) {
    bool closed = false;
    std::string why;
    const std::size_t n = read_some(c, closed, why);
    if (closed) return fail(c, why == "closed by the broker" ? "closed before CONNACK" : why);
    if (n == 0) return;
    const std::string_view data(loop_.scratch(), n);
    auto header = mqtt::parse_fixed_header(data);
    // CONNACK is a few bytes and arrives in one segment; anything else is a failure.
    if (!header || !*header || (*header)->total_length() > data.size()) return fail(c, "short or malformed CONNACK");
    const auto& h = **header;
    auto packet = mqtt::decode_packet(h, data.substr(h.header_length, h.remaining_length), o_.version);
    auto* ack = packet ? std::get_if<mqtt::Connack>(&*packet) : nullptr;
    if (!ack) return fail(c, "no CONNACK");
    if (ack->reason != mqtt::ReasonCode::success) return fail(c, "CONNACK refused");
    c.state = State::idle;
    --pending_;
    ++r_.connected;
    last_connack_ns_ = now_ns();
    open_more();
  }

  void on_idle_readable(Conn& c) {
    bool closed = false;
    std::string why;
    read_some(c, closed, why);  // nothing is expected; what comes is ignored
    if (!closed) return;
    ++r_.dropped;
    close_fd(c);
  }

  void announce_hold() {
    if (o_.json) {
      std::printf("{\"event\":\"holding\",\"label\":\"%s\",\"connected\":%u,\"failed\":%u,\"hold_s\":%.1f}\n",
                  o_.label.c_str(), r_.connected, r_.failed, o_.hold);
    } else {
      std::printf("holding %u connections for %.1f s (%u failed)\n", r_.connected, o_.hold, r_.failed);
    }
    std::fflush(stdout);
  }

  void hold() {
    const std::uint64_t until = now_ns() + static_cast<std::uint64_t>(o_.hold * 1e9);
    for (std::uint64_t now = now_ns(); now < until; now = now_ns()) {
      loop_.poll(static_cast<std::int64_t>(std::min(until - now, kPollNs)));
    }
  }

  void close_all() {
    // A reset instead of FIN: nothing lingers in TIME_WAIT on this side for the next run.
    const linger lin{1, 0};
    for (auto& c : conns_) {
      if (c.fd < 0) continue;
      setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lin, sizeof lin);
      close_fd(c);
    }
  }

  void fail(Conn& c, const std::string& why) {
    --pending_;
    ++r_.failed;
    note_error(why);
    close_fd(c);
    open_more();
  }

  void fail_unregistered(Conn& c, const std::string& why) {
    ++r_.failed;
    note_error(why);
    ::close(c.fd);
    c.fd = -1;
    c.state = State::closed;
  }

  void close_fd(Conn& c) {
    loop_.remove(c.fd);
    ::close(c.fd);
    c.fd = -1;
    c.state = State::closed;
    c.layer.reset();
  }

  void note_error(const std::string& why) {
    if (r_.first_error.empty()) r_.first_error = why;
  }

  const BenchOptions& o_;
  const sockaddr_in broker_;
  const TransportSetup transport_;
  Loop loop_;
  ConnsResult r_;
  std::uint32_t n_ = 0;
  std::vector<Conn> conns_;
  std::uint32_t next_ = 0;
  std::uint32_t pending_ = 0;
  bool exhausted_ = false;
  bool use_sources_ = false;
  std::uint64_t last_connack_ns_ = 0;
};

}  // namespace

ConnsResult run_conns(const BenchOptions& o) {
  IdleConnections run(o);
  return run.run();
}

}  // namespace hermod::cli::bench
