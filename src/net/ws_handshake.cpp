#include "net/ws_handshake.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

namespace hermod::net::ws {

namespace http = boost::beast::http;
namespace ip = boost::asio::ip;

namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
// The subprotocols MQTT registers ([MQTT-6.0.0-3]); "mqttv3.1" is what MQTT 3.1 clients offer.
constexpr std::array<std::string_view, 2> kProtocols = {"mqtt", "mqttv3.1"};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Calls f(token) for each comma-separated token of a header value, trimmed; stops when f is true.
template <typename F>
bool any_token(std::string_view value, F f) {
  while (!value.empty()) {
    const auto comma = value.find(',');
    if (f(trim(value.substr(0, comma)))) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

bool has_token(std::string_view value, std::string_view token) {
  return any_token(value, [token](std::string_view t) { return iequals(t, token); });
}

// A base64 encoding of 16 bytes: 22 characters of the alphabet and "==" (section 4.1, item 7).
bool valid_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  return std::all_of(key.begin(), key.begin() + 22, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/';
  });
}

std::string_view as_view(boost::beast::string_view s) { return {s.data(), s.size()}; }

std::string refusal(int status, std::string_view reason, std::string_view body, std::string_view extra = {}) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
  r += "Content-Type: text/plain\r\nConnection: close\r\n";
  r += extra;
  r += "Content-Length: " + std::to_string(body.size() + 1) + "\r\n\r\n";
  r += body;
  r += '\n';
  return r;
}

UpgradeResult refuse(std::size_t consumed, int status, std::string_view reason, std::string why,
                     std::string_view extra = {}) {
  UpgradeResult r;
  r.status = UpgradeResult::Status::refused;
  r.consumed = consumed;
  r.response = refusal(status, reason, why, extra);
  r.why = std::to_string(status) + " " + why;
  return r;
}

// An address in a forwarding header: "192.0.2.1", "192.0.2.1:4711", "2001:db8::1" or
// "[2001:db8::1]:4711".
std::optional<ip::address> forwarded_address(std::string_view s) {
  s = trim(s);
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    s = s.substr(1, close - 1);
  } else if (std::count(s.begin(), s.end(), ':') == 1) {
    s = s.substr(0, s.find(':'));
  }
  boost::system::error_code ec;
  const auto a = ip::make_address(std::string(s), ec);
  if (ec) return std::nullopt;
  return a;
}

// The client behind trusted proxies: the right-most address of X-Forwarded-For that is not
// itself a trusted proxy (each proxy appends the address it saw; the left-most entries are the
// client's own claims), else X-Real-IP.
std::optional<ip::address> forwarded_client(const http::request<http::empty_body>& req,
                                            const std::vector<AddressRange>& trusted) {
  std::vector<std::string_view> hops;
  for (auto [it, end] = req.equal_range("X-Forwarded-For"); it != end; ++it) {
    any_token(as_view(it->value()), [&](std::string_view t) {
      hops.push_back(t);
      return false;
    });
  }
  std::optional<ip::address> last;
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    const auto a = forwarded_address(*it);
    if (!a) return last;  // a garbled entry: trust nothing to its left
    last = a;
    if (!contains_any(trusted, *a)) return a;
  }
  if (last) return last;
  if (const auto it = req.find("X-Real-IP"); it != req.end()) return forwarded_address(as_view(it->value()));
  return std::nullopt;
}

}  // namespace

