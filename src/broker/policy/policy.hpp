// The rules a reload can change while clients stay connected: the topic ACL, the per-client and
// per-address limits, the listeners' address lists (docs/security.md#reload). A Policy is one
// immutable snapshot of them; a reload builds the next one and every worker switches to it
// between two events, so the new rules apply to each client's next action.
//
// Policy::config is the running configuration with the reloadable keys taken from the file as
// last read (apply_reloadable in config.hpp lists them): read every reloadable key from here,
// never from the configuration the broker started with.
//
// PolicyHolder: the current snapshot, any thread (a mutex around a pointer; taken per event that
// needs it on the accept path, never per message). Workers keep their own copy of the pointer,
// replaced by a post when the policy changes.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include "broker/auth/acl.hpp"
#include "broker/config/config.hpp"

namespace hermod::broker {

struct Policy {
  std::uint64_t generation = 1;
  std::shared_ptr<const Config> config;
  std::shared_ptr<const auth::Acl> acl;  // null: no ACL configured

  const Limits& limits() const { return config->limits; }
  // Listener `index` of the running broker, with its reloadable keys as last read.
  const ListenerConfig& listener(std::size_t index) const { return config->listeners.at(index); }
};

// The policy of `config`: reads its ACL file, if one is set. Throws ConfigError.
std::shared_ptr<const Policy> make_policy(std::shared_ptr<const Config> config, std::uint64_t generation);

class PolicyHolder {
 public:
  std::shared_ptr<const Policy> current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void set(std::shared_ptr<const Policy> p) {
    std::lock_guard lock(mutex_);
    current_.swap(p);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Policy> current_;
};

}  // namespace hermod::broker
