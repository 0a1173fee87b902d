#include "client/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace hermod::client {

Backoff::Backoff(BackoffOptions options, std::uint64_t seed) : options_(options), rng_(seed) {
  options_.jitter = std::clamp(options_.jitter, 0.0, 1.0);
  options_.multiplier = std::max(options_.multiplier, 1.0);
}

std::chrono::milliseconds Backoff::base_delay(unsigned n) const {
  const double initial = static_cast<double>(options_.initial_delay.count());
  const double cap = static_cast<double>(options_.max_delay.count());
  // Computed in floating point and capped before converting, so a long outage cannot overflow.
  const double d = std::min(cap, initial * std::pow(options_.multiplier, static_cast<double>(n)));
  return std::chrono::milliseconds(static_cast<std::int64_t>(d));
}

std::chrono::milliseconds Backoff::next() {
  const double base = static_cast<double>(base_delay(attempts_).count());
  if (attempts_ < 1'000) ++attempts_;  // past the cap the count no longer matters
  std::uniform_real_distribution<double> u(1.0 - options_.jitter, 1.0 + options_.jitter);
  const double cap = static_cast<double>(options_.max_delay.count());
  const double d = std::min(cap, base * u(rng_));
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::max(0.0, d)));
}

}  // namespace hermod::client
