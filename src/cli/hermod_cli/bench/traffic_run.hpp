// Runs one traffic scenario (pairs, fanout, fanin, latency) to completion on `threads` event
// loops and returns what it measured. Phases, each ended on every loop before the next starts:
//   setup    connect every client, subscribe every subscriber (bounded by setup_timeout)
//   publish  publishers send within their windows until the duration or the count is reached
//   drain    no new messages; wait for the last deliveries and acknowledgements (bounded by drain)
//   teardown DISCONNECT and close
// Main thread calls it; it starts and joins the loop threads itself.
#pragma once

#include "bench/bench_options.hpp"
#include "bench/bench_report.hpp"

namespace hermod::cli::bench {

TrafficResult run_traffic(const BenchOptions& o);

}  // namespace hermod::cli::bench
