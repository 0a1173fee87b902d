// Checks one publisher's messages as one subscriber receives them. Publishers number their
// messages 0, 1, 2, ...; the check keeps one bit per sequence number, so it tells exactly which
// arrived twice (duplicated), which arrived after a later one (reordered), and, once the
// publisher's final count is known, which never arrived (lost).
// Thread: the subscriber's loop thread only. Memory: one bit per message sent.
#pragma once

#include <cstdint>
#include <vector>

namespace hermod::cli::bench {

class StreamCheck {
 public:
  enum class Verdict { fresh, duplicate };

  // Records message `seq`. Precondition: seq < the number of messages the publisher has sent
  // (the caller rejects anything else as corrupt, so a bad payload cannot grow the bitmap).
  Verdict on_message(std::uint64_t seq);

  std::uint64_t received() const { return received_; }      // distinct messages
  std::uint64_t duplicated() const { return duplicated_; }  // extra copies
  std::uint64_t reordered() const { return reordered_; }    // arrived after a higher number
  // One past the highest number received: the publisher's window advances with it.
  std::uint64_t progress() const { return next_; }
  // Messages numbered below `sent` that never arrived.
  std::uint64_t lost(std::uint64_t sent) const;

 private:
  std::vector<std::uint64_t> bits_;
  std::uint64_t next_ = 0;
  std::uint64_t received_ = 0;
  std::uint64_t duplicated_ = 0;
  std::uint64_t reordered_ = 0;
};

}  // namespace hermod::cli::bench
