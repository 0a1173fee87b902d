// A token bucket: `rate` tokens per second, holding at most one second's worth (the burst).
// Used for a client's message and byte rates (limits.message_rate, limits.byte_rate) and for
// CONNECTs per address. The rate is passed at each call, so a reload that changes it applies at
// once. One thread; no allocation.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "base/clock.hpp"

namespace hermod::broker {

class TokenBucket {
 public:
  // Takes `cost` tokens if the bucket holds them; false (and nothing taken) if not.
  bool try_take(double cost, double rate, Clock::time_point now) {
    refill(rate, now);
    if (tokens_ < cost) return false;
    tokens_ -= cost;
    return true;
  }
  // Takes `cost` tokens, into debt if need be.
  void take(double cost, double rate, Clock::time_point now) {
    refill(rate, now);
    tokens_ -= cost;
  }
  // Whether the bucket holds its whole burst at `now` (a bucket never used does): nothing is
  // lost by forgetting it.
  bool full(double rate, Clock::time_point now) const {
    if (!started_ || rate <= 0) return true;
    const double elapsed = now > last_ ? std::chrono::duration<double>(now - last_).count() : 0.0;
    return tokens_ + elapsed * rate >= rate;
  }
  // How long until the bucket holds `wanted` tokens (zero if it does now).
  Clock::duration wait_for(double wanted, double rate) const {
    if (tokens_ >= wanted || rate <= 0) return Clock::duration::zero();
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>((wanted - tokens_) / rate));
  }

 private:
  void refill(double rate, Clock::time_point now) {
    if (!started_) {
      started_ = true;
      tokens_ = rate;  // a new client starts with a full burst
    } else if (now > last_) {
      tokens_ = std::min(rate, tokens_ + std::chrono::duration<double>(now - last_).count() * rate);
    }
    last_ = now;
  }

  double tokens_ = 0;
  Clock::time_point last_{};
  bool started_ = false;
};

}  // namespace hermod::broker
