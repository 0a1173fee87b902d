// The dashboard's routes: its files from the binary (embedded_file.hpp) under /dashboard/, and
// "/" redirecting there. Open (no token): the files hold no data, and every API call the page
// makes carries the admin token itself. Every answer has a Content-Security-Policy that keeps
// the page to the broker's own origin (and WebSockets, for the topic explorer), and an ETag so
// a browser revalidates with If-None-Match and gets a 304.
#pragma once

#include <span>

#include "http/embedded_file.hpp"
#include "http/router.hpp"

namespace hermod::http {

inline constexpr std::string_view kDashboardCsp =
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'";

// `files` must outlive the router (the built-in table does).
void add_dashboard_routes(Router& router, std::span<const EmbeddedFile> files = dashboard_files());

// What GET /dashboard/<rest> answers, given the request's headers: the file, a 304, or a 404.
Response dashboard_response(std::span<const EmbeddedFile> files, const Request& req);

}  // namespace hermod::http
