#include "net/endpoint_text.hpp"

namespace hermod::net {

std::string endpoint_text(const boost::asio::ip::tcp::endpoint& e) {
  const auto a = e.address().to_string();
  return (e.address().is_v6() ? "[" + a + "]" : a) + ":" + std::to_string(e.port());
}

}  // namespace hermod::net
