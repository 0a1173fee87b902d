// A Stream over a TCP socket: non-blocking reads and gathered writes straight on the
// descriptor, readiness waits through the worker's io_context, TCP_NODELAY set. Moves between
// workers as its bare descriptor. Threads: as Stream.
#pragma once

#include <memory>

#include <boost/asio/ip/tcp.hpp>

#include "net/stream.hpp"

namespace hermod::net {

// Bound to the io_context's own executor: a type-erased any_io_executor would cost every
// socket and every pending wait some 40 bytes more.
using TcpSocket = asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type>;

class TcpStream final : public Stream {
 public:
  // `socket`: connected; made non-blocking with TCP_NODELAY here.
  TcpStream(TcpSocket socket, asio::ip::tcp::endpoint remote);

  IoResult try_read(char* data, std::size_t size) override;
  IoResult try_writev(std::span<const asio::const_buffer> buffers) override;
  void async_wait(Want want, WaitHandler handler) override;
  void shutdown_write() override;
  void close() override;
  const asio::ip::tcp::endpoint& remote() const override { return remote_; }
  std::unique_ptr<DetachedStream> detach() override;

 private:
  TcpSocket socket_;
  asio::ip::tcp::endpoint remote_;
};

// A Stream for a freshly accepted socket; its remote address is read from the socket
// (unspecified, 0.0.0.0:0, if the peer is already gone).
std::unique_ptr<Stream> make_tcp_stream(TcpSocket socket);

}  // namespace hermod::net
