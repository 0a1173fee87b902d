#include "net/tcp_stream.hpp"

#include <unistd.h>

namespace hermod::net {

namespace {

bool would_block(const boost::system::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

class DetachedTcp final : public DetachedStream {
 public:
  DetachedTcp(int fd, asio::ip::tcp protocol, asio::ip::tcp::endpoint remote)
      : fd_(fd), protocol_(protocol), remote_(remote) {}
  ~DetachedTcp() override {
    if (fd_ >= 0) ::close(fd_);
  }

  std::unique_ptr<Stream> attach(asio::io_context& io) override {
    boost::system::error_code ec;
    TcpSocket socket(io);
    socket.assign(protocol_, fd_, ec);
    if (ec) return nullptr;  // the destructor closes the descriptor
    fd_ = -1;
    return std::make_unique<TcpStream>(std::move(socket), remote_);
  }

 private:
  int fd_;
  asio::ip::tcp protocol_;
  asio::ip::tcp::endpoint remote_;
};

}  // namespace

TcpStream::TcpStream(TcpSocket socket, asio::ip::tcp::endpoint remote)
    : socket_(std::move(socket)), remote_(std::move(remote)) {
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
}

IoResult TcpStream::try_read(char* data, std::size_t size) {
  boost::system::error_code ec;
  const std::size_t n = socket_.read_some(asio::buffer(data, size), ec);
  if (!ec) return {n};
  if (would_block(ec)) return {0, Want::read};
  IoResult r{0, Want::nothing, true};
  if (ec != asio::error::eof) r.error = ec;
  return r;
}

IoResult TcpStream::try_writev(std::span<const asio::const_buffer> buffers) {
  boost::system::error_code ec;
  const std::size_t n = socket_.write_some(buffers, ec);
  if (!ec) return {n};
  if (would_block(ec)) return {0, Want::write};
  return {0, Want::nothing, true, ec};
}

void TcpStream::async_wait(Want want, WaitHandler handler) {
  socket_.async_wait(want == Want::write ? asio::socket_base::wait_write : asio::socket_base::wait_read,
                     std::move(handler));
}

void TcpStream::shutdown_write() {
  boost::system::error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_send, ec);
}

void TcpStream::close() {
  boost::system::error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_both, ec);
  socket_.close(ec);
}

std::unique_ptr<DetachedStream> TcpStream::detach() {
  boost::system::error_code ec;
  const auto protocol = socket_.local_endpoint(ec).protocol();
  const int fd = ec ? -1 : socket_.release(ec);
  if (ec || fd < 0) {
    close();
    return nullptr;
  }
  return std::make_unique<DetachedTcp>(fd, protocol, remote_);
}

std::unique_ptr<Stream> make_tcp_stream(TcpSocket socket) {
  boost::system::error_code ec;
  auto remote = socket.remote_endpoint(ec);  // unspecified (0.0.0.0:0) if unknown
  return std::make_unique<TcpStream>(std::move(socket), std::move(remote));
}

}  // namespace hermod::net
