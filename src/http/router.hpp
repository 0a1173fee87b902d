// Which handler answers which request: routes by method and path (exact, or a prefix for paths
// ending in '*'), each open, needing an admin token, or needing one only when metrics are
// configured to. Built before the server starts, read-only afterwards.
//
// A handler runs on the HTTP server's thread and must not block: one that needs the broker's
// workers posts to them and calls its Reply later, from any thread (the server takes the
// response back to its own thread). A Reply must be called exactly once; one dropped uncalled
// answers 500.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "http/message.hpp"

namespace hermod::http {

class Reply {
 public:
  using Send = std::function<void(Response)>;
  explicit Reply(Send send);
  Reply(Reply&& o) noexcept : send_(std::exchange(o.send_, nullptr)) {}
  Reply& operator=(Reply&&) = delete;
  Reply(const Reply&) = delete;
  Reply& operator=(const Reply&) = delete;
  ~Reply();
  void operator()(Response r);

 private:
  Send send_;
};

// A Reply that several threads' callbacks may hold: moved into a shared_ptr so std::function
// (which needs copyable targets) can carry it.
inline std::shared_ptr<Reply> share(Reply& r) { return std::make_shared<Reply>(std::move(r)); }

using Handler = std::function<void(const Request&, Reply)>;

enum class Access { open, admin, metrics };

class Router {
 public:
  // `path` exact, or ending in '*' for every path with that prefix ("/dashboard/*").
  void add(std::string method, std::string path, Access access, Handler handler);

  struct Match {
    const Handler* handler = nullptr;  // null: no route
    Access access = Access::open;
    bool path_known = false;           // some route has this path (405 rather than 404)
  };
  Match find(const std::string& method, const std::string& path) const;

 private:
  struct Route {
    std::string method;
    std::string path;
    bool prefix;
    Access access;
    Handler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace hermod::http
