// Broker URLs: mqtt://host[:port], mqtts://host[:port], ws://host[:port][/path] and
// wss://host[:port][/path], each optionally with user[:password]@ before the host (mosquitto's -L
// form), into the address and transport of ClientOptions.
//
// What the parts mean:
//  * scheme (any case): mqtt → tcp (default port 1883), mqtts → tls (8883), ws → ws (80),
//    wss → wss (443);
//  * host: a name, an IPv4 address, or an IPv6 address in brackets ([::1]); never empty;
//  * port: 1 … 65535, decimal;
//  * user and password: %XX escapes are decoded (so a password can hold '@', ':' or '/');
//  * path: everything from the first '/' after the host, kept as written (no decoding). For ws
//    and wss it is the WebSocket path (none: "/mqtt"); for mqtt and mqtts mosquitto's tools take
//    it as the topic, and parse_broker_url leaves that choice to the caller.
// Threads: none; plain functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "client/options.hpp"

namespace hermod::client {

struct BrokerUrl {
  TransportKind transport = TransportKind::tcp;
  std::string host;
  std::uint16_t port = 0;  // the scheme's default when the URL has none
  bool port_given = false;
  std::string path;        // "" or starting with '/'
  std::optional<std::string> username;
  std::optional<std::string> password;
};

// Parses `url`; nullopt with `error` saying what is wrong ("unsupported scheme 'http'", "empty
// host", "invalid port '99999'"...).
std::optional<BrokerUrl> parse_broker_url(std::string_view url, std::string& error);

// The default port of a transport: 1883, 8883, 80, 443.
std::uint16_t default_port(TransportKind kind);

// Sets options.transport, host, port and, for ws/wss, ws_path (the URL's path, "/mqtt" if it has
// none), and the credentials if the URL has them. The path of an mqtt/mqtts URL is not used.
void apply_broker_url(const BrokerUrl& url, ClientOptions& options);

}  // namespace hermod::client
