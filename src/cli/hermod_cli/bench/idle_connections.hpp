// The `conns` scenario: opens N MQTT connections (CONNECT, wait for CONNACK) from several
// 127.0.0.x source addresses, at most `connect_concurrency` handshakes at a time, reports the
// connect rate, then holds them idle for `hold` seconds so the broker's memory can be sampled,
// and closes them with a reset (no TIME_WAIT left behind on this side).
// When every connection is up it prints one line ("holding ..." or a JSON object with
// "event":"holding") and flushes stdout: bench/run.sh samples the broker's RSS on that line.
// Main thread; one event loop.
#pragma once

#include "bench/bench_options.hpp"
#include "bench/bench_report.hpp"

namespace hermod::cli::bench {

ConnsResult run_conns(const BenchOptions& o);

}  // namespace hermod::cli::bench
