#include "bench/stream_check.hpp"

#include <bit>

namespace hermod::cli::bench {

StreamCheck::Verdict StreamCheck::on_message(std::uint64_t seq) {
  const std::size_t word = seq / 64;
  const std::uint64_t bit = std::uint64_t{1} << (seq % 64);
  if (word >= bits_.size()) bits_.resize(std::max(word + 1, bits_.size() * 2), 0);
  if (bits_[word] & bit) {
    ++duplicated_;
    return Verdict::duplicate;
  }
  bits_[word] |= bit;
  ++received_;
  if (seq < next_) {
    ++reordered_;
  } else {
    next_ = seq + 1;
  }
  return Verdict::fresh;
}

std::uint64_t StreamCheck::lost(std::uint64_t sent) const {
  std::uint64_t got = 0;
  const std::size_t full = sent / 64;
  for (std::size_t w = 0; w < full && w < bits_.size(); ++w) got += static_cast<std::uint64_t>(std::popcount(bits_[w]));
  if (sent % 64 != 0 && full < bits_.size()) {
    const std::uint64_t mask = (std::uint64_t{1} << (sent % 64)) - 1;
    got += static_cast<std::uint64_t>(std::popcount(bits_[full] & mask));
  }
  return sent - got;
}

}  // namespace hermod::cli::bench
