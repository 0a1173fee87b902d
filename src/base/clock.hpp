// The broker's time source, injected so that keepalive, session and message expiry, will delay
// and $SYS can be tested by advancing time instead of sleeping. Everything that compares against
// a deadline reads `now()` from the Clock it was given; nothing in the broker calls
// steady_clock::now() itself. Timers that only wake a sweep still use Asio's steady timers: the
// sweep then asks the Clock what time it is.
// SteadyClock is stateless and thread-safe; ManualClock (tests) is read and advanced from one
// thread.
#pragma once

#include <chrono>

namespace hermod {

class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;
  virtual time_point now() const = 0;
};

// The real monotonic clock.
class SteadyClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
};

// A clock that moves only when told to (unit tests).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(time_point start = time_point{} + std::chrono::hours(24)) : now_(start) {}
  time_point now() const override { return now_; }
  void advance(duration d) { now_ += d; }

 private:
  time_point now_;
};

}  // namespace hermod
