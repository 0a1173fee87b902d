// The WebSocket opening handshake (RFC 6455 section 4) without I/O: the server's check of an
// HTTP/1.1 upgrade request and its answer, and the client's request and check of the answer.
// HTTP is parsed by Boost.Beast's parser; what a request must hold for MQTT (the path, the `mqtt`
// or `mqttv3.1` subprotocol, an allowed Origin) is checked here.
//
// Both sides are plain functions over the bytes received so far: a handshake is a few hundred
// bytes once per connection, so re-parsing them when more arrive costs nothing worth a parser's
// state per connection, and the functions are easy to fuzz.
// Threads: none.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "net/address_range.hpp"

namespace hermod::net::ws {

// The most a request's or response's header may take.
inline constexpr std::size_t kMaxHandshakeSize = 8192;

struct ServerOptions {
  std::string path = "/mqtt";
  std::vector<std::string> origins;            // allowed Origin values; empty: any
  std::vector<AddressRange> trusted_proxies;   // peers whose X-Forwarded-For / X-Real-IP count
};

struct UpgradeResult {
  enum class Status : std::uint8_t { incomplete, accepted, refused };
  Status status = Status::incomplete;
  std::size_t consumed = 0;  // bytes of the request (accepted or refused)
  std::string response;      // the HTTP response to send (101, or the refusal)
  std::string protocol;      // the chosen subprotocol (accepted)
  std::string why;           // a refusal's reason, for the log
  // The client's address as a trusted proxy forwarded it; unset when there was no trusted proxy
  // or no (valid) header.
  std::optional<boost::asio::ip::address> forwarded_for;
};

// Checks the request at the start of `bytes` (received so far) from `peer`. Incomplete until the
// whole header is there; refused (with a 4xx response) when it is not an acceptable upgrade or
// its header exceeds kMaxHandshakeSize.
UpgradeResult check_upgrade(std::string_view bytes, const boost::asio::ip::address& peer, const ServerOptions& options);

// Sec-WebSocket-Accept for a Sec-WebSocket-Key (section 4.2.2): base64(SHA-1(key + GUID)).
std::string accept_key(std::string_view key);

// A client's upgrade request for `host` (the Host header, "name:port") and `path`, with the
// base64 `key` (16 random bytes) and the subprotocols offered in order of preference.
std::string client_request(std::string_view host, std::string_view path, std::string_view key,
                           const std::vector<std::string>& protocols);

struct ResponseResult {
  enum class Status : std::uint8_t { incomplete, accepted, refused };
  Status status = Status::incomplete;
  std::size_t consumed = 0;
  std::string protocol;  // what the server chose
  std::string why;       // a refusal: the status line or the rule broken
};

// Checks the server's answer to a request sent with `key` and `protocols`.
ResponseResult check_response(std::string_view bytes, std::string_view key, const std::vector<std::string>& protocols);

}  // namespace hermod::net::ws
