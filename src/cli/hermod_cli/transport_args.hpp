// The flags that choose how hermod-cli pub, sub and bench reach the broker, besides -h and -p:
// mosquitto's TLS flags (--cafile, --capath, --cert, --key, --insecure, --tls-version) and -L/--url,
// and the rules that turn them into an Endpoint (transport, address, TLS settings). Pure: no I/O
// beyond CLI11's checks that the named files exist; unit-tested in tests/unit/client.
//
// The rules, as mosquitto_pub/mosquitto_sub where they have one:
//  * --cafile, --capath or --cert turns TLS on; the default port becomes 8883. --insecure and
//    --tls-version alone do not (mosquitto ignores them then; so do we).
//  * --cert needs --key and the other way round.
//  * --insecure: the broker's certificate is still verified against the CAs, but not its name
//    (mosquitto's meaning).
//  * -L URL: mqtt://, mqtts://, ws://, wss://, [user[:password]@]host[:port][/path]. The scheme
//    picks the transport (mqtts and wss verify against the system trust store unless --cafile or
//    --capath say otherwise); -h and -p cannot be combined with it, nor -u/-P with credentials in
//    it, nor TLS files with a plain scheme (mqtt://, ws://). For mqtt(s) the path is the topic,
//    as in mosquitto; for ws(s) it is the WebSocket path (default /mqtt) and the topic comes
//    from -t.
// Main thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "client/options.hpp"

namespace hermod::cli {

struct TransportArgs {
  std::optional<std::string> url;
  std::optional<std::string> cafile;
  std::optional<std::string> capath;
  std::optional<std::string> cert;
  std::optional<std::string> key;
  bool insecure = false;
  std::string tls_version = "tlsv1.2";
};

// Registers -L/--url and the TLS flags. `url_help` explains what the path of a URL means to the
// command.
void add_transport_options(CLI::App& app, TransportArgs& args, const std::string& url_help);

struct Endpoint {
  client::TransportKind transport = client::TransportKind::tcp;
  std::string host;
  std::uint16_t port = 1883;
  std::string ws_path = "/mqtt";
  client::TlsOptions tls;
  std::optional<std::string> username;  // from the URL
  std::optional<std::string> password;
  std::optional<std::string> topic;  // the path of an mqtt:// or mqtts:// URL, without its '/'
};

// Applies the rules above; `host` and `port` are -h and -p if given. Throws std::invalid_argument
// with a message for the user.
Endpoint resolve_endpoint(const TransportArgs& args, const std::optional<std::string>& host,
                          const std::optional<int>& port, const std::string& default_host);

// Copies the endpoint's transport, address and TLS settings into `options` (not the credentials
// or the topic: the command decides about those).
void apply_endpoint(const Endpoint& endpoint, client::ClientOptions& options);

}  // namespace hermod::cli
