// The dashboard's files as the binary holds them, and what GET /dashboard/... answers.
#include "http/dashboard_routes.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace hermod::http {
namespace {

std::optional<std::string> header(const Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return std::nullopt;
}

Request get(std::string path, std::vector<std::pair<std::string, std::string>> headers = {}) {
  Request r;
  r.method = "GET";
  r.path = std::move(path);
  r.headers = std::move(headers);
  return r;
}

// Runs the route the router finds for GET `path` and returns its answer.
Response route(const Router& router, const Request& req) {
  const auto m = router.find(req.method, req.path);
  EXPECT_NE(m.handler, nullptr) << req.path;
  EXPECT_EQ(m.access, Access::open) << req.path << ": the dashboard's files need no token";
  std::optional<Response> out;
  (*m.handler)(req, Reply([&out](Response r) { out = std::move(r); }));
  EXPECT_TRUE(out.has_value());
  return out.value_or(Response{});
}

TEST(EmbeddedFiles, HoldTheDashboardSortedWithTags) {
  const auto files = dashboard_files();
  ASSERT_GE(files.size(), 5u);
  for (std::size_t i = 1; i < files.size(); ++i) EXPECT_LT(files[i - 1].path, files[i].path);
  for (const auto& f : files) {
    EXPECT_EQ(f.etag.size(), 16u) << f.path;
    EXPECT_EQ(f.etag.find_first_not_of("0123456789abcdef"), std::string_view::npos) << f.path;
    EXPECT_FALSE(f.body.empty()) << f.path;
  }
  const auto* index = find_file(files, "index.html");
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->body.substr(0, 15), "<!doctype html>");
  EXPECT_NE(find_file(files, "js/app.js"), nullptr);
  EXPECT_EQ(find_file(files, "js"), nullptr);
  EXPECT_EQ(find_file(files, "missing.html"), nullptr);
}

TEST(EmbeddedFiles, ContentTypeFollowsTheExtension) {
  EXPECT_EQ(content_type_of("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(content_type_of("js/app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(content_type_of("style.css"), "text/css; charset=utf-8");
  EXPECT_EQ(content_type_of("logo.svg"), "image/svg+xml");
  EXPECT_EQ(content_type_of("data.bin"), "application/octet-stream");
  EXPECT_EQ(content_type_of("js"), "application/octet-stream");
}

TEST(DashboardRoute, ServesIndexForTheFolderWithSecurityHeaders) {
  Router router;
  add_dashboard_routes(router);
  const auto r = route(router, get("/dashboard/"));
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(r.body, find_file(dashboard_files(), "index.html")->body);
  EXPECT_EQ(header(r, "Content-Security-Policy"), std::string(kDashboardCsp));
  EXPECT_EQ(header(r, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(header(r, "ETag"), "\"" + std::string(find_file(dashboard_files(), "index.html")->etag) + "\"");
}

TEST(DashboardRoute, RootAndFolderWithoutSlashRedirect) {
  Router router;
  add_dashboard_routes(router);
  for (const char* path : {"/", "/dashboard"}) {
    const auto r = route(router, get(path));
    EXPECT_EQ(r.status, 302u) << path;
    EXPECT_EQ(header(r, "Location"), "/dashboard/") << path;
  }
}

TEST(DashboardRoute, MatchingIfNoneMatchAnswers304WithoutBody) {
  const EmbeddedFile files[] = {{"a.js", "0123456789abcdef", "let a = 1;"}};
  Request req = get("/dashboard/a.js", {{"if-none-match", "\"0123456789abcdef\""}});
  auto r = dashboard_response(files, req);
  EXPECT_EQ(r.status, 304u);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(header(r, "ETag"), "\"0123456789abcdef\"");
  req.headers = {{"if-none-match", "\"other\", W/\"0123456789abcdef\""}};
  EXPECT_EQ(dashboard_response(files, req).status, 304u) << "weak comparison, any tag of the list";
  req.headers = {{"if-none-match", "*"}};
  EXPECT_EQ(dashboard_response(files, req).status, 304u);
  req.headers = {{"if-none-match", "\"0123456789abcdee\""}};
  r = dashboard_response(files, req);
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "let a = 1;");
  EXPECT_EQ(r.content_type, "text/javascript; charset=utf-8");
}

TEST(DashboardRoute, UnknownFilesAre404) {
  const EmbeddedFile files[] = {{"index.html", "0123456789abcdef", "<!doctype html>"}};
  for (const char* path : {"/dashboard/nope.js", "/dashboard/../index.html", "/dashboard/index.html/", "/dashboard/INDEX.HTML"}) {
    const auto r = dashboard_response(files, get(path));
    EXPECT_EQ(r.status, 404u) << path;
    EXPECT_NE(r.body.find("\"not_found\""), std::string::npos) << path;
    EXPECT_EQ(header(r, "X-Content-Type-Options"), "nosniff") << path;
  }
}

}  // namespace
}  // namespace hermod::http
