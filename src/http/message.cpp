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

}  // namespace hermod::http
