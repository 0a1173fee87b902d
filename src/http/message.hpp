// An HTTP request as a handler sees it and the response it gives back: plain values, no Beast
// types, so handlers (admin API, metrics, dashboard files) compile without Beast's headers.
// Built and read on the HTTP server's thread; a Response may be built on any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hermod::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // the target before '?', still percent-encoded
  std::vector<std::pair<std::string, std::string>> query;  // percent-decoded, in order
  bool bad_query = false;  // a parameter's percent-encoding was malformed (answered 400)
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;
  std::string remote;  // "127.0.0.1:50312"
  // The name of the admin token the request carried (set by the server for admin routes).
  std::string caller;

  // The first value of a query parameter / header (name lower-case), if present.
  std::optional<std::string_view> param(std::string_view name) const;
  std::optional<std::string_view> header(std::string_view name) const;
};

struct Response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

// {"error": code, "message": message} with the status that goes with `code` (docs/admin-api.yaml):
// bad_request 400, unauthorized 401, not_found 404, method_not_allowed 405,
// payload_too_large 413, timeout 408, unavailable 503, internal 500.
Response error_response(std::string_view code, std::string_view message);

}  // namespace hermod::http
