#include "http/message.hpp"

#include <nlohmann/json.hpp>

namespace hermod::http {

namespace {
template <class Pairs>
std::optional<std::string_view> first(const Pairs& pairs, std::string_view name) {
  for (const auto& [k, v] : pairs) {
    if (k == name) return std::string_view(v);
  }
  return std::nullopt;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<std::string_view> Request::param(std::string_view name) const { return first(query, name); }
std::optional<std::string_view> Request::header(std::string_view name) const { return first(headers, name); }

Response error_response(std::string_view code, std::string_view message) {
  struct Known {
    std::string_view code;
    unsigned status;
  };
  static constexpr Known kKnown[] = {{"bad_request", 400}, {"unauthorized", 401},       {"not_found", 404},
                                     {"method_not_allowed", 405}, {"timeout", 408},     {"conflict", 409},
                                     {"payload_too_large", 413}, {"unavailable", 503}, {"internal", 500}};
  Response r;
  r.status = 500;
  for (const auto& k : kKnown) {
    if (k.code == code) r.status = k.status;
  }
  // Messages may quote client ids and topics: nlohmann escapes them, and replaces invalid UTF-8.
  r.body = nlohmann::json{{"error", code}, {"message", message}}.dump(-1, ' ', false,
                                                                      nlohmann::json::error_handler_t::replace);
  return r;
}

std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      const int hi = i + 1 < s.size() ? hex_value(s[i + 1]) : -1;
      const int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string percent_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : s) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                            c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace hermod::http
