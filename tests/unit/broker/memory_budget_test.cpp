// The memory budget's accounting (limits/memory_budget.hpp): the over state and its low-water
// mark, the sum of the workers' totals with batches counted by sender and receiver, and when
// freed memory is given back.
#include <gtest/gtest.h>

#include "broker/limits/memory_budget.hpp"

namespace hermod::broker {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;

TEST(MemoryBudget, OffNeverGoesOver) {
  EXPECT_FALSE(next_over(false, 1ull << 40, 0));
  EXPECT_FALSE(next_over(true, 1ull << 40, 0));
}

TEST(MemoryBudget, GoesOverOnlyAboveTheBudget) {
  EXPECT_FALSE(next_over(false, 64 * kMiB, 64 * kMiB));
  EXPECT_TRUE(next_over(false, 64 * kMiB + 1, 64 * kMiB));
}

TEST(MemoryBudget, StaysOverUntilBelowTheLowWaterMark) {
  const auto budget = 64 * kMiB;
  ASSERT_EQ(low_water(budget), 48 * kMiB);
  EXPECT_TRUE(next_over(true, 60 * kMiB, budget)) << "between low water and budget: still over (hysteresis)";
  EXPECT_TRUE(next_over(true, 48 * kMiB, budget));
  EXPECT_FALSE(next_over(true, 48 * kMiB - 1, budget));
  EXPECT_FALSE(next_over(false, 60 * kMiB, budget)) << "under and rising below the budget: stays under";
}

TEST(MemoryBudget, SumsEveryWorkersLastTotal) {
  MemoryBudget b(64 * kMiB, 3);
  EXPECT_EQ(b.publish(0, 10), 10u);
  EXPECT_EQ(b.publish(1, 5), 15u);
  EXPECT_EQ(b.publish(2, 1), 16u);
  EXPECT_EQ(b.publish(0, 2), 8u) << "a worker's new total replaces its old one";
  EXPECT_EQ(b.used(), 8u);
}

TEST(MemoryBudget, BatchInFlightIsCountedOnceAcrossSenderAndReceiver) {
  MemoryBudget b(64 * kMiB, 2);
  MemoryGauge sender(b, 0), receiver(b, 1);
  sender.use().outboxes = 1000;  // collected during the turn
  sender.update();
  EXPECT_EQ(b.used(), 1000u);
  sender.use().outboxes = 0;  // posted at the turn's end
  sender.use().batches_posted += 1000;
  sender.update();
  EXPECT_EQ(b.used(), 1000u) << "posted and not yet taken: still held";
  receiver.use().batches_taken += 1000;
  receiver.use().write_buffers += 300;  // what the receiver queued of it
  receiver.update();
  EXPECT_EQ(receiver.use().total(), -700) << "a receiver's own total may be negative";
  EXPECT_EQ(b.used(), 300u) << "taken: only what the receiver still queues counts";
}

TEST(MemoryBudget, SumIsNeverNegativeWhileTotalsDisagree) {
  MemoryBudget b(64 * kMiB, 2);
  b.publish(1, -500);  // the receiver published first
  EXPECT_EQ(b.used(), 0u);
}

TEST(MemoryBudget, GaugeReportsTheChangesOfItsState) {
  MemoryBudget b(8 * kMiB, 1);
  MemoryGauge g(b, 0);
  g.use().write_buffers = 9 * kMiB;
  EXPECT_EQ(g.update(), MemoryGauge::Change::went_over);
  EXPECT_TRUE(g.over());
  EXPECT_FALSE(g.far_over());
  g.use().write_buffers = 7 * kMiB;
  EXPECT_EQ(g.update(), MemoryGauge::Change::none) << "above the low-water mark (6 MiB)";
  g.use().write_buffers = 11 * kMiB;
  EXPECT_EQ(g.update(), MemoryGauge::Change::none);
  EXPECT_TRUE(g.far_over()) << "a quarter above the budget: every publisher is paused";
  g.use().write_buffers = 5 * kMiB;
  EXPECT_EQ(g.update(), MemoryGauge::Change::went_under);
  EXPECT_FALSE(g.over());
  EXPECT_FALSE(g.far_over());
}

TEST(MemoryBudget, SetBudgetTakesEffectAtTheNextUpdate) {
  MemoryBudget b(0, 1);
  MemoryGauge g(b, 0);
  g.use().session_queues = 2 * kMiB;
  EXPECT_EQ(g.update(), MemoryGauge::Change::none);
  b.set_budget(1 * kMiB);
  EXPECT_EQ(g.update(), MemoryGauge::Change::went_over);
}

TEST(MemoryBudget, ReleasesOnceAfterAFallToAQuarterOfTheHigh) {
  MemoryBudget b(64 * kMiB, 1);
  MemoryGauge g(b, 0);
  g.use().write_buffers = 40 * kMiB;
  g.update();
  EXPECT_FALSE(g.take_release()) << "nothing fell yet";
  g.use().write_buffers = 20 * kMiB;
  g.update();
  EXPECT_FALSE(g.take_release()) << "half of the high: a flood still going on";
  g.use().write_buffers = 1 * kMiB;
  g.update();
  EXPECT_TRUE(g.take_release());
  EXPECT_FALSE(g.take_release()) << "once per fall";
}

TEST(MemoryBudget, SmallSwingsReleaseNothing) {
  EXPECT_FALSE(should_release(4 * kMiB, 0)) << "less than kReleaseStep fell";
  EXPECT_TRUE(should_release(kReleaseStep, 0));
}

TEST(MemoryBudget, WorkersShareOneOverState) {
  MemoryBudget b(8 * kMiB, 2);
  MemoryGauge a(b, 0), c(b, 1);
  a.use().write_buffers = 9 * kMiB;
  EXPECT_EQ(a.update(), MemoryGauge::Change::went_over);
  a.use().write_buffers = 7 * kMiB;  // between low water and budget
  a.update();
  EXPECT_EQ(c.update(), MemoryGauge::Change::none) << "the crossing is counted once, by the worker that saw it";
  EXPECT_TRUE(c.over()) << "a worker that never saw the sum above the budget still follows the shared state";
}

TEST(MemoryBudget, NudgeIsClaimedOnceUntilDone) {
  MemoryBudget b(64 * kMiB, 2);
  b.set_parked(1, true);
  EXPECT_TRUE(b.parked(1));
  EXPECT_TRUE(b.claim_nudge(1));
  EXPECT_FALSE(b.claim_nudge(1)) << "one post until the nudged worker ran it";
  b.nudge_done(1);
  EXPECT_TRUE(b.claim_nudge(1));
}

}  // namespace
}  // namespace hermod::broker
