#include "client/transport_factory.hpp"

#include <boost/asio/post.hpp>

#include "client/error.hpp"
#include "client/tcp_transport.hpp"
#include "client/tls_transport.hpp"
#include "client/ws_transport.hpp"

namespace hermod::client {

namespace asio = boost::asio;

namespace {

// Stands in for a transport that cannot exist (its TLS context did not load): every connect
// fails with Errc::tls_setup_failed and the reason.
class FailedTransport final : public Transport {
 public:
  FailedTransport(const asio::any_io_executor& ex, std::string detail) : ex_(ex), detail_(std::move(detail)) {}
  void async_connect(const std::string&, std::uint16_t, ConnectHandler handler) override {
    asio::post(ex_, [handler = std::move(handler)] { handler(make_error_code(Errc::tls_setup_failed)); });
  }
  void async_read_some(asio::mutable_buffer, IoHandler handler) override { fail(std::move(handler)); }
  void async_write(asio::const_buffer, IoHandler handler) override { fail(std::move(handler)); }
  void close() override {}
  std::string error_detail() const override { return detail_; }

 private:
  void fail(IoHandler handler) {
    asio::post(ex_, [handler = std::move(handler)] { handler(make_error_code(Errc::tls_setup_failed), 0); });
  }
  asio::any_io_executor ex_;
  std::string detail_;
};

}  // namespace

std::vector<std::string> websocket_protocols(mqtt::ProtocolVersion version) {
  // [MQTT-6.0.0-3]: "mqtt" for 3.1.1 and 5; MQTT 3.1 clients offered "mqttv3.1".
  if (version == mqtt::ProtocolVersion::v3_1) return {"mqttv3.1"};
  return {"mqtt"};
}

TransportFactory make_transport_factory(const ClientOptions& options, std::string* error) {
  const TransportKind kind = options.transport;
  if (kind == TransportKind::tcp) return make_tcp_transport;
  std::shared_ptr<const TlsClientContext> context;
  std::string why;
  if (uses_tls(kind)) {
    context = TlsClientContext::load(options.tls, why);
    if (!context) {
      if (error) *error = why;
      return [why](const asio::any_io_executor& ex) -> std::shared_ptr<Transport> {
        return std::make_shared<FailedTransport>(ex, why);
      };
    }
  }
  WsSettings ws{options.ws_path, websocket_protocols(options.version)};
  return [kind, context, ws](const asio::any_io_executor& ex) -> std::shared_ptr<Transport> {
    std::shared_ptr<Transport> stream;
    if (context) {
      stream = std::make_shared<TlsTransport>(ex, context);
    } else {
      stream = std::make_shared<TcpTransport>(ex);
    }
    if (!uses_websocket(kind)) return stream;
    return std::make_shared<WsTransport>(ex, std::move(stream), ws);
  };
}

}  // namespace hermod::client
