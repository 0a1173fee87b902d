// Errors the client library reports through completion handlers and ClientError, as
// std::error_code values in three categories:
//  * client_category(): what went wrong on our side of the wire (Errc below): a timeout, a lost
//    connection, a full offline buffer, a malformed packet from the peer...
//  * reason_category(): an MQTT reason code the broker sent (CONNACK refusal, PUBACK/PUBREC failure,
//    a server DISCONNECT), so `ec.message()` reads "not authorized" and `reason_of(ec)` gives it back.
//  * tls_verify_category(): the broker's TLS certificate did not verify; the value is OpenSSL's
//    verification result (X509_V_ERR_...), so `ec.message()` says why ("hostname mismatch",
//    "unable to get local issuer certificate").
// Transport errors (connection refused, reset, TLS alerts) arrive as Asio's error codes.
// Any thread; the categories are immutable singletons (constants, not mutable state).
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

#include "mqtt/reason_code.hpp"

namespace hermod::client {

enum class Errc {
  not_connected = 1,       // the operation needs a connection and reconnecting is disabled
  connect_timeout,         // no CONNACK (or no TCP connection) within ConnectOptions::connect_timeout
  keepalive_timeout,       // the broker did not answer PINGREQ within the ping timeout: dead link
  connection_lost,         // the transport closed or failed under an established connection
  malformed_packet,        // the peer sent bytes that do not decode (detail names the rule)
  protocol_error,          // the peer sent a well-formed packet that is wrong here (detail says why)
  offline_buffer_full,     // publish refused: the queue of unsent publishes is at its count/byte limit
  session_lost,            // a QoS 2 message whose PUBREC arrived, but the broker lost the session
  cancelled,               // the operation was abandoned by disconnect() or destruction
  invalid_argument,        // bad topic, QoS, filter or oversized packet; nothing was sent
  timeout,                 // a synchronous call did not complete in the time it was given
  already_connecting,      // connect() while a connection exists or is being made
  packet_too_large,        // the packet exceeds the broker's maximum packet size
  tls_setup_failed,        // the TLS context did not load (CA, certificate or key file; detail says which)
  websocket_refused,       // the server did not accept the WebSocket upgrade (detail: its answer)
  websocket_closed,        // the server closed the WebSocket (a close frame)
  websocket_error,         // the server broke RFC 6455 (detail names the rule)
};

const std::error_category& client_category();
const std::error_category& reason_category();
const std::error_category& tls_verify_category();

std::error_code make_error_code(Errc e);
// An error_code carrying an MQTT reason code (>= 0x80 for failures).
std::error_code make_error_code(mqtt::ReasonCode rc);

// The reason code if `ec` is in reason_category(), nullopt otherwise.
std::optional<mqtt::ReasonCode> reason_of(const std::error_code& ec);

// Thrown by the synchronous facade (SyncClient) only: the async core never throws. `detail` adds
// what the error code cannot carry (the broker's reason string, the decoder's explanation).
class ClientError : public std::system_error {
 public:
  ClientError(std::error_code ec, const std::string& detail)
      : std::system_error(ec, detail.empty() ? ec.message() : ec.message() + ": " + detail) {}
};

}  // namespace hermod::client

namespace std {
template <>
struct is_error_code_enum<hermod::client::Errc> : true_type {};
}  // namespace std
