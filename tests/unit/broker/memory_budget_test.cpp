// The memory budget's accounting (limits/memory_budget.hpp): the over state and its low-water
// mark, the sum of the workers' totals with batches counted by sender and receiver, and when
// freed memory is given back; then over fake streams (broker_fixture.hpp): what a stalled
// subscriber and a flooding publisher do to the counts and to reading.
#include <gtest/gtest.h>

#include "broker/limits/memory_budget.hpp"
#include "broker_fixture.hpp"

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


using mqtt::ProtocolVersion;
using testing::FakePeer;

class MemoryBudgetBrokerTest : public testing_support::BrokerTest {
 protected:
  // A client id whose session lives on worker `w`.
  std::string id_on(std::uint32_t w, const std::string& prefix) {
    for (int n = 0;; ++n) {
      auto id = prefix + std::to_string(n);
      if (broker_->services().directory.home(id) == w) return id;
    }
  }
  // Every worker's count for the memory budget, summed.
  MemoryUse memory_use() {
    MemoryUse sum;
    for (std::uint32_t i = 0; i < broker_->worker_count(); ++i) {
      const auto& u = broker_->worker(i).memory().use();
      sum.write_buffers += u.write_buffers;
      sum.session_queues += u.session_queues;
      sum.partial_packets += u.partial_packets;
      sum.outboxes += u.outboxes;
      sum.batches_posted += u.batches_posted;
      sum.batches_taken += u.batches_taken;
    }
    return sum;
  }
};

INSTANTIATE_TEST_SUITE_P(Versions, MemoryBudgetBrokerTest, ::testing::Values(ProtocolVersion::v3_1_1, ProtocolVersion::v5),
                         [](const auto& info) { return info.param == ProtocolVersion::v5 ? "v5" : "v311"; });

using namespace std::chrono_literals;

TEST_P(MemoryBudgetBrokerTest, ParksAHeavyPublisherAndDropsQos0ToAStalledSubscriber) {
  // The budget binds before the per-connection write buffer limit does.
  make(2, 10, {}, [](Config& c) {
    c.limits.memory_budget = 128 << 10;
    c.limits.max_write_buffer = 16 << 20;
  });
  const auto sub_id = id_on(1, "stalled");
  auto sub = connect(sub_id, true, 1);
  subscribe(*sub, "flood", 0);
  (void)sub->packets();
  sub->stall_writes = true;
  auto healthy = connect(id_on(1, "healthy"), true, 1);
  subscribe(*healthy, "flood", 0);
  (void)healthy->packets();
  auto pub = connect(connect_packet(id_on(0, "flooder"), true, /*keep_alive=*/2), 0);
  // 2 MiB of 1 KiB QoS 0 messages in one go: the broker's reads fill its scratch buffer.
  const std::string payload(1024, 'x');
  std::string bytes;
  for (int i = 0; i < 2048; ++i) bytes += mqtt::encode(publish_packet("flood", payload, 0), v());
  pub->send_bytes(bytes);
  run();

  auto& w0 = broker_->worker(0).stats();
  auto& w1 = broker_->worker(1).stats();
  EXPECT_GE(w0.memory_exceeded.get() + w1.memory_exceeded.get(), 1u);
  EXPECT_GE(w0.memory_reads_paused.get(), 1u) << "the publisher's reading is paused (TCP back-pressure)";
  EXPECT_FALSE(pub->input.empty()) << "the broker stopped reading the publisher";
  // Its packets wait in the socket: the time it is not read does not count against its keepalive.
  clock_.advance(10s);
  broker_->worker(0).sweep();
  run();
  EXPECT_FALSE(pub->ended_by_broker()) << "a publisher paused for the budget is not timed out [MQTT-3.1.2-24]";
  // A light publisher is still read; its message reaches the healthy subscriber, not the
  // stalled one.
  auto light = connect(id_on(0, "light"), true, 0);
  const auto dropped_before = w1.dropped_for(DropReason::memory_budget);
  (void)healthy->packets();
  light->send(publish_packet("flood", "light one", 0));
  run();
  EXPECT_EQ(w1.dropped_for(DropReason::memory_budget), dropped_before + 1) << "QoS 0 to the stalled subscriber is dropped";
  const auto got = only<mqtt::Publish>(healthy->packets());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "light one");
  const auto held = memory_use();
  EXPECT_GT(held.write_buffers, 0u);
  EXPECT_LE(held.write_buffers, (128u << 10) + (512u << 10)) << "at most the budget and a turn's reads beyond it";
  EXPECT_EQ(held.outboxes, 0u);
  EXPECT_EQ(held.batches_posted, held.batches_taken) << "every batch posted was taken";

  // The stalled subscriber leaves: its write buffer is freed, the publisher is read again.
  sub->end();
  run();
  EXPECT_TRUE(pub->input.empty()) << "below the low-water mark the publisher is read again";
  const auto after = memory_use();
  EXPECT_EQ(after.write_buffers, 0u);
  EXPECT_EQ(after.partial_packets, 0u);
  EXPECT_EQ(after.batches_posted, after.batches_taken);
}

TEST_P(MemoryBudgetBrokerTest, CountsSessionQueuesAndIncompletePackets) {
  make(1);
  auto c = connect_packet("offline", false);
  if (v5()) c.props.session_expiry_interval = 300;
  auto sub = connect(c);
  subscribe(*sub, "q", 1);
  sub->end();
  run();
  auto pub = connect("pub");
  for (int i = 0; i < 3; ++i) pub->send(publish_packet("q", std::string(100, 'm'), 1, static_cast<mqtt::PacketId>(i + 1)));
  run();
  auto& use = broker_->worker(0).memory().use();
  EXPECT_EQ(use.session_queues, 3 * queued_cost(1, 100)) << "three messages wait for the offline session";
  // Half a PUBLISH: its bytes are kept until the rest arrives.
  const auto half = mqtt::encode(publish_packet("q", std::string(100, 'h'), 0), v()).substr(0, 50);
  pub->send_bytes(half);
  run();
  EXPECT_EQ(use.partial_packets, 50u);
  pub->end();
  run();
  EXPECT_EQ(use.partial_packets, 0u) << "freed with its connection";
  auto back = open(0, c.version);  // the session resumes: its queue goes into the in-flight window
  back->send(c);
  run();
  EXPECT_EQ(only<mqtt::Publish>(back->packets()).size(), 3u);
  EXPECT_EQ(use.session_queues, 0u);
}

}  // namespace
}  // namespace hermod::broker
