// A log line per interval instead of per event, for what clients can make happen as often as
// they like (refused connections, failed logins, bans): the first event after a quiet interval
// is logged at once, later ones in the same interval are counted per subject (an address group,
// a client id) and written as one summary when the interval is over, e.g.
//   refused 153 connections from 127.0.0.2/32 (max_connections_per_address) in the last 10 s
// so an attacker cannot fill the log, and an operator still sees who and how many.
//
// Threads: any; note() and flush() take a mutex (events are refusals, never the publish path).
// Invariants: at most one line per interval from note(), plus the summary from flush(); at most
// kSubjects distinct subjects are remembered per interval, the rest are counted as "others".
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.hpp"

namespace hermod {

class RateLimitedLog {
 public:
  // How a line reads: "<action> <count> <noun>s <preposition> <subject> (<reason>) in the last 10 s".
  struct Wording {
    std::string logger;       // spdlog logger name ("limits", "proxy", ...)
    std::string action;       // "refused"
    std::string noun;         // "connection" (plural: + "s")
    std::string preposition;  // "from"
    std::string reason;       // "max_connections_per_address"
  };
  static constexpr std::size_t kSubjects = 16;

  // `clock` outlives the log.
  RateLimitedLog(const Clock& clock, Wording wording, Clock::duration interval = std::chrono::seconds(10));

  // One event about `subject`, now.
  void note(std::string_view subject);
  // Writes the summary of an interval that is over. Called a few times a second by a sweep, so
  // a summary is late by at most that much; note() calls it too.
  void flush();
  // Events noted since construction (for tests).
  std::uint64_t total() const;
  // Where lines go; by default the Wording's logger at info level. Set before use (tests).
  std::function<void(const std::string&)> sink;

 private:
  void flush_locked(Clock::time_point now);
  void write(const std::string& line);

  const Clock& clock_;
  const Wording wording_;
  const Clock::duration interval_;
  mutable std::mutex mutex_;
  bool open_ = false;                 // an interval is running (its first event was logged)
  Clock::time_point opened_{};        // when it started
  std::vector<std::pair<std::string, std::uint64_t>> counts_;  // this interval's events after the first, per subject
  std::uint64_t others_ = 0;          // events of subjects past kSubjects
  std::uint64_t total_ = 0;
};

}  // namespace hermod
