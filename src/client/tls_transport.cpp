#include "client/tls_transport.hpp"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>

#include "client/error.hpp"
#include "client/tls_config.hpp"

namespace hermod::client {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

std::shared_ptr<const TlsClientContext> TlsClientContext::load(const TlsOptions& options, std::string& error) {
  SSL_CTX* ctx = new_client_tls_context(options, error);
  if (!ctx) return nullptr;
  // asio::ssl::context takes ownership of the handle.
  return std::shared_ptr<const TlsClientContext>(new TlsClientContext(ctx, options));
}

TlsTransport::TlsTransport(const asio::any_io_executor& ex, std::shared_ptr<const TlsClientContext> context)
    : context_(std::move(context)), resolver_(ex), stream_(ex, context_->asio_context()) {}

void TlsTransport::async_connect(const std::string& host, std::uint16_t port, ConnectHandler handler) {
  resolver_.async_resolve(
      host, std::to_string(port),
      [self = shared_from_this(), host, handler = std::move(handler)](
          const boost::system::error_code& ec, const tcp::resolver::results_type& results) mutable {
        if (ec) return handler(ec);
        asio::async_connect(self->stream_.lowest_layer(), results,
                            [self, host, handler = std::move(handler)](const boost::system::error_code& ec,
                                                                       const tcp::endpoint&) mutable {
                              if (ec) return handler(ec);
                              boost::system::error_code ignored;
                              self->stream_.lowest_layer().set_option(tcp::no_delay(true), ignored);
                              self->handshake(host, std::move(handler));
                            });
      });
}

void TlsTransport::handshake(const std::string& host, ConnectHandler handler) {
  if (!prepare_client_tls(stream_.native_handle(), host, context_->options())) {
    return handler(make_error_code(Errc::tls_setup_failed));
  }
  stream_.async_handshake(ssl::stream_base::client, [self = shared_from_this(), handler = std::move(handler)](
                                                        const boost::system::error_code& ec) {
    // OpenSSL reports a refused certificate as "certificate verify failed"; the verification
    // result says which rule failed, which is what a user needs to fix it.
    if (ec && !self->context_->options().insecure) {
      if (auto verify = verification_error(self->stream_.native_handle())) return handler(verify);
    }
    handler(ec);
  });
}

void TlsTransport::async_read_some(asio::mutable_buffer buffer, IoHandler handler) {
  stream_.async_read_some(buffer, [self = shared_from_this(), handler = std::move(handler)](
                                      const boost::system::error_code& ec, std::size_t n) { handler(ec, n); });
}

void TlsTransport::async_write(asio::const_buffer buffer, IoHandler handler) {
  asio::async_write(stream_, buffer, [self = shared_from_this(), handler = std::move(handler)](
                                         const boost::system::error_code& ec, std::size_t n) { handler(ec, n); });
}

void TlsTransport::close() {
  resolver_.cancel();
  boost::system::error_code ignored;
  stream_.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.lowest_layer().close(ignored);
}

}  // namespace hermod::client
