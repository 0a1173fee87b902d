// Plain TCP transport: resolve, try each address in turn, set TCP_NODELAY (MQTT packets are small
// and latency matters more than segment count). Threads and invariants as in transport.hpp.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include "client/transport.hpp"

namespace hermod::client {

class TcpTransport final : public Transport, public std::enable_shared_from_this<TcpTransport> {
 public:
  explicit TcpTransport(const boost::asio::any_io_executor& ex) : resolver_(ex), socket_(ex) {}

  void async_connect(const std::string& host, std::uint16_t port, ConnectHandler handler) override;
  void async_read_some(boost::asio::mutable_buffer buffer, IoHandler handler) override;
  void async_write(boost::asio::const_buffer buffer, IoHandler handler) override;
  void close() override;

 private:
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::ip::tcp::socket socket_;
};

// The default TransportFactory.
std::shared_ptr<Transport> make_tcp_transport(const boost::asio::any_io_executor& ex);

}  // namespace hermod::client
