#include "broker/limits/memory_budget.hpp"

namespace hermod::broker {

MemoryBudget::MemoryBudget(std::uint64_t budget, std::uint32_t workers)
    : budget_(budget), workers_(workers == 0 ? 1 : workers), slots_(std::make_unique<Slot[]>(workers_)) {}

std::uint64_t MemoryBudget::publish(std::uint32_t worker, std::int64_t total) {
  slots_[worker].total.store(total, std::memory_order_relaxed);
  return used();
}

std::uint64_t MemoryBudget::used() const {
  std::int64_t sum = 0;
  for (std::uint32_t i = 0; i < workers_; ++i) sum += slots_[i].total.load(std::memory_order_relaxed);
  // Totals are stored at different moments: a batch already taken by its target and not yet
  // published by its sender can make the sum briefly negative.
  return sum > 0 ? static_cast<std::uint64_t>(sum) : 0;
}

void MemoryBudget::set_parked(std::uint32_t worker, bool parked) {
  slots_[worker].parked.store(parked, std::memory_order_relaxed);
}

bool MemoryBudget::parked(std::uint32_t worker) const { return slots_[worker].parked.load(std::memory_order_relaxed); }

bool MemoryBudget::claim_nudge(std::uint32_t worker) {
  // Rare (a worker with paused connections, once per fall below the low-water mark): one
  // exchange, so the sleeping worker gets one post, not one per turn of every other worker.
  return !slots_[worker].nudging.exchange(true, std::memory_order_acq_rel);
}

void MemoryBudget::nudge_done(std::uint32_t worker) { slots_[worker].nudging.store(false, std::memory_order_release); }

bool next_over(bool over, std::uint64_t used, std::uint64_t budget) {
  if (budget == 0) return false;
  if (used > budget) return true;
  return over && used >= low_water(budget);
}

MemoryGauge::Change MemoryGauge::update() {
  used_ = budget_.publish(worker_, use_.total());
  if (used_ > high_) high_ = used_;
  const auto budget = budget_.budget();
  const bool was = over_;
  const bool shared = budget_.over();
  over_ = next_over(shared, used_, budget);
  if (over_ != shared) budget_.set_over(over_);
  far_over_ = over_ && used_ > far_over_mark(budget);
  if (over_ && !shared) return Change::went_over;
  return was && !over_ ? Change::went_under : Change::none;
}

bool MemoryGauge::take_release() {
  if (!should_release(high_, used_)) return false;
  high_ = used_;
  return true;
}

}  // namespace hermod::broker
