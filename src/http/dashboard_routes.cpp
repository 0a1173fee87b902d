#include "http/dashboard_routes.hpp"

#include <string>

namespace hermod::http {

namespace {

constexpr std::string_view kPrefix = "/dashboard/";

void add_security_headers(Response& r) {
  r.headers.emplace_back("Content-Security-Policy", std::string(kDashboardCsp));
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("X-Frame-Options", "DENY");
}

Response redirect(std::string location) {
  Response r;
  r.status = 302;
  r.content_type = "text/plain; charset=utf-8";
  r.headers.emplace_back("Location", std::move(location));
  return r;
}

// If-None-Match holds `tag` ("*", or a list of entity tags, weak ones compared weakly: RFC 9110
// section 13.1.2).
bool matches(std::string_view if_none_match, std::string_view tag) {
  if (if_none_match.find('*') != std::string_view::npos) return true;
  while (!if_none_match.empty()) {
    const auto comma = if_none_match.find(',');
    auto one = if_none_match.substr(0, comma);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
    if (one.substr(0, 2) == "W/") one.remove_prefix(2);
    if (one == tag) return true;
    if (comma == std::string_view::npos) break;
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

Response dashboard_response(std::span<const EmbeddedFile> files, const Request& req) {
  std::string_view rest = std::string_view(req.path).substr(std::min(req.path.size(), kPrefix.size()));
  if (rest.empty()) rest = "index.html";
  // Paths are looked up as they are, never joined to a directory: "../" finds nothing.
  const EmbeddedFile* f = find_file(files, rest);
  if (!f) {
    Response r = error_response("not_found", "no such dashboard file: " + std::string(rest));
    add_security_headers(r);
    return r;
  }
  const std::string tag = "\"" + std::string(f->etag) + "\"";
  Response r;
  r.content_type = std::string(content_type_of(f->path));
  r.headers.emplace_back("ETag", tag);
  // Revalidated on every load: a broker upgrade changes the files behind the same URLs.
  r.headers.emplace_back("Cache-Control", "no-cache");
  add_security_headers(r);
  if (const auto inm = req.header("if-none-match"); inm && matches(*inm, tag)) {
    r.status = 304;
    return r;
  }
  r.body = std::string(f->body);
  return r;
}

void add_dashboard_routes(Router& router, std::span<const EmbeddedFile> files) {
  router.add("GET", "/", Access::open, [](const Request&, Reply reply) { reply(redirect("/dashboard/")); });
  router.add("GET", "/dashboard", Access::open, [](const Request&, Reply reply) { reply(redirect("/dashboard/")); });
  router.add("GET", "/dashboard/*", Access::open,
             [files](const Request& req, Reply reply) { reply(dashboard_response(files, req)); });
}

}  // namespace hermod::http
