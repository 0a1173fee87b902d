// MQTT over TLS: TCP as in TcpTransport (each resolved address in turn, TCP_NODELAY), then a
// client handshake on asio::ssl with the context of TlsClientContext (tls_config.hpp builds it):
// the broker's certificate is verified against the configured CAs and, by default, against the
// host name or address the client connected to. A failed verification completes async_connect
// with a tls_verify_category() code saying why ("hostname mismatch").
//
// close() closes the socket without a TLS close_notify: the client has sent DISCONNECT by then,
// and waiting for the peer's close_notify could hold a closing client forever.
// Threads and invariants as in transport.hpp; a TlsClientContext is immutable and may be shared
// by transports on any thread.
#pragma once

#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include "client/options.hpp"
#include "client/transport.hpp"

namespace hermod::client {

class TlsClientContext {
 public:
  // Null, with `error` saying which file or setting failed, if the context does not load.
  static std::shared_ptr<const TlsClientContext> load(const TlsOptions& options, std::string& error);

  const TlsOptions& options() const { return options_; }
  // asio::ssl::stream wants a non-const context; it only reads it (SSL_new).
  boost::asio::ssl::context& asio_context() const { return context_; }

 private:
  TlsClientContext(boost::asio::ssl::context::native_handle_type ctx, TlsOptions options)
      : context_(ctx), options_(std::move(options)) {}
  mutable boost::asio::ssl::context context_;
  TlsOptions options_;
};

class TlsTransport final : public Transport, public std::enable_shared_from_this<TlsTransport> {
 public:
  // `context` must not be null.
  TlsTransport(const boost::asio::any_io_executor& ex, std::shared_ptr<const TlsClientContext> context);

  void async_connect(const std::string& host, std::uint16_t port, ConnectHandler handler) override;
  void async_read_some(boost::asio::mutable_buffer buffer, IoHandler handler) override;
  void async_write(boost::asio::const_buffer buffer, IoHandler handler) override;
  void close() override;

 private:
  void handshake(const std::string& host, ConnectHandler handler);

  std::shared_ptr<const TlsClientContext> context_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::ssl::stream<boost::asio::ip::tcp::socket> stream_;
};

}  // namespace hermod::client
