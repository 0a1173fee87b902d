// The results of one bench run, and how they are printed: a human table on stdout, or one JSON
// object per line with --json (bench/run.sh parses those). Problems (lost, duplicated, reordered,
// misrouted messages, failed connections) are always printed, never filtered.
// Main thread only.
#pragma once

#include <cstdint>
#include <string>

#include "bench/bench_options.hpp"
#include "bench/latency_histogram.hpp"

namespace hermod::cli::bench {

// The load generator's own cost over the run, so a reader can tell whether it was the bottleneck.
struct SelfCost {
  double cpu_s = 0;     // user + system CPU of this process
  double wall_s = 0;
  double cpu_pct() const { return wall_s > 0 ? 100.0 * cpu_s / wall_s : 0; }
};

struct TrafficResult {
  std::uint32_t publishers = 0;
  std::uint32_t subscribers = 0;
  std::uint64_t sent = 0;          // PUBLISH packets sent
  std::uint64_t expected = 0;      // deliveries expected: each message times its subscribers
  std::uint64_t delivered = 0;     // distinct deliveries
  std::uint64_t in_window = 0;     // deliveries inside the measured window
  double window_s = 0;             // measured window: start of publishing to end (time or count)
  std::uint64_t lost = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t reordered = 0;
  std::uint64_t misrouted = 0;     // arrived on a topic its publisher does not publish to
  std::uint64_t corrupt = 0;       // payload not ours, or a number never sent
  std::uint64_t wrong_qos = 0;     // delivered at a QoS other than min(publish, subscription)
  std::uint64_t unacked = 0;       // QoS 1/2 publishes never completed by the broker
  std::uint64_t stalls = 0;        // windows re-opened after a second without progress
  std::uint64_t max_send_lag_ns = 0;  // rate mode: latest a message left after its due time
  std::string error;               // set when the run could not be completed
  LatencyHistogram latency;
  LatencyHistogram ack_latency;    // QoS 1/2: PUBLISH sent to PUBACK/PUBREC received
  SelfCost self;

  double rate() const { return window_s > 0 ? static_cast<double>(in_window) / window_s : 0; }
};

struct ConnsResult {
  std::uint32_t requested = 0;
  std::uint32_t connected = 0;     // CONNACK received
  std::uint32_t failed = 0;
  std::uint32_t dropped = 0;       // closed by the broker while held
  double connect_s = 0;            // first connect to last CONNACK
  std::uint64_t fd_limit = 0;
  std::string first_error;
  SelfCost self;
  double rate() const { return connect_s > 0 ? connected / connect_s : 0; }
};

void print_traffic(const BenchOptions& o, const TrafficResult& r);
void print_conns(const BenchOptions& o, const ConnsResult& r);

}  // namespace hermod::cli::bench
