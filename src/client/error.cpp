#include "client/error.hpp"

#include <openssl/x509.h>

namespace hermod::client {

namespace {

class ClientCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "hermod.client"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
      case Errc::not_connected: return "not connected";
      case Errc::connect_timeout: return "timed out connecting to the broker";
      case Errc::keepalive_timeout: return "keepalive timeout: the broker stopped answering";
      case Errc::connection_lost: return "connection lost";
      case Errc::malformed_packet: return "malformed packet from the broker";
      case Errc::protocol_error: return "protocol error by the broker";
      case Errc::offline_buffer_full: return "offline buffer full";
      case Errc::session_lost: return "broker lost the session before the QoS 2 handshake completed";
      case Errc::cancelled: return "operation cancelled";
      case Errc::invalid_argument: return "invalid argument";
      case Errc::timeout: return "timed out";
      case Errc::already_connecting: return "already connected or connecting";
      case Errc::packet_too_large: return "packet exceeds the broker's maximum packet size";
      case Errc::tls_setup_failed: return "TLS setup failed";
      case Errc::websocket_refused: return "the server refused the WebSocket upgrade";
      case Errc::websocket_closed: return "the server closed the WebSocket";
      case Errc::websocket_error: return "WebSocket protocol error by the server";
    }
    return "unknown client error";
  }
};

class ReasonCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "mqtt.reason"; }
  std::string message(int ev) const override {
    return std::string(mqtt::to_string(static_cast<mqtt::ReasonCode>(ev)));
  }
};

class TlsVerifyCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "hermod.tls_verify"; }
  std::string message(int ev) const override {
    return std::string("the broker's TLS certificate did not verify: ") + X509_verify_cert_error_string(ev);
  }
};

}  // namespace

const std::error_category& client_category() {
  static const ClientCategory c;
  return c;
}

const std::error_category& reason_category() {
  static const ReasonCategory c;
  return c;
}

const std::error_category& tls_verify_category() {
  static const TlsVerifyCategory c;
  return c;
}

std::error_code make_error_code(Errc e) { return {static_cast<int>(e), client_category()}; }

std::error_code make_error_code(mqtt::ReasonCode rc) {
  return {static_cast<int>(rc), reason_category()};
}

std::optional<mqtt::ReasonCode> reason_of(const std::error_code& ec) {
  if (ec.category() != reason_category()) return std::nullopt;
  return static_cast<mqtt::ReasonCode>(ec.value());
}

}  // namespace hermod::client
