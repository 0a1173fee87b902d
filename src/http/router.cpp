#include "http/router.hpp"

namespace hermod::http {

Reply::Reply(Send send) : send_(std::move(send)) {}

Reply::~Reply() {
  if (send_) (*this)(error_response("internal", "the request was dropped without an answer"));
}

void Reply::operator()(Response r) {
  if (!send_) return;
  auto send = std::move(send_);
  send_ = nullptr;
  send(std::move(r));
}

void Router::add(std::string method, std::string path, Access access, Handler handler) {
  const bool prefix = !path.empty() && path.back() == '*';
  if (prefix) path.pop_back();
  routes_.push_back(Route{std::move(method), std::move(path), prefix, access, std::move(handler)});
}

Router::Match Router::find(const std::string& method, const std::string& path) const {
  Match m;
  // The longest matching path wins, so "/api/v1/clients/*" does not shadow an exact route.
  std::size_t best = 0;
  for (const auto& r : routes_) {
    const bool hit = r.prefix ? path.compare(0, r.path.size(), r.path) == 0 : path == r.path;
    if (!hit) continue;
    m.path_known = true;
    if (r.method != method) continue;
    const std::size_t weight = r.path.size() * 2 + (r.prefix ? 0 : 1);
    if (!m.handler || weight > best) {
      m.handler = &r.handler;
      m.access = r.access;
      best = weight;
    }
  }
  return m;
}

}  // namespace hermod::http
