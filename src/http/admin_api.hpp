// The admin API of docs/admin-api.yaml: JSON over HTTP on the broker's admin facade
// (broker/admin/admin.hpp), plus /healthz and /readyz. Input is checked here (400 with the
// reason); every call that changes something is logged by the "admin" logger with the caller's
// token name and address. Handlers run on the HTTP server's thread and answer from whichever
// worker thread finishes the query.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "broker/admin/admin.hpp"
#include "http/router.hpp"

namespace hermod::broker {
class Broker;
}

namespace hermod::http {

// `reload`: what POST /api/v1/reload runs (the broker's reload and whatever follows it, such as
// the HTTP server taking the new tokens); called on the HTTP server's thread.
void add_admin_routes(Router& router, broker::Broker& broker, broker::admin::Admin& admin,
                      std::function<std::vector<std::string>()> reload);

}  // namespace hermod::http
