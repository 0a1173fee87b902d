// What `hermod-cli pub` and `hermod-cli sub` share: the mosquitto-style connection flags (TLS and
// -L in transport_args.hpp), turning them into ClientOptions, the -d packet trace, and how a
// failed connection is reported (message on stderr and the exit code mosquitto's tools use).
// Main thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <CLI/CLI.hpp>

#include "client/client.hpp"
#include "property_option.hpp"
#include "transport_args.hpp"

namespace hermod::cli {

struct CommonArgs {
  std::optional<std::string> host;  // default localhost
  std::optional<int> port;          // default 1883, 8883 with TLS
  TransportArgs transport;          // -L, --cafile, --capath, --cert, --key, --insecure, --tls-version
  std::string client_id;
  std::string id_prefix;
  std::optional<std::string> username;
  std::optional<std::string> password;
  int keepalive = 60;
  bool no_clean_session = false;
  std::string protocol = "311";
  bool debug = false;
  bool quiet = false;
  int qos = 0;
  std::optional<std::int64_t> session_expiry;  // -x; -1 means never
  std::optional<std::string> will_topic;
  std::optional<std::string> will_payload;
  int will_qos = 0;
  bool will_retain = false;
  CommandProperties props;  // -D, taken out of the arguments before CLI11 sees them
  std::vector<std::string> property_words;  // what CLI11 would store for -D (never: see above)
};

// Registers -h -p -i -I -u -P -k -c -V -d -q -x --quiet --will-* (and -D for --help's sake), -L
// and the TLS flags; `url_help` says what the path of a -L URL means to the command.
void add_common_options(CLI::App& app, CommonArgs& args, const std::string& url_help);

// Validates the combination and builds the client configuration; `tool` ("pub"/"sub") names the
// generated client id. `url_topic` receives the topic of an mqtt:// or mqtts:// -L URL, if it has
// one. Throws std::invalid_argument with a message for the user.
client::ClientOptions make_client_options(const CommonArgs& args, std::string_view tool,
                                          std::optional<std::string>* url_topic = nullptr);

// The transport factory for `options`, with the TLS context loaded now: a CA file, certificate or
// key that does not load is reported before any connection (std::invalid_argument).
client::TransportFactory make_factory(const client::ClientOptions& options);

mqtt::ProtocolVersion parse_protocol(const std::string& text);

// -d: one line on stderr per packet, in mosquitto's words ("Client x sending PUBLISH (d0, q1…)").
void install_debug_trace(client::Client& client);

// Reports a failed first connection on stderr and returns the exit code: the CONNACK code for a
// refusal (the 3.1.1 return code, or the MQTT 5 reason code), 1 for anything else. `detail` is
// ConnectResult::detail (why a TLS file did not load, the server's answer to a WebSocket upgrade).
int report_connect_failure(const std::error_code& ec, mqtt::ProtocolVersion version, bool quiet,
                           const std::string& detail = {});

// Parses `args` (without the program and command names) into `app`; CLI11 exceptions pass through.
void parse_args(CLI::App& app, std::vector<std::string> args);

}  // namespace hermod::cli
