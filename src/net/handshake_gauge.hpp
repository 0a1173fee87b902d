// How many TLS handshakes a worker has in progress, against a bound. A handshake is CPU work (an
// RSA 2048 signature takes about a millisecond) and runs on the worker that accepted it, so a
// burst of new clients could hold that worker's established clients up; the worker stops taking
// new TLS connections while `full()`, leaving them in the kernel's accept queue, and takes them
// again when a handshake ends (`on_room`).
// Threads: one worker's; every call on its thread.
#pragma once

#include <cstddef>
#include <functional>

#include "base/rate_limited_log.hpp"

namespace hermod::net {

class HandshakeGauge {
 public:
  explicit HandshakeGauge(std::size_t limit) : limit_(limit) {}

  bool full() const { return limit_ != 0 && in_progress_ >= limit_; }
  std::size_t in_progress() const { return in_progress_; }
  void acquire() { ++in_progress_; }
  // A handshake ended (done, failed or its stream closed): calls on_room if that made room.
  void release() {
    const bool was_full = full();
    --in_progress_;
    if (was_full && !full() && on_room) on_room();
  }
  // Called when the gauge stops being full; may start accepting again.
  std::function<void()> on_room;
  // Where handshakes that fail are logged, at most a line per interval (null: a line each). A
  // client can fail handshakes as fast as it can connect; it outlives the gauge.
  RateLimitedLog* failures = nullptr;

 private:
  std::size_t limit_;  // 0: no bound
  std::size_t in_progress_ = 0;
};

}  // namespace hermod::net
