#include "client/tcp_transport.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>

namespace hermod::client {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

void TcpTransport::async_connect(const std::string& host, std::uint16_t port, ConnectHandler handler) {
  // Handlers hold the transport so the socket outlives its operations even if the client has
  // already dropped this connection.
  resolver_.async_resolve(
      host, std::to_string(port),
      [self = shared_from_this(), handler = std::move(handler)](
          const boost::system::error_code& ec, const tcp::resolver::results_type& results) mutable {
        if (ec) return handler(ec);
        asio::async_connect(self->socket_, results,
                            [self, handler = std::move(handler)](const boost::system::error_code& ec,
                                                                 const tcp::endpoint&) {
                              if (!ec) {
                                boost::system::error_code ignored;
                                self->socket_.set_option(tcp::no_delay(true), ignored);
                              }
                              handler(ec);
                            });
      });
}

void TcpTransport::async_read_some(asio::mutable_buffer buffer, IoHandler handler) {
  socket_.async_read_some(buffer, [self = shared_from_this(), handler = std::move(handler)](
                                      const boost::system::error_code& ec, std::size_t n) {
    handler(ec, n);
  });
}

void TcpTransport::async_write(asio::const_buffer buffer, IoHandler handler) {
  asio::async_write(socket_, buffer, [self = shared_from_this(), handler = std::move(handler)](
                                         const boost::system::error_code& ec, std::size_t n) {
    handler(ec, n);
  });
}

void TcpTransport::close() {
  resolver_.cancel();
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

std::shared_ptr<Transport> make_tcp_transport(const asio::any_io_executor& ex) {
  return std::make_shared<TcpTransport>(ex);
}

}  // namespace hermod::client
