// The topic router (broker/router.hpp) under a realistic mixed subscription load, at 1k to 1M
// subscriptions: publish matching, and subscribe + unsubscribe of one more filter. The claim to
// check: cost grows with topic depth and the wildcard branches taken, not with the number of
// subscriptions, so the rates at 1M should be close to the rates at 1k.
//
// Shape (fixed seed), with the topic space growing with N so every size sees the same density:
// topics "site/<s>/dev/<d>/<metric>", 100 sites, N/100 devices per site, 8 metrics;
//   80 % exact        site/s/dev/d/m
//   15 % one '+'      site/s/dev/d/+      (every metric of a device)
//    5 % '#'          site/s/dev/d/#
// plus, at every size, 100 "site/s/#" and 8 "site/+/dev/+/m" (dashboards), so every publish
// matches at least two subscriptions.
// A second family puts N subscribers on ONE filter ("hot" topic, as in a large fan-out) and
// measures subscribe + unsubscribe there.
// Run: build/release/bench/hermod_router_bench
#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "broker/routing/router.hpp"

namespace {

using hermod::broker::RouteEntry;
using hermod::broker::Router;
using hermod::broker::SubscriberRef;

constexpr int kSites = 100;
constexpr int kMetrics = 8;
const char* const kMetricNames[kMetrics] = {"temperature", "humidity", "pressure", "co2",
                                            "battery", "rssi", "status", "alarm"};

std::string topic_of(int site, int dev, int metric) {
  return "site/" + std::to_string(site) + "/dev/" + std::to_string(dev) + "/" + kMetricNames[metric];
}

RouteEntry entry_for(std::uint64_t session) {
  RouteEntry e;
  e.who = SubscriberRef{0, session};
  return e;
}

// One router with `n` subscriptions of the mixed shape, and topics to publish to. Built once
// per size and reused by that size's benchmarks (building 1M takes seconds).
struct MixedRouter {
  std::size_t n = 0;
  int devices = 1;
  Router router;
  std::vector<std::string> topics;
  std::uint64_t next_session = 0;

  explicit MixedRouter(std::size_t size) : n(size), devices(static_cast<int>(std::max<std::size_t>(1, size / kSites))) {
    std::mt19937_64 rng(42);
    std::uniform_int_distribution<int> site(0, kSites - 1), dev(0, devices - 1), metric(0, kMetrics - 1);
    std::uniform_int_distribution<int> shape(0, 99);
    for (std::size_t i = 0; i < n; ++i) {
      const int s = site(rng), d = dev(rng), k = shape(rng);
      std::string f = "site/" + std::to_string(s) + "/dev/" + std::to_string(d) + "/";
      if (k < 80) {
        f += kMetricNames[metric(rng)];
      } else if (k < 95) {
        f += "+";
      } else {
        f += "#";
      }
      router.subscribe(f, entry_for(++next_session));
    }
    for (int s = 0; s < kSites; ++s) router.subscribe("site/" + std::to_string(s) + "/#", entry_for(++next_session));
    for (int m = 0; m < kMetrics; ++m) {
      router.subscribe(std::string("site/+/dev/+/") + kMetricNames[m], entry_for(++next_session));
    }
    for (int i = 0; i < 4096; ++i) topics.push_back(topic_of(site(rng), dev(rng), metric(rng)));
  }
};

std::unique_ptr<MixedRouter>& mixed_cache() {
  static std::unique_ptr<MixedRouter> cache;
  return cache;
}

MixedRouter& mixed(std::size_t n) {
  auto& c = mixed_cache();
  if (!c || c->n != n) {
    c.reset();  // free the previous size first
    c = std::make_unique<MixedRouter>(n);
  }
  return *c;
}

void BM_RouterMatch(benchmark::State& state) {
  MixedRouter& m = mixed(static_cast<std::size_t>(state.range(0)));
  std::vector<const RouteEntry*> out;
  std::size_t i = 0, matched = 0;
  for (auto _ : state) {
    out.clear();
    m.router.match(m.topics[i++ & 4095], out);
    matched += out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["entries_per_match"] =
      static_cast<double>(matched) / static_cast<double>(std::max<benchmark::IterationCount>(1, state.iterations()));
  state.counters["subscriptions"] = static_cast<double>(m.router.size());
}

// One new exact subscription added and removed again: the cost a SUBSCRIBE/UNSUBSCRIBE pays.
void BM_RouterSubscribeUnsubscribe(benchmark::State& state) {
  MixedRouter& m = mixed(static_cast<std::size_t>(state.range(0)));
  std::size_t i = 0;
  const std::uint64_t session = ++m.next_session;
  for (auto _ : state) {
    const std::string& f = m.topics[i++ & 4095];
    m.router.subscribe(f, entry_for(session));
    m.router.unsubscribe(f, SubscriberRef{0, session});
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["subscriptions"] = static_cast<double>(m.router.size());
}

// N subscribers on one filter (a large fan-out topic): one more subscribes and unsubscribes.
void BM_RouterHotFilterSubscribeUnsubscribe(benchmark::State& state) {
  const auto n = static_cast<std::uint64_t>(state.range(0));
  Router router;
  for (std::uint64_t s = 1; s <= n; ++s) router.subscribe("news/all", entry_for(s));
  const std::uint64_t extra = n + 1;
  for (auto _ : state) {
    router.subscribe("news/all", entry_for(extra));
    router.unsubscribe("news/all", SubscriberRef{0, extra});
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["subscriptions"] = static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("hermod_commit", HERMOD_BENCH_COMMIT);
  benchmark::AddCustomContext("hermod_build_type", HERMOD_BENCH_BUILD_TYPE);
  if (std::string_view(HERMOD_BENCH_BUILD_TYPE) != "Release") {
    std::fprintf(stderr, "WARNING: %s build; router numbers are only meaningful in Release\n", HERMOD_BENCH_BUILD_TYPE);
  }
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  std::fprintf(stderr, "WARNING: built with a sanitizer; numbers are not representative\n");
#endif
  // Sizes in order, each size's benchmarks together, so one router of each size is built once.
  for (const std::int64_t n : {1'000, 10'000, 100'000, 1'000'000}) {
    benchmark::RegisterBenchmark("BM_RouterMatch", BM_RouterMatch)->Arg(n)->ArgName("subs");
    benchmark::RegisterBenchmark("BM_RouterSubscribeUnsubscribe", BM_RouterSubscribeUnsubscribe)->Arg(n)->ArgName("subs");
  }
  for (const std::int64_t n : {100, 1'000, 10'000, 30'000}) {
    benchmark::RegisterBenchmark("BM_RouterHotFilterSubscribeUnsubscribe", BM_RouterHotFilterSubscribeUnsubscribe)
        ->Arg(n)
        ->ArgName("subs");
  }
  benchmark::RunSpecifiedBenchmarks();
  mixed_cache().reset();
  benchmark::Shutdown();
  return 0;
}
