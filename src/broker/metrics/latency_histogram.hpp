// A latency histogram in fixed buckets, written by one thread and read by any, like Counter:
// Prometheus histograms are built from it at a scrape (cumulative counts, sum, count).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/counter.hpp"

namespace hermod::broker {

class LatencyHistogram {
 public:
  // Upper bounds in microseconds; a last, unbounded bucket follows (+Inf).
  static constexpr std::array<std::uint64_t, 12> kBoundsUs{50,    100,   250,    500,    1'000,   2'500,
                                                           5'000, 10'000, 25'000, 50'000, 100'000, 1'000'000};
  static constexpr std::size_t kBuckets = kBoundsUs.size() + 1;

  void observe(std::uint64_t us) {
    std::size_t i = 0;
    while (i < kBoundsUs.size() && us > kBoundsUs[i]) ++i;
    buckets_[i].add();
    sum_us_.add(us);
  }
  // Observations in bucket i alone (not cumulative).
  std::uint64_t bucket(std::size_t i) const { return buckets_[i].get(); }
  std::uint64_t sum_us() const { return sum_us_.get(); }

 private:
  std::array<Counter, kBuckets> buckets_;
  Counter sum_us_;
};

}  // namespace hermod::broker
