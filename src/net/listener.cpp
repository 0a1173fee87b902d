#include "net/listener.hpp"

#include <boost/asio/ip/v6_only.hpp>

namespace hermod::net {

namespace asio = boost::asio;
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

asio::ip::tcp::acceptor open_listener(asio::io_context& io, const asio::ip::tcp::endpoint& endpoint) {
  asio::ip::tcp::acceptor a(io);
  a.open(endpoint.protocol());
  a.set_option(asio::ip::tcp::acceptor::reuse_address(true));
  a.set_option(reuse_port(true));
  if (endpoint.address().is_v6()) a.set_option(asio::ip::v6_only(true));
  a.bind(endpoint);
  a.listen(asio::socket_base::max_listen_connections);
  return a;
}

}  // namespace hermod::net
