// The session directory seam: which worker owns the sessions of a client id. Every connection of
// one client id is driven by that worker, so takeover and session state never cross threads
// (docs/architecture.md, "Sessions have a home worker").
//
// Narrow on purpose (../shared/SCALE-OUT.md): a cluster answers "which node, and which worker
// there" with ownership records claimed and released with fencing; the local directory hashes the
// id. Called once per CONNECT (and per generated client id), never per message.
// Immutable after construction; any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace hermod::broker {

class SessionDirectory {
 public:
  virtual ~SessionDirectory() = default;
  // The worker that owns sessions with this client id.
  virtual std::uint32_t home(std::string_view client_id) const = 0;
};

// One broker: a hash of the client id over the workers.
class LocalSessionDirectory final : public SessionDirectory {
 public:
  explicit LocalSessionDirectory(std::uint32_t workers) : workers_(workers == 0 ? 1 : workers) {}
  std::uint32_t home(std::string_view client_id) const override {
    return static_cast<std::uint32_t>(std::hash<std::string_view>{}(client_id) % workers_);
  }

 private:
  std::uint32_t workers_;
};

}  // namespace hermod::broker
