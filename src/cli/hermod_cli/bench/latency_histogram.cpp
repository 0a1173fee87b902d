#include "bench/latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace hermod::cli::bench {

// Values below kSub have a bucket each; above, a power of two [2^e, 2^(e+1)) is split into kSub
// equal buckets, indexed by the kSubBits bits after the leading one.
int LatencyHistogram::index_of(std::uint64_t ns) {
  if (ns < kSub) return static_cast<int>(ns);
  const int e = 63 - std::countl_zero(ns);  // >= kSubBits
  const int sub = static_cast<int>((ns >> (e - kSubBits)) & (kSub - 1));
  return (e - kSubBits + 1) * kSub + sub;
}

std::uint64_t LatencyHistogram::upper_edge(int index) {
  if (index < kSub) return static_cast<std::uint64_t>(index);
  const int e = index / kSub + kSubBits - 1;
  const std::uint64_t sub = static_cast<std::uint64_t>(index % kSub);
  const std::uint64_t base = (std::uint64_t{1} << e) | (sub << (e - kSubBits));
  return base + (std::uint64_t{1} << (e - kSubBits)) - 1;
}

void LatencyHistogram::record(std::uint64_t ns) {
  ++buckets_[static_cast<std::size_t>(index_of(ns))];
  ++count_;
  sum_ += ns;
  max_ = std::max(max_, ns);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  max_ = std::max(max_, other.max_);
}

std::uint64_t LatencyHistogram::quantile(double q) const {
  if (count_ == 0) return 0;
  const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  std::uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[static_cast<std::size_t>(i)];
    if (seen >= std::max<std::uint64_t>(rank, 1)) return std::min(upper_edge(i), max_);
  }
  return max_;
}

}  // namespace hermod::cli::bench
