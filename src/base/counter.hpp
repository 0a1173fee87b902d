// Counter: a statistic written by one owner thread and read by any thread (for $SYS and metrics).
// The owner's increment is a plain load+store, not a locked read-modify-write: no lock prefix on
// the hot path, and readers still see a whole, recent value.
#pragma once

#include <atomic>
#include <cstdint>

namespace hermod {

class Counter {
 public:
  void add(std::uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void sub(std::uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
  void set(std::uint64_t n) { v_.store(n, std::memory_order_relaxed); }  // a gauge's owner
  std::uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

}  // namespace hermod
