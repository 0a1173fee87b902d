// Broker configuration: one TOML file plus a few command-line overrides. Every option, its
// default and its bounds are documented in docs/configuration.md. Loading validates everything
// and throws ConfigError naming file, line and key; nothing else in the broker parses config.
// Built once on the main thread before workers start; read-only afterwards (shared by const&).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "net/address_range.hpp"
#include "net/tls_settings.hpp"

namespace hermod::broker {

// Which name of a verified client certificate becomes the MQTT user name.
enum class CertificateIdentity : std::uint8_t { off, common_name, subject };

struct ListenerConfig {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 1883;
  std::string transport = "tcp";  // tcp | tls | ws | wss
  net::TlsSettings tls;           // transports "tls" and "wss" only; paths absolute
  // With a verified client certificate: its CN (or subject) is the user name, and no password
  // is asked for (docs/listeners.md).
  CertificateIdentity identity_as_username = CertificateIdentity::off;
  // WebSocket (transports "ws" and "wss"): the upgrade's path, the Origin values allowed (empty:
  // any), the largest message (docs/listeners.md).
  std::string ws_path = "/mqtt";
  std::vector<std::string> ws_origins;
  std::uint64_t ws_max_message_size = 268'435'460;
  // Peers whose forwarding headers (X-Forwarded-For, X-Real-IP) name the real client.
  std::vector<net::AddressRange> trusted_proxies;
  // Every connection starts with a PROXY protocol header (v1 or v2) from one of trusted_proxies.
  bool proxy_protocol = false;
  // Open connections on this listener at once; 0: unlimited (limits.max_connections caps all).
  std::uint32_t max_connections = 0;
  // Source addresses this listener accepts: none of `deny`, and one of `allow` when it is not
  // empty. Checked as the socket is accepted, before any TLS handshake (docs/security.md).
  std::vector<net::AddressRange> allow;
  std::vector<net::AddressRange> deny;

  // Where it was configured, for errors found when it starts: the file, its index in
  // [[listeners]] and the line of each key given (0 if not given).
  std::string source;
  std::size_t index = 0;
  std::vector<std::pair<std::string, std::size_t>> key_lines;
  std::size_t line_of(const std::string& key) const;

  bool is_tls() const { return transport == "tls" || transport == "wss"; }
  bool is_ws() const { return transport == "ws" || transport == "wss"; }
  // "127.0.0.1:8883" or "[::1]:8883", for messages.
  std::string name() const;
};

struct Limits {
  std::uint32_t max_packet_size = 268'435'460;  // whole packet, bytes
  std::uint32_t max_connections = 0;            // 0: unlimited
  std::uint16_t max_inflight = 20;              // per client, QoS 1/2 sent and not yet acknowledged
  std::uint32_t max_queued_messages = 1000;     // per session
  std::uint64_t max_queued_bytes = 0;           // per session, payload bytes; 0: unlimited
  std::uint32_t connect_timeout = 10;           // seconds
  std::uint32_t max_tls_handshakes = 64;        // per worker in progress at once; 0: unbounded
  bool queue_qos0 = false;                      // queue QoS 0 for offline persistent sessions
  std::uint64_t max_write_buffer = 8 << 20;     // per connection; QoS 0 beyond it is dropped
  // MQTT 5 (announced in CONNACK)
  std::uint16_t receive_maximum = 100;          // unacknowledged QoS 2 PUBLISHes a client may send
  std::uint16_t topic_alias_maximum = 10;       // topic aliases a client may use towards the broker
  std::uint32_t max_session_expiry = 0;         // seconds; 0: no cap
  std::uint16_t max_keepalive = 0;              // seconds; 0: no cap
  std::uint8_t max_qos = 2;

