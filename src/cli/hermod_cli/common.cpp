#include "common.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <stdexcept>

#include <fmt/format.h>

#include "client/transport_factory.hpp"

namespace hermod::cli {

namespace {

std::string random_suffix(std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device rd;
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += kHex[rd() % 16];
  return s;
}

std::uint8_t reason_byte(mqtt::ReasonCode rc) { return static_cast<std::uint8_t>(rc); }

}  // namespace

void add_common_options(CLI::App& app, CommonArgs& a, const std::string& url_help) {
  app.add_option("-h,--host", a.host, "broker host (default localhost)");
  app.add_option("-p,--port", a.port, "broker port (default 1883; 8883 with TLS)")->check(CLI::Range(1, 65535));
  app.add_option("-i,--id", a.client_id, "client id (default: generated)");
  app.add_option("-I,--id-prefix", a.id_prefix, "generated client id starts with this");
  app.add_option("-u,--username", a.username, "user name");
  app.add_option("-P,--pw", a.password, "password");
  app.add_option("-k,--keepalive", a.keepalive, "keepalive in seconds (default 60, 0 disables)")
      ->check(CLI::Range(0, 65535));
  app.add_flag("-c,--disable-clean-session", a.no_clean_session,
               "keep the session on the broker (needs -i); MQTT 5: session never expires unless -x");
  app.add_option("-V,--protocol-version", a.protocol, "mqttv5, mqttv311 or mqttv31 (also 5, 311, 31)");
  app.add_option("-q,--qos", a.qos, "quality of service 0, 1 or 2")->check(CLI::Range(0, 2));
  app.add_option("-x,--session-expiry-interval", a.session_expiry,
                 "MQTT 5 session expiry in seconds, -1 for never");
  app.add_flag("-d,--debug", a.debug, "print every packet sent and received on stderr");
  app.add_flag("--quiet", a.quiet, "print no error messages");
  app.add_option("--will-topic", a.will_topic, "topic of the last will");
  app.add_option("--will-payload", a.will_payload, "payload of the last will");
  app.add_option("--will-qos", a.will_qos, "QoS of the last will")->check(CLI::Range(0, 2));
  app.add_flag("--will-retain", a.will_retain, "retain the last will");
  // Handled before CLI11 parses (it takes 3 or 4 words); listed here for --help only.
  app.add_option("-D,--property", a.property_words,
                 "MQTT 5 property: -D command name value, e.g. -D publish user-property key value, "
                 "-D connect session-expiry-interval 60 (commands: connect, publish, subscribe, "
                 "unsubscribe, disconnect, will)");
  add_transport_options(app, a.transport, url_help);
}

mqtt::ProtocolVersion parse_protocol(const std::string& text) {
  if (text == "mqttv5" || text == "5") return mqtt::ProtocolVersion::v5;
  if (text == "mqttv311" || text == "311") return mqtt::ProtocolVersion::v3_1_1;
  if (text == "mqttv31" || text == "31") return mqtt::ProtocolVersion::v3_1;
  throw std::invalid_argument("invalid protocol version '" + text + "' (mqttv5, mqttv311, mqttv31)");
}

client::ClientOptions make_client_options(const CommonArgs& a, std::string_view tool,
                                          std::optional<std::string>* url_topic) {
  client::ClientOptions o;
  o.version = parse_protocol(a.protocol);
  const bool v5 = mqtt::is_v5(o.version);
  if (a.props.any && !v5) throw std::invalid_argument("-D properties need MQTT 5 (-V mqttv5)");
  if (a.session_expiry && !v5) throw std::invalid_argument("-x needs MQTT 5 (-V mqttv5)");
  if (a.no_clean_session && a.client_id.empty()) {
    throw std::invalid_argument("you must provide a client id (-i) with -c");
  }
  if (a.will_payload && !a.will_topic) throw std::invalid_argument("--will-payload needs --will-topic");
  const Endpoint endpoint = resolve_endpoint(a.transport, a.host, a.port, "localhost");
  apply_endpoint(endpoint, o);
  if (url_topic) *url_topic = endpoint.topic;
  o.client_id = a.client_id;
  if (o.client_id.empty()) {
    // 3.1 allows at most 23 characters; this stays under it with a short prefix.
    const std::string prefix = a.id_prefix.empty() ? "hermod-" + std::string(tool) + "-" : a.id_prefix;
    o.client_id = prefix + random_suffix(8);
  }
  o.clean_start = !a.no_clean_session;
  o.keep_alive = static_cast<std::uint16_t>(a.keepalive);
  if ((endpoint.username || endpoint.password) && (a.username || a.password)) {
    throw std::invalid_argument("the -L URL has credentials: do not combine it with -u or -P");
  }
  o.username = endpoint.username ? endpoint.username : a.username;
  o.password = endpoint.password ? endpoint.password : a.password;
  if (o.password && !o.username && !v5) throw std::invalid_argument("-P needs -u before MQTT 5");
  if (a.will_topic) {
    mqtt::Will w;
    w.topic = *a.will_topic;
    w.payload = a.will_payload.value_or("");
    w.qos = static_cast<std::uint8_t>(a.will_qos);
    w.retain = a.will_retain;
    w.props = a.props.will;
    o.will = std::move(w);
  }
  if (v5) {
    o.connect_props = a.props.connect;
    if (a.session_expiry) {
      o.connect_props.session_expiry_interval =
          *a.session_expiry < 0 ? 0xFFFFFFFFu : static_cast<std::uint32_t>(*a.session_expiry);
    } else if (a.no_clean_session && !o.connect_props.session_expiry_interval) {
      // Like mosquitto: -c on MQTT 5 means a session that outlives the connection.
      o.connect_props.session_expiry_interval = 0xFFFFFFFFu;
    }
  }
  return o;
}

void install_debug_trace(client::Client& client) {
  client.set_trace_handler([&client](bool outgoing, const mqtt::Packet& packet) {
    const std::string id = client.client_id().empty() ? "(null)" : client.client_id();
    const char* dir = outgoing ? "sending" : "received";
    const bool v5 = mqtt::is_v5(client.options().version);
    std::string line = std::visit(
        [&](const auto& p) -> std::string {
          using T = std::decay_t<decltype(p)>;
          const auto name = mqtt::to_string(mqtt::type_of(packet));
          if constexpr (std::is_same_v<T, mqtt::Connack>) {
            const int code = v5 ? reason_byte(p.reason) : mqtt::to_v3_connack_code(p.reason);
            return fmt::format("{} ({})", name, code);
          } else if constexpr (std::is_same_v<T, mqtt::Publish>) {
            return fmt::format("{} (d{}, q{}, r{}, m{}, '{}', ... ({} bytes))", name, p.dup ? 1 : 0, p.qos,
                               p.retain ? 1 : 0, p.packet_id, p.topic, p.payload.size());
          } else if constexpr (std::is_same_v<T, mqtt::Puback> || std::is_same_v<T, mqtt::Pubrec> ||
                               std::is_same_v<T, mqtt::Pubrel> || std::is_same_v<T, mqtt::Pubcomp>) {
            return fmt::format("{} (Mid: {}, RC:{})", name, p.packet_id, reason_byte(p.reason));
          } else if constexpr (std::is_same_v<T, mqtt::Subscribe>) {
            std::string s;
            for (const auto& t : p.subscriptions) {
              s += fmt::format("{}{} (Mid: {}, Topic: {}, QoS: {})", s.empty() ? "" : "\n", name, p.packet_id,
                               t.filter, t.options.qos);
            }
            return s;
          } else if constexpr (std::is_same_v<T, mqtt::Unsubscribe>) {
            return fmt::format("{} (Mid: {}, Topic: {})", name, p.packet_id, fmt::join(p.filters, ", "));
          } else if constexpr (std::is_same_v<T, mqtt::Suback> || std::is_same_v<T, mqtt::Unsuback>) {
            std::vector<int> codes;
            for (auto r : p.reasons) codes.push_back(reason_byte(r));
            return fmt::format("{} (Mid: {}, {})", name, p.packet_id, fmt::join(codes, ", "));
          } else if constexpr (std::is_same_v<T, mqtt::Disconnect>) {
            return fmt::format("{} ({})", name, reason_byte(p.reason));
          } else {
            return std::string(name);
          }
        },
        packet);
    // One "Client … " prefix per line (a SUBSCRIBE with several filters prints several).
    std::string out;
    std::size_t start = 0;
    while (start <= line.size()) {
      const auto end = std::min(line.find('\n', start), line.size());
      out += fmt::format("Client {} {} {}\n", id, dir, line.substr(start, end - start));
      start = end + 1;
    }
    std::fputs(out.c_str(), stderr);
  });
}

int report_connect_failure(const std::error_code& ec, mqtt::ProtocolVersion version, bool quiet,
                           const std::string& detail) {
  if (auto reason = client::reason_of(ec)) {
    if (!quiet) std::fprintf(stderr, "Connection error: Connection Refused: %s.\n", ec.message().c_str());
    return mqtt::is_v5(version) ? reason_byte(*reason) : mqtt::to_v3_connack_code(*reason);
  }
  if (!quiet) {
    std::fprintf(stderr, "Error: %s%s%s\n", ec.message().c_str(), detail.empty() ? "" : ": ", detail.c_str());
  }
  return 1;
}

client::TransportFactory make_factory(const client::ClientOptions& options) {
  std::string error;
  auto factory = client::make_transport_factory(options, &error);
  if (!error.empty()) throw std::invalid_argument(error);
  return factory;
}

void parse_args(CLI::App& app, std::vector<std::string> args) {
  std::reverse(args.begin(), args.end());  // CLI11 takes the vector last-argument-first
  app.parse(args);
}

}  // namespace hermod::cli
