// The short ban for a client id that reconnects in a tight loop (flapping): once a client id has
// connected `max_connects` times within `window` (counted from the first of them), its next
// CONNECT in that window is refused and so is every CONNECT of that id for `ban` (MQTT 5 CONNACK
// 0x8A Banned, 3.1.1 return code 5). Only accepted connections count, so nobody can get another
// client's id banned without being able to log in as that client.
//
// Threads: one worker's (every CONNECT of a client id is decided on its home worker, so one
// table per worker sees all of them and takes no lock). Invariants: entries whose window and
// ban are both over are dropped by prune(), so the table holds the ids that connected within
// the last window or are banned.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/clock.hpp"
#include "base/string_hash.hpp"
#include "broker/config/config.hpp"

namespace hermod::broker {

struct FlapRules {
  std::uint32_t max_connects = 0;  // 0: no ban
  Clock::duration window{};
  Clock::duration ban{};
  static FlapRules of(const Limits& limits);
};

class FlapGuard {
 public:
  enum class Verdict : std::uint8_t { allowed, banned, ban_started };

  explicit FlapGuard(const Clock& clock) : clock_(clock) {}

  // A CONNECT of `client_id` (before its credentials are checked): banned, newly banned by this
  // one, or allowed.
  Verdict check(std::string_view client_id, const FlapRules& rules);
  // `client_id` was accepted (CONNACK success): counted in its window.
  void connected(std::string_view client_id, const FlapRules& rules);
  // Drops what no longer matters; called by the worker's sweep.
  void prune(const FlapRules& rules);
  std::size_t entries() const { return ids_.size(); }
  // The admin API: client ids banned now with the time left, and ending one's ban (its connects
  // are forgotten too). lift() is false if the id was not banned.
  std::vector<std::pair<std::string, Clock::duration>> banned() const;
  bool lift(std::string_view client_id);

 private:
  struct Entry {
    Clock::time_point window_start{};
    std::uint32_t connects = 0;
    Clock::time_point banned_until{};
  };
  const Clock& clock_;
  std::unordered_map<std::string, Entry, StringHash, std::equal_to<>> ids_;
};

}  // namespace hermod::broker
