// The global memory budget (limits.memory_budget, docs/configuration.md): a bound on the bytes
// the broker holds in queues that can grow, summed over every worker: connection write buffers,
// in-memory session queues, deliveries collected for other workers and the batches of them
// posted between workers, and the tails of incomplete packets.
//
// Accounting without shared writes on the publish path: each worker adds and subtracts in its own
// MemoryUse (plain integers, its thread only). Once per loop turn (and on every sweep) the worker
// stores its total in its slot of the shared MemoryBudget (one relaxed store) and sums the slots
// (one relaxed load per worker). A batch posted from worker A to worker B is counted by A when
// posted (batches_posted) and by B when taken (batches_taken): both totals only grow, so the sum
// over the workers is what is in flight between them, and a single worker's total may be
// negative.
//
// Above the budget, a worker's MemoryGauge says `over()` until the sum falls below the low-water
// mark (three quarters of the budget): links then stop reading publishers and drop QoS 0 to
// subscribers whose output is stalled (link.hpp). `far_over()` (a quarter above the budget)
// pauses every connection that publishes, not only the heavy ones.
//
// Threads: MemoryBudget is shared (atomics only, any thread); MemoryUse and MemoryGauge belong to
// one worker's thread. The budget is read through MemoryBudget::budget() only, so a reload of the
// limits can change it with set_budget().
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace hermod::broker {

// One worker's queued bytes. Written only by the worker's thread, on the publish path too.
struct MemoryUse {
  std::uint64_t write_buffers = 0;    // bytes queued on links and not yet written
  std::uint64_t session_queues = 0;   // messages waiting in session queues (queued_cost())
  std::uint64_t partial_packets = 0;  // tails of incomplete packets kept by connections
  std::uint64_t outboxes = 0;         // deliveries collected for other workers, not yet posted
  std::uint64_t batches_posted = 0;   // grows: bytes of the batches this worker posted
  std::uint64_t batches_taken = 0;    // grows: bytes of other workers' batches this one handled

  // This worker's share of the broker's total (negative when it took more than it posted).
  std::int64_t total() const {
    return static_cast<std::int64_t>(write_buffers + session_queues + partial_packets + outboxes + batches_posted) -
           static_cast<std::int64_t>(batches_taken);
  }
};

// What a message costs while it waits in a session queue: its topic and payload and about what
// the entry that holds it and the message's own header take.
constexpr std::uint64_t kQueuedEntryBytes = 64;
constexpr std::uint64_t queued_cost(std::size_t topic, std::size_t payload) {
  return topic + payload + kQueuedEntryBytes;
}

class MemoryBudget {
 public:
  // `budget` in bytes, 0: off. `workers`: the number of slots.
  MemoryBudget(std::uint64_t budget, std::uint32_t workers);

  // The budget in bytes (0: off). The one place the configured value is read.
  std::uint64_t budget() const { return budget_.load(std::memory_order_relaxed); }
  void set_budget(std::uint64_t bytes) { budget_.store(bytes, std::memory_order_relaxed); }

  // Worker `worker` stores its total; returns the sum over every worker's last total.
  std::uint64_t publish(std::uint32_t worker, std::int64_t total);
  // The sum over every worker's last total.
  std::uint64_t used() const;
  std::uint32_t workers() const { return workers_; }
  // The over state, shared so that every worker acts on the same one (hysteresis needs one
  // history, not one per worker). Moved by MemoryGauge::update.
  bool over() const { return over_.load(std::memory_order_relaxed); }
  void set_over(bool over) { over_.store(over, std::memory_order_relaxed); }

  // Whether worker `worker` holds connections paused for the budget, and a nudge to it: a worker
  // that sees the sum fall below the low-water mark wakes the others that wait for it (a worker
  // with only paused connections runs no turn of its own). Owner sets `parked`; any worker may
  // claim the nudge (true: this caller must post it).
  void set_parked(std::uint32_t worker, bool parked);
  bool claim_nudge(std::uint32_t worker);
  void nudge_done(std::uint32_t worker);
  bool parked(std::uint32_t worker) const;

 private:
  struct alignas(64) Slot {
    std::atomic<std::int64_t> total{0};
    std::atomic<bool> parked{false};
    std::atomic<bool> nudging{false};
  };
  std::atomic<std::uint64_t> budget_;
  std::atomic<bool> over_{false};
  std::uint32_t workers_;
  std::unique_ptr<Slot[]> slots_;
};

// The state that follows from `used` bytes against `budget` when the state was `over`: above the
// budget it is over; it stays over until used falls below the low-water mark. Budget 0: never.
bool next_over(bool over, std::uint64_t used, std::uint64_t budget);
// Three quarters of the budget: where an over state ends.
constexpr std::uint64_t low_water(std::uint64_t budget) { return budget - budget / 4; }
// A quarter above the budget: where every publisher is paused, light ones too.
constexpr std::uint64_t far_over_mark(std::uint64_t budget) { return budget + budget / 4; }

// Whether to give freed memory back to the system: the sum fell to a quarter of the highest
// seen since the last time, by at least `kReleaseStep` bytes.
constexpr std::uint64_t kReleaseStep = 8u << 20;
constexpr bool should_release(std::uint64_t high, std::uint64_t used) {
  return high >= used + kReleaseStep && used <= high / 4;
}

// One worker's side: its MemoryUse, the over state it last computed, what it has seen since the
// last release of memory. Its thread only.
class MemoryGauge {
 public:
  MemoryGauge(MemoryBudget& budget, std::uint32_t worker) : budget_(budget), worker_(worker) {}

  MemoryUse& use() { return use_; }
  const MemoryUse& use() const { return use_; }
  bool over() const { return over_; }
  bool far_over() const { return far_over_; }
  std::uint64_t last_used() const { return used_; }
  MemoryBudget& budget() { return budget_; }

  // went_over: this worker moved the shared state over the budget (counted once broker-wide);
  // went_under: this worker's view went from over to under.
  enum class Change { none, went_over, went_under };
  // Publishes this worker's total, sums, and moves the shared over state (see next_over).
  Change update();
  // True (once) when freed memory should be given back now (should_release); resets the high.
  bool take_release();

 private:
  MemoryBudget& budget_;
  std::uint32_t worker_;
  MemoryUse use_;
  std::uint64_t used_ = 0;
  std::uint64_t high_ = 0;  // highest sum seen since the last release
  bool over_ = false;
  bool far_over_ = false;
};

}  // namespace hermod::broker
