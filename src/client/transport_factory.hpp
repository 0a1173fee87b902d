// The default TransportFactory: the transport ClientOptions::transport names. tcp → TcpTransport;
// tls → TlsTransport; ws → WsTransport over TcpTransport; wss → WsTransport over TlsTransport,
// with ws_path and the subprotocol of the MQTT version ("mqtt"; "mqttv3.1" for 3.1).
//
// The TLS context (CAs, client certificate, key) is loaded once, when the factory is made, and
// shared by every connection it makes, reconnects included. Any thread; the factory itself may be
// called from any thread (each call makes a transport for the given executor).
#pragma once

#include <string>
#include <vector>

#include "client/options.hpp"
#include "client/transport.hpp"

namespace hermod::client {

// If the TLS context does not load, `error` (when given) says why ("cannot load CA file 'x':
// ..."), and every transport of the factory fails to connect with Errc::tls_setup_failed, that
// reason in its error_detail(): a Client built on it reports the failure on its first connect.
TransportFactory make_transport_factory(const ClientOptions& options, std::string* error = nullptr);

// The subprotocols a WebSocket client offers for `version`.
std::vector<std::string> websocket_protocols(mqtt::ProtocolVersion version);

}  // namespace hermod::client
