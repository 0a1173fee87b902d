#include "client/broker_url.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "net/percent_encoding.hpp"

namespace hermod::client {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::optional<TransportKind> scheme_kind(std::string_view scheme) {
  if (iequals(scheme, "mqtt")) return TransportKind::tcp;
  if (iequals(scheme, "mqtts")) return TransportKind::tls;
  if (iequals(scheme, "ws")) return TransportKind::ws;
  if (iequals(scheme, "wss")) return TransportKind::wss;
  return std::nullopt;
}

bool parse_port(std::string_view text, std::uint16_t& port) {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

bool valid_host_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u != 0x7F && c != '[' && c != ']' && c != '@' && c != '/' && c != ':' && c != '?' && c != '#';
}

// host[:port] or [v6][:port] into `url`; false with `error`.
bool parse_host_port(std::string_view hp, BrokerUrl& url, std::string& error) {
  std::string_view port_text;
  bool has_port = false;
  if (!hp.empty() && hp.front() == '[') {
    const auto close = hp.find(']');
    if (close == std::string_view::npos) return error = "unclosed '[' in the host", false;
    const std::string v6(hp.substr(1, close - 1));
    in6_addr addr{};
    if (inet_pton(AF_INET6, v6.c_str(), &addr) != 1) return error = "invalid IPv6 address '" + v6 + "'", false;
    url.host = v6;
    const auto rest = hp.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return error = "unexpected '" + std::string(rest) + "' after the IPv6 address", false;
      port_text = rest.substr(1);
      has_port = true;
    }
  } else {
    if (std::count(hp.begin(), hp.end(), ':') > 1) return error = "an IPv6 address goes in brackets: [::1]", false;
    const auto colon = hp.find(':');
    url.host = std::string(hp.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = hp.substr(colon + 1);
      has_port = true;
    }
    if (url.host.empty()) return error = "empty host", false;
    if (!std::all_of(url.host.begin(), url.host.end(), valid_host_char)) {
      return error = "invalid host '" + url.host + "' (an IPv6 address goes in brackets: [::1])", false;
    }
  }
  if (has_port) {
    if (!parse_port(port_text, url.port)) return error = "invalid port '" + std::string(port_text) + "' (1-65535)", false;
    url.port_given = true;
  }
  return true;
}

}  // namespace

const char* to_string(TransportKind kind) {
  switch (kind) {
    case TransportKind::tcp: return "tcp";
    case TransportKind::tls: return "tls";
    case TransportKind::ws: return "ws";
    case TransportKind::wss: return "wss";
  }
  return "?";
}

std::uint16_t default_port(TransportKind kind) {
  switch (kind) {
    case TransportKind::tcp: return 1883;
    case TransportKind::tls: return 8883;
    case TransportKind::ws: return 80;
    case TransportKind::wss: return 443;
  }
  return 1883;
}

std::optional<BrokerUrl> parse_broker_url(std::string_view text, std::string& error) {
  const auto sep = text.find("://");
  if (sep == std::string_view::npos) {
    error = "not a URL (mqtt://, mqtts://, ws:// or wss://)";
    return std::nullopt;
  }
  BrokerUrl url;
  const auto kind = scheme_kind(text.substr(0, sep));
  if (!kind) {
    error = "unsupported scheme '" + std::string(text.substr(0, sep)) + "' (mqtt, mqtts, ws or wss)";
    return std::nullopt;
  }
  url.transport = *kind;
  url.port = default_port(*kind);
  std::string_view rest = text.substr(sep + 3);
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) url.path = std::string(rest.substr(slash));
  // The last '@' ends the user information: a host has none, a password may (mosquitto splits
  // at the first, which cuts such a password).
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    const auto userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const auto colon = userinfo.find(':');
    auto user = net::percent_decode(userinfo.substr(0, colon));
    if (!user) {
      error = "invalid %-escape in the user name";
      return std::nullopt;
    }
    url.username = std::move(*user);
    if (colon != std::string_view::npos) {
      auto password = net::percent_decode(userinfo.substr(colon + 1));
      if (!password) {
        error = "invalid %-escape in the password";
        return std::nullopt;
      }
      url.password = std::move(*password);
    }
  }
  if (!parse_host_port(authority, url, error)) return std::nullopt;
  return url;
}

void apply_broker_url(const BrokerUrl& url, ClientOptions& options) {
  options.transport = url.transport;
  options.host = url.host;
  options.port = url.port;
  if (uses_websocket(url.transport)) options.ws_path = url.path.empty() ? "/mqtt" : url.path;
  if (url.username) options.username = url.username;
  if (url.password) options.password = url.password;
}

}  // namespace hermod::client