std::string accept_key(std::string_view key) {
  std::string input(key);
  input += kGuid;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &size, EVP_sha1(), nullptr) != 1) return {};
  unsigned char out[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  const int n = EVP_EncodeBlock(out, digest, static_cast<int>(size));
  return std::string(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
}

UpgradeResult check_upgrade(std::string_view bytes, const ip::address& peer, const ServerOptions& options) {
  http::request_parser<http::empty_body> parser;
  parser.header_limit(kMaxHandshakeSize);
  parser.eager(false);
  boost::system::error_code ec;
  const std::size_t used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  if (ec == http::error::need_more && bytes.size() < kMaxHandshakeSize) return {};
  if (ec == http::error::header_limit || ec == http::error::need_more) {
    return refuse(bytes.size(), 431, "Request Header Fields Too Large", "request header over 8 KiB");
  }
  if (ec) return refuse(bytes.size(), 400, "Bad Request", "malformed HTTP request: " + ec.message());
  if (!parser.is_header_done()) return {};
  const auto& req = parser.get();
  if (req.method() != http::verb::get) {
    return refuse(used, 405, "Method Not Allowed", "a WebSocket upgrade is a GET", "Allow: GET\r\n");
  }
  if (req.version() < 11) return refuse(used, 400, "Bad Request", "a WebSocket upgrade needs HTTP/1.1");
  if (req.has_content_length() || req.chunked()) return refuse(used, 400, "Bad Request", "an upgrade request has no body");
  auto target = as_view(req.target());
  target = target.substr(0, target.find('?'));
  if (target != options.path) return refuse(used, 404, "Not Found", "no WebSocket endpoint at this path");
  if (req.find(http::field::host) == req.end()) return refuse(used, 400, "Bad Request", "no Host header");
  if (!has_token(as_view(req[http::field::upgrade]), "websocket") ||
      !has_token(as_view(req[http::field::connection]), "upgrade")) {
    return refuse(used, 426, "Upgrade Required", "this endpoint speaks WebSocket only",
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n");
  }
  if (trim(as_view(req[http::field::sec_websocket_version])) != "13") {
    return refuse(used, 426, "Upgrade Required", "WebSocket version 13 only", "Sec-WebSocket-Version: 13\r\n");
  }
  const auto key = trim(as_view(req[http::field::sec_websocket_key]));
  if (!valid_key(key)) return refuse(used, 400, "Bad Request", "missing or malformed Sec-WebSocket-Key");
  // Origin protects browsers from pages of other sites; clients that are not browsers send none.
  if (const auto it = req.find(http::field::origin); it != req.end() && !options.origins.empty()) {
    const auto origin = trim(as_view(it->value()));
    if (std::none_of(options.origins.begin(), options.origins.end(),
                     [origin](const std::string& o) { return iequals(o, origin); })) {
      return refuse(used, 403, "Forbidden", "origin not allowed");
    }
  }
  std::string protocol;
  for (auto [it, end] = req.equal_range(http::field::sec_websocket_protocol); it != end; ++it) {
    any_token(as_view(it->value()), [&](std::string_view t) {
      for (const auto p : kProtocols) {
        if (t == p) protocol = std::string(p);
      }
      return !protocol.empty();
    });
    if (!protocol.empty()) break;
  }
  if (protocol.empty()) {
    return refuse(used, 400, "Bad Request", "no MQTT subprotocol offered (Sec-WebSocket-Protocol: mqtt)");
  }
  UpgradeResult r;
  r.status = UpgradeResult::Status::accepted;
  r.consumed = used;
  r.protocol = protocol;
  r.response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
               accept_key(key) + "\r\nSec-WebSocket-Protocol: " + protocol + "\r\n\r\n";
  if (contains_any(options.trusted_proxies, peer)) r.forwarded_for = forwarded_client(req, options.trusted_proxies);
  return r;
}

std::string client_request(std::string_view host, std::string_view path, std::string_view key,
                           const std::vector<std::string>& protocols) {
  std::string r = "GET " + std::string(path.empty() ? "/" : path) + " HTTP/1.1\r\nHost: " + std::string(host) +
                  "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + std::string(key) +
                  "\r\nSec-WebSocket-Version: 13\r\n";
  if (!protocols.empty()) {
    r += "Sec-WebSocket-Protocol: ";
    for (std::size_t i = 0; i < protocols.size(); ++i) r += (i ? ", " : "") + protocols[i];
    r += "\r\n";
  }
  r += "\r\n";
  return r;
}

ResponseResult check_response(std::string_view bytes, std::string_view key, const std::vector<std::string>& protocols) {
  http::response_parser<http::empty_body> parser;
  parser.header_limit(kMaxHandshakeSize);
  parser.eager(false);
  boost::system::error_code ec;
  const std::size_t used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  ResponseResult r;
  if (ec == http::error::need_more && bytes.size() < kMaxHandshakeSize) return r;
  r.status = ResponseResult::Status::refused;
  r.consumed = used;
  if (ec) {
    r.why = "malformed HTTP response: " + ec.message();
    return r;
  }
  if (!parser.is_header_done()) {
    r.status = ResponseResult::Status::incomplete;
    return r;
  }
  const auto& res = parser.get();
  if (res.result_int() != 101) {
    r.why = "server answered " + std::to_string(res.result_int()) + " " + std::string(as_view(res.reason()));
    return r;
  }
  if (!has_token(as_view(res[http::field::upgrade]), "websocket") ||
      !has_token(as_view(res[http::field::connection]), "upgrade")) {
    r.why = "101 without Upgrade: websocket";
    return r;
  }
  if (trim(as_view(res[http::field::sec_websocket_accept])) != accept_key(key)) {
    r.why = "wrong Sec-WebSocket-Accept";
    return r;
  }
  const auto chosen = std::string(trim(as_view(res[http::field::sec_websocket_protocol])));
  if (!protocols.empty() && std::find(protocols.begin(), protocols.end(), chosen) == protocols.end()) {
    r.why = chosen.empty() ? "the server chose no subprotocol" : "the server chose subprotocol " + chosen;
    return r;
  }
  r.status = ResponseResult::Status::accepted;
  r.protocol = chosen;
  return r;
}

}  // namespace hermod::net::ws
