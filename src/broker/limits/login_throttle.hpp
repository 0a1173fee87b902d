// The growing delay after failed logins, per source address group (docs/security.md, "Failed
// logins"). After f failures from a group (a wrong password, an unknown user, a failed SCRAM
// exchange) its delay is d = min(cap, base * 2^(f-1)):
//   - the answer to the failed CONNECT is held for d, so a client that waits for its answer
//     before trying again (what password guessers do) makes one guess per d;
//   - a CONNECT with credentials that arrives from the group less than d after its last failure
//     is checked only when that d is over, so guessing over many connections at once gains
//     little either;
//   - a successful login from the group, or `quiet` without a failure, forgets the failures.
// CONNECTs without credentials, clients proved by a certificate and connected clients are never
// delayed, and a client with the right password behind the same address waits at most the rest
// of the current delay, never the queue of an attacker's attempts.
//
// Threads: any; one mutex per CONNECT with credentials and per failure, never per message.
// Invariants: only groups with a failure in the last `quiet` are held (prune() drops the rest).
#pragma once

#include <cstdint>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.hpp"
#include "broker/config/config.hpp"
#include "broker/limits/address_group.hpp"

namespace hermod::broker {

struct LoginDelayRules {
  Clock::duration base{};   // 0: no delay at all
  Clock::duration cap{};
  Clock::duration quiet{};  // failures are forgotten after this long without one
  static LoginDelayRules of(const Limits& limits);
};

class LoginThrottle {
 public:
  explicit LoginThrottle(const Clock& clock) : clock_(clock) {}
  LoginThrottle(const LoginThrottle&) = delete;
  LoginThrottle& operator=(const LoginThrottle&) = delete;

  // How long the check of a CONNECT with credentials from `group` must wait (zero: check now).
  Clock::duration wait_before_check(const AddressGroup& group, const LoginDelayRules& rules);
  // A failed login from `group`: how long to hold its answer (the group's new delay).
  Clock::duration failed(const AddressGroup& group, const LoginDelayRules& rules);
  // A successful login from `group`: its failures are forgotten.
  void succeeded(const AddressGroup& group);
  // Forgets groups quiet for longer than rules.quiet; called by a sweep.
  void prune(const LoginDelayRules& rules);

  // The admin API: groups with failures, the delay of their next login and how long until they
  // are forgotten; and forgetting one (by its to_string()); false if it had none.
  struct Delayed {
    AddressGroup group;
    Clock::duration delay{};
    Clock::duration left{};
  };
  std::vector<Delayed> delayed(const LoginDelayRules& rules) const;
  bool forget(std::string_view group);

  // For tests.
  std::uint32_t failures(const AddressGroup& group) const;
  std::size_t entries() const;

 private:
  struct Entry {
    std::uint32_t failures = 0;
    Clock::time_point last_failure{};
  };
  static Clock::duration delay_of(std::uint32_t failures, const LoginDelayRules& rules);

  const Clock& clock_;
  mutable std::mutex mutex_;
  std::unordered_map<AddressGroup, Entry, AddressGroupHash> groups_;
};

}  // namespace hermod::broker
