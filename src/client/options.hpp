// Configuration of a Client: where and how to connect (address, transport: TCP, TLS, WebSocket or
// WebSocket over TLS, and the TLS settings), and the reliability knobs (reconnect backoff, offline
// buffer, in-flight window, keepalive). Any thread; plain value types, copied into the Client at
// creation. broker_url.hpp fills the address and transport from a URL (mqtts://host:8883).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "mqtt/decoder.hpp"
#include "mqtt/packet.hpp"

namespace hermod::client {

using namespace std::chrono_literals;

// Reconnect schedule: delay n (0-based) is min(max_delay, initial_delay * multiplier^n), then
// scaled by a random factor in [1 - jitter, 1 + jitter] (and capped at max_delay again), so that
// many clients cut off together do not come back together.
struct BackoffOptions {
  std::chrono::milliseconds initial_delay = 500ms;
  std::chrono::milliseconds max_delay = 30s;
  double multiplier = 2.0;
  double jitter = 0.2;  // 0 … 1
};

struct ReconnectOptions {
  bool enabled = true;
  // If false, a failure of the very first connection attempt completes async_connect with the
  // error and stops (what the mosquitto tools do). If true, the first attempt is retried too.
  bool retry_first_connect = false;
  BackoffOptions backoff;
};

// Bounds on publishes accepted but not yet sent: made while disconnected, or waiting for the
// in-flight window. A publish that would exceed either bound completes with
// Errc::offline_buffer_full and is not queued. 0 means no bound.
struct BufferLimits {
  std::size_t max_messages = 10'000;
  std::size_t max_bytes = 16 * 1024 * 1024;  // topic + payload bytes
};

// The byte stream under MQTT. The default TransportFactory (transport_factory.hpp) picks the
// transport from ClientOptions::transport.
enum class TransportKind : std::uint8_t {
  tcp,  // MQTT over TCP (port 1883 by convention)
  tls,  // MQTT over TLS (8883)
  ws,   // MQTT over WebSocket (RFC 6455; 80, or what the broker's listener uses)
  wss,  // MQTT over WebSocket over TLS (443)
};
const char* to_string(TransportKind kind);  // "tcp", "tls", "ws", "wss"
inline bool uses_tls(TransportKind k) { return k == TransportKind::tls || k == TransportKind::wss; }
inline bool uses_websocket(TransportKind k) { return k == TransportKind::ws || k == TransportKind::wss; }

enum class TlsVersion : std::uint8_t { v1_2, v1_3 };

// TLS settings of transports tls and wss (OpenSSL 3). Files are PEM; relative paths are taken
// relative to the working directory.
struct TlsOptions {
  // CAs that verify the broker's certificate: a file, and/or a hashed directory (c_rehash). With
  // neither, the system's default trust store (what OpenSSL was built to use).
  std::string ca_file;
  std::string ca_dir;
  // A client certificate (and its chain) for brokers that ask for one, and its private key; an
  // empty key_file means the key is in cert_file. key_password decrypts an encrypted key.
  std::string cert_file;
  std::string key_file;
  std::string key_password;
  // Sends the host as SNI (names, not IP addresses) and checks that the certificate is for the
  // host the client connects to (DNS name or IP address in subjectAltName). On by default.
  bool verify_server_name = true;
  // Accepts any certificate: no chain and no name verification. For tests only: anyone on the
  // path can impersonate the broker.
  bool insecure = false;
  TlsVersion min_version = TlsVersion::v1_2;
};

struct ClientOptions {
  std::string host = "localhost";
  std::uint16_t port = 1883;
  TransportKind transport = TransportKind::tcp;
  TlsOptions tls;                  // transports tls and wss
  std::string ws_path = "/mqtt";   // transports ws and wss: the HTTP path of the upgrade request
  mqtt::ProtocolVersion version = mqtt::ProtocolVersion::v3_1_1;

  // CONNECT fields. An empty client id asks the broker to assign one (3.1.1 requires
  // clean_start then; MQTT 5 reports the assigned id, which reconnects then reuse).
  std::string client_id;
  bool clean_start = true;               // "clean session" for 3.1/3.1.1; sent on every connect
  std::uint16_t keep_alive = 60;         // seconds; 0 disables PINGREQ and dead-link detection
  std::optional<mqtt::Will> will;
  std::optional<std::string> username;
  std::optional<std::string> password;
  mqtt::Properties connect_props;        // MQTT 5 CONNECT properties (session expiry...)

  // No connection (TCP, then the TLS and WebSocket handshakes) + CONNACK within this time: the
  // attempt fails with Errc::connect_timeout.
  std::chrono::milliseconds connect_timeout = 10s;
  // After a PINGREQ, the link is declared dead if nothing arrives within this time.
  // 0: the keepalive interval itself.
  std::chrono::milliseconds ping_timeout = 0ms;
  // Largest packet accepted from the broker.
  std::uint32_t max_packet_size = mqtt::kMaxPacketSize;
  // QoS 1/2 publishes awaiting acknowledgement at once; an MQTT 5 broker's receive maximum
  // lowers it further. 20 as in libmosquitto and paho: a 3.1.1 broker cannot announce its limit,
  // and mosquitto (max_inflight_messages 20) answers an incoming QoS 2 PUBLISH beyond it with a
  // plain PUBREC and drops the message.
  std::uint16_t max_inflight = 20;

  ReconnectOptions reconnect;
  BufferLimits offline_buffer;
};

}  // namespace hermod::client