  // Per client (docs/security.md). 0: unlimited.
  std::uint32_t message_rate = 0;       // PUBLISH packets per second in (token bucket, one second's burst)
  std::uint64_t byte_rate = 0;          // PUBLISH bytes per second in (token bucket, one second's burst)
  std::uint32_t max_subscriptions = 0;  // subscriptions a session may hold
  std::uint16_t max_topic_length = 65'535;  // bytes of a topic name or filter (65535: what MQTT allows)
  std::uint16_t max_topic_depth = 0;    // levels of a topic name or filter
  // Per source address (docs/security.md, "Limits per address"). An address counts with the
  // others of its prefix: an IPv6 /64 is usually one customer.
  std::uint32_t max_connections_per_address = 0;  // open connections per address group; 0: unlimited
  std::uint8_t address_prefix_v4 = 32;            // bits of an IPv4 address that make its group
  std::uint8_t address_prefix_v6 = 64;            // bits of an IPv6 address that make its group
  std::uint32_t connect_rate_per_address = 0;     // accepted connections per second per group (one second's burst); 0: unlimited
  // Failed logins from an address group delay that group's next logins: doubling from
  // login_failure_delay_ms up to login_failure_delay_max_ms; forgotten after a success or
  // login_failure_quiet_period seconds without a failure. 0 ms: no delay.
  std::uint32_t login_failure_delay_ms = 250;
  std::uint32_t login_failure_delay_max_ms = 5'000;
  std::uint32_t login_failure_quiet_period = 60;
  // Flapping: a client id that connected flapping_connects times within flapping_window
  // seconds is refused (0x8A Banned) for flapping_ban seconds. 0 connects: no ban.
  std::uint32_t flapping_connects = 30;
  std::uint32_t flapping_window = 10;
  std::uint32_t flapping_ban = 30;
  // Bytes every growable queue together may hold (write buffers, session queues, batches between
  // workers, incomplete packets); above it publishers wait and QoS 0 to slow subscribers is
  // dropped (docs/performance.md). 0: no budget.
  std::uint64_t memory_budget = 64ull << 20;
};

struct Features {
  bool retain_available = true;
  bool wildcard_subscriptions = true;
  bool subscription_identifiers = true;
  bool shared_subscriptions = true;
};

// Who may connect (see docs/security.md).
struct AuthConfig {
  std::string password_file;    // absolute (resolved against the config file's directory); empty: none
  bool allow_anonymous = true;  // clients without a user name; default false once a password file is set
  // Topic ACL in Mosquitto's acl_file format (docs/security.md); absolute; empty: no ACL, every
  // client may use every topic but '$' ones.
  std::string acl_file;
  // A reload disconnects clients whose user is no longer in the password file.
  bool disconnect_removed_users = false;
};

// The HTTP listener for operators: metrics, health, admin API, dashboard (docs/operations.md).
// Off unless an [http] table is configured.
struct HttpConfig {
  bool enabled = false;
  std::string bind = "127.0.0.1";
  std::uint16_t port = 8080;
  bool tls = false;              // https, with the TLS keys of a listener
  net::TlsSettings tls_settings;
  // Name -> bearer token (at least 16 characters); the name is what the audit log shows.
  std::vector<std::pair<std::string, std::string>> admin_tokens;
  bool metrics_auth = false;     // /metrics needs a token too
  std::uint32_t max_connections = 256;
  std::uint64_t max_body_size = 1 << 20;
  std::uint32_t request_timeout = 10;  // seconds
  std::uint32_t idle_timeout = 60;     // seconds between requests on a kept-alive connection
};

// Loopback port 1883 on IPv4 and IPv6: the embedded default.
std::vector<ListenerConfig> default_listeners();

struct Config {
  std::string source = "<embedded default>";  // file the values came from, for messages
  unsigned workers = 0;                        // 0: one per hardware thread
  std::string log_level = "info";
  std::string log_format = "text";  // text | json (one JSON object per line, for log collectors)
  std::uint32_t sys_interval = 10;  // seconds, 0: $SYS off
  std::uint32_t file_check_interval = 0;  // seconds between checks of the TLS files; 0: SIGHUP only
  std::vector<ListenerConfig> listeners = default_listeners();
  Limits limits;
  Features features;
  AuthConfig auth;
  HttpConfig http;
  std::string data_dir;          // empty: no store (memory mode)
  std::string store_mode = "fsync";  // fsync | wal | memory (see docs/durability.md)
  // How long a QoS 1 message sent at once to an online persistent subscriber on the publisher's
  // worker may wait for that subscriber's PUBACK instead of a store write (the publisher's PUBACK
  // waits for whichever comes first); 0: every such message is written before its PUBACK.
  std::uint32_t ack_on_delivery_ms = 10;

  // Worker count with 0 resolved to the hardware thread count.
  unsigned resolved_workers() const;
};

// What a reload (SIGHUP, the file check) changes in a running broker: copies the reloadable keys
// of `reloaded` (the configuration file as read again) into `running`, and leaves every other
// key as the broker started with it. Listener keys are taken from the reloaded listener at the
// same index when it has the same bind, port and transport; the names of listeners for which
// that is not so are returned (their changes need a restart). The one list of reloadable keys:
// docs/configuration.md marks the same ones.
std::vector<std::string> apply_reloadable(const Config& reloaded, Config& running);

// A configuration error: "file:line: key: message".
class ConfigError : public std::runtime_error {
 public:
  ConfigError(const std::string& file, std::size_t line, const std::string& key, const std::string& message);
};

// Parses `path`; unknown keys, wrong types and out-of-range values are errors. Throws ConfigError.
Config load_config_file(const std::string& path);

// Parses TOML text (used by load_config_file and tests); `source` names it in errors.
Config parse_config(const std::string& text, const std::string& source);

}  // namespace hermod::broker
