// An endpoint as the logs write it: "192.0.2.1:4711", "[2001:db8::1]:4711". One spelling for
// every layer that names a client (connections, TLS, WebSocket, PROXY protocol).
// Threads: a pure function.
#pragma once

#include <string>

#include <boost/asio/ip/tcp.hpp>

namespace hermod::net {

std::string endpoint_text(const boost::asio::ip::tcp::endpoint& e);

}  // namespace hermod::net
