// Listening sockets. Every worker opens its own acceptor on each configured address with
// SO_REUSEPORT, so the kernel spreads new connections across the workers without a shared accept
// queue. (The TLS and WebSocket streams will live beside this file.)
// Main thread, before the workers start.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace hermod::net {

// Opens, binds and listens on `endpoint` with SO_REUSEADDR and SO_REUSEPORT (IPv6 sockets are
// v6-only, so "::1" and "127.0.0.1" can share a port). Throws boost::system::system_error.
boost::asio::ip::tcp::acceptor open_listener(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& endpoint);

}  // namespace hermod::net
