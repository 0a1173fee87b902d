#include "base/rate_limited_log.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "base/log.hpp"

namespace hermod {

RateLimitedLog::RateLimitedLog(const Clock& clock, Wording wording, Clock::duration interval)
    : clock_(clock), wording_(std::move(wording)), interval_(interval) {}

void RateLimitedLog::note(std::string_view subject) {
  const auto now = clock_.now();
  std::lock_guard lock(mutex_);
  ++total_;
  flush_locked(now);
  if (!open_) {
    // The first of a burst says at once what happened; the rest wait for the summary.
    open_ = true;
    opened_ = now;
    write(fmt::format("{} a {} {} {} ({}); more are summed up every {} s", wording_.action, wording_.noun,
                      wording_.preposition, subject, wording_.reason,
                      std::chrono::duration_cast<std::chrono::seconds>(interval_).count()));
    return;
  }
  for (auto& [s, n] : counts_) {
    if (s == subject) {
      ++n;
      return;
    }
  }
  if (counts_.size() < kSubjects) {
    counts_.emplace_back(std::string(subject), 1);
  } else {
    ++others_;
  }
}

void RateLimitedLog::flush() {
  const auto now = clock_.now();
  std::lock_guard lock(mutex_);
  flush_locked(now);
}

std::uint64_t RateLimitedLog::total() const {
  std::lock_guard lock(mutex_);
  return total_;
}

void RateLimitedLog::flush_locked(Clock::time_point now) {
  if (!open_ || now - opened_ < interval_) return;
  open_ = false;
  if (counts_.empty() && others_ == 0) return;  // a lone event: its line was enough
  std::uint64_t sum = others_;
  for (const auto& c : counts_) sum += c.second;
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(interval_).count();
  const std::string nouns = wording_.noun + (sum == 1 ? "" : "s");
  std::string line;
  if (counts_.size() == 1 && others_ == 0) {
    line = fmt::format("{} {} {} {} {} ({}) in the last {} s", wording_.action, sum, nouns, wording_.preposition,
                       counts_[0].first, wording_.reason, seconds);
  } else {
    // The busiest subjects first: those are the ones an operator acts on.
    std::stable_sort(counts_.begin(), counts_.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    line = fmt::format("{} {} {} ({}) in the last {} s:", wording_.action, sum, nouns, wording_.reason, seconds);
    constexpr std::size_t kNamed = 3;
    std::uint64_t rest = others_;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      if (i < kNamed) {
        line += fmt::format("{} {} {} {}", i == 0 ? "" : ",", counts_[i].second, wording_.preposition, counts_[i].first);
      } else {
        rest += counts_[i].second;
      }
    }
    if (rest > 0) line += fmt::format(" and {} more", rest);
  }
  counts_.clear();
  others_ = 0;
  write(line);
}

void RateLimitedLog::write(const std::string& line) {
  if (sink) {
    sink(line);
  } else {
    logger(wording_.logger)->info("{}", line);
  }
}

}  // namespace hermod
