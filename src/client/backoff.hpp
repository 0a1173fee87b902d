// Exponential backoff with jitter for reconnect attempts (see BackoffOptions for the formula).
// The random source is seeded by the caller, so tests get a repeatable schedule.
// Owner thread only; value type.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

#include "client/options.hpp"

namespace hermod::client {

class Backoff {
 public:
  explicit Backoff(BackoffOptions options, std::uint64_t seed = std::random_device{}());

  // The delay before the next attempt; each call counts one attempt.
  std::chrono::milliseconds next();
  // After a successful connection: the next delay is initial_delay again.
  void reset() { attempts_ = 0; }
  unsigned attempts() const { return attempts_; }
  // The delay of attempt `n` before jitter.
  std::chrono::milliseconds base_delay(unsigned n) const;

 private:
  BackoffOptions options_;
  std::mt19937_64 rng_;
  unsigned attempts_ = 0;
};

}  // namespace hermod::client
