// End-to-end latencies in nanoseconds, in log-linear buckets (128 per power of two: under 1 %
// relative error) so recording is a few instructions and millions of samples take 64 KiB.
// The exact minimum and maximum are kept aside. Thread: one owner; merge() combines threads'.
#pragma once

#include <array>
#include <cstdint>

namespace hermod::cli::bench {

class LatencyHistogram {
 public:
  void record(std::uint64_t ns);
  void merge(const LatencyHistogram& other);

  std::uint64_t count() const { return count_; }
  std::uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
  // The value below which a fraction `q` (0..1) of the samples lie (upper edge of its bucket,
  // capped by the maximum). 0 when empty.
  std::uint64_t quantile(double q) const;

 private:
  static constexpr int kSubBits = 7;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = 64 * kSub;
  static int index_of(std::uint64_t ns);
  static std::uint64_t upper_edge(int index);

  std::array<std::uint64_t, kBuckets> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace hermod::cli::bench
