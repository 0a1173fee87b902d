#include "net/tcp_stream.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hermod::net {

namespace {

// Gathered writes take at most this many buffers (the broker's write queue sends up to 64).
constexpr std::size_t kMaxIovecs = 64;

boost::system::error_code errno_code(int e) { return {e, boost::system::system_category()}; }

class DetachedTcp final : public DetachedStream {
 public:
  DetachedTcp(int fd, asio::ip::tcp::endpoint remote) : fd_(fd), remote_(remote) {}
  ~DetachedTcp() override {
    if (fd_ >= 0) ::close(fd_);
  }

  std::unique_ptr<Stream> attach(Poller& poller) override {
    boost::system::error_code ec;
    return TcpStream::open(poller, std::exchange(fd_, -1), remote_, ec);
  }

 private:
  int fd_;
  asio::ip::tcp::endpoint remote_;
};

}  // namespace

std::unique_ptr<TcpStream> TcpStream::open(Poller& poller, int fd, asio::ip::tcp::endpoint remote,
                                           boost::system::error_code& ec) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // best effort
  // Made first, registered second: the poller keeps a reference to the stream.
  auto stream = std::make_unique<TcpStream>(poller, fd, std::move(remote), Poller::Token{0});
  stream->token_ = poller.add(fd, *stream, ec);
  if (ec) return nullptr;  // the destructor closes fd
  return stream;
}

TcpStream::TcpStream(Poller& poller, int fd, asio::ip::tcp::endpoint remote, Poller::Token token)
    : poller_(poller), token_(token), remote_(std::move(remote)), fd_(fd) {}

TcpStream::~TcpStream() { close(); }

IoResult TcpStream::try_read(char* data, std::size_t size) {
  if (fd_ < 0) return {0, Want::nothing, true, errno_code(EBADF)};
  const ssize_t n = ::recv(fd_, data, size, 0);
  if (n > 0) {
    // Short: the socket is empty now, and the next bytes bring a new edge.
    if (static_cast<std::size_t>(n) < size) readable_ = false;
    return {static_cast<std::size_t>(n)};
  }
  if (n == 0) return {0, Want::nothing, true};  // end of stream
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
    readable_ = false;
    return {0, Want::read};
  }
  return {0, Want::nothing, true, errno_code(errno)};
}

IoResult TcpStream::try_writev(std::span<const asio::const_buffer> buffers) {
  if (fd_ < 0) return {0, Want::nothing, true, errno_code(EBADF)};
  iovec iov[kMaxIovecs];
  std::size_t count = 0;
  std::size_t offered = 0;
  for (const auto& b : buffers) {
    if (count == kMaxIovecs) break;
    iov[count].iov_base = const_cast<void*>(b.data());
    iov[count].iov_len = b.size();
    offered += b.size();
    ++count;
  }
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = count;
  const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
  if (n >= 0) {
    if (static_cast<std::size_t>(n) < offered) writable_ = false;  // the send buffer is full
    return {static_cast<std::size_t>(n)};
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
    writable_ = false;
    return {0, Want::write};
  }
  return {0, Want::nothing, true, errno_code(errno)};
}

void TcpStream::async_wait(Side side, Want want) {
  if (fd_ < 0 || want == Want::nothing) return;
  waits_[static_cast<int>(side)] = want;
  // Already possible: complete from the loop, not inline. Otherwise the next edge completes it.
  if (ready(want)) poller_.defer(token_);
}

void TcpStream::on_poll(std::uint32_t events) {
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable_ = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writable_ = true;
  const Want r = waits_[0];
  const Want w = waits_[1];
  const bool read_done = r != Want::nothing && ready(r);
  const bool write_done = w != Want::nothing && ready(w);
  if (read_done) waits_[0] = Want::nothing;
  if (write_done) waits_[1] = Want::nothing;
  // The first callback may close, detach or destroy this stream: only locals after it.
  StreamEvents* const events_to = events_;
  Poller& poller = poller_;
  const Poller::Token token = token_;
  if (read_done && events_to) events_to->on_stream_ready(Side::reading);
  if (write_done && events_to && poller.alive(token)) events_to->on_stream_ready(Side::writing);
}

void TcpStream::shutdown_write() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void TcpStream::close() {
  if (fd_ < 0) return;
  if (token_) poller_.remove(token_, fd_, false);
  ::close(fd_);  // also takes it out of the epoll set
  fd_ = -1;
  waits_[0] = waits_[1] = Want::nothing;
}

std::unique_ptr<DetachedStream> TcpStream::detach() {
  if (fd_ < 0) return nullptr;
  poller_.remove(token_, fd_, true);
  return std::make_unique<DetachedTcp>(std::exchange(fd_, -1), remote_);
}

Accepted accept_stream(int listener, Poller& poller) {
  for (;;) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    const int fd = ::accept4(listener, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      // A connection reset while queued is not the listener's problem: take the next one.
      if (errno == ECONNABORTED || errno == EINTR) continue;
      return {nullptr, errno};
    }
    asio::ip::tcp::endpoint remote;  // unspecified (0.0.0.0:0) unless the address is IP
    if ((addr.ss_family == AF_INET || addr.ss_family == AF_INET6) && len <= remote.capacity()) {
      std::memcpy(remote.data(), &addr, len);
      remote.resize(len);
    }
    boost::system::error_code ec;
    if (auto stream = TcpStream::open(poller, fd, remote, ec)) return {std::move(stream), 0};
    // Not registered (the kernel's epoll limits): this one is refused, the queue goes on.
  }
}

}  // namespace hermod::net
