// The transport seam: the client speaks MQTT over any ordered, reliable byte stream. TCP
// (tcp_transport.hpp), TLS on asio::ssl (tls_transport.hpp) and WebSocket over either of them
// (ws_transport.hpp, which wraps another Transport) implement it without the protocol code
// knowing; transport_factory.hpp picks one from ClientOptions. Tests plug in an in-memory fake.
//
// Threads: a Transport lives on its Client's executor; every method is called from it and every
// handler runs on it. A Transport is used for one connection only: each (re)connect creates a
// fresh one through the TransportFactory.
// Invariants: at most one read and one write outstanding at a time (the client guarantees it);
// the buffers passed in stay valid until the handler runs. After close(), pending operations
// complete (with an error) and no new ones are started.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>

namespace hermod::client {

class Transport {
 public:
  using ConnectHandler = std::function<void(std::error_code)>;
  using IoHandler = std::function<void(std::error_code, std::size_t)>;

  virtual ~Transport() = default;

  // Resolves `host` and connects to `port`, including the TLS and WebSocket handshakes.
  virtual void async_connect(const std::string& host, std::uint16_t port, ConnectHandler handler) = 0;
  // Reads at least one byte into `buffer`; an error (including end of stream) ends the stream.
  virtual void async_read_some(boost::asio::mutable_buffer buffer, IoHandler handler) = 0;
  // Writes all of `buffer` or fails.
  virtual void async_write(boost::asio::const_buffer buffer, IoHandler handler) = 0;
  // Closes the stream; idempotent, never fails.
  virtual void close() = 0;
  // After a failure: what the error code cannot say (the server's answer to a WebSocket upgrade,
  // the close code it sent...), or empty.
  virtual std::string error_detail() const { return {}; }
};

using TransportFactory = std::function<std::shared_ptr<Transport>(const boost::asio::any_io_executor&)>;

}  // namespace hermod::client
