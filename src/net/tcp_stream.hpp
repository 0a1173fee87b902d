// A Stream over a TCP socket: non-blocking reads and gathered writes straight on the
// descriptor, readiness from the worker's Poller (registered once, edge-triggered), TCP_NODELAY
// set. Moves between workers as its bare descriptor. Threads: as Stream.
#pragma once

#include <memory>

#include <boost/asio/ip/tcp.hpp>

#include "net/poller.hpp"
#include "net/stream.hpp"

namespace hermod::net {

class TcpStream final : public Stream, private Poller::Target {
 public:
  // `fd`: a connected non-blocking socket, owned from now on (closed if this fails); TCP_NODELAY
  // is set here. Null, with `ec` set, if it cannot be added to `poller`.
  static std::unique_ptr<TcpStream> open(Poller& poller, int fd, asio::ip::tcp::endpoint remote,
                                         boost::system::error_code& ec);
  TcpStream(Poller& poller, int fd, asio::ip::tcp::endpoint remote, Poller::Token token);
  ~TcpStream() override;

  void set_events(StreamEvents* events) override { events_ = events; }
  IoResult try_read(char* data, std::size_t size) override;
  IoResult try_writev(std::span<const asio::const_buffer> buffers) override;
  void async_wait(Side side, Want want) override;
  void shutdown_write() override;
  void close() override;
  const asio::ip::tcp::endpoint& remote() const override { return remote_; }
  std::unique_ptr<DetachedStream> detach() override;

 private:
  void on_poll(std::uint32_t events) override;
  bool ready(Want want) const { return want == Want::read ? readable_ : writable_; }

  // Ordered so that the small members fill the gaps (an idle connection's size is measured).
  Poller& poller_;
  Poller::Token token_ = 0;
  StreamEvents* events_ = nullptr;
  asio::ip::tcp::endpoint remote_;
  int fd_;
  Want waits_[2] = {Want::nothing, Want::nothing};  // per Side: what its wait waits for
  bool readable_ = true;        // no read has stopped short since the last EPOLLIN edge
  bool writable_ = true;        // no write has stopped short since the last EPOLLOUT edge
};

// One connection taken from a listening socket's queue: the stream, or the errno that stopped
// the taking (EAGAIN: the queue is empty; EMFILE and the like: for the caller to report).
struct Accepted {
  std::unique_ptr<Stream> stream;
  int error = 0;
};
// Accepts one pending connection of the non-blocking listening socket `listener` as a stream on
// `poller`. Connections reset while queued are skipped. The peer's address comes with accept4.
Accepted accept_stream(int listener, Poller& poller);

}  // namespace hermod::net
