#include "bench/bench_report.hpp"

#include <cstdio>
#include <string>

#include <fmt/format.h>

namespace hermod::cli::bench {

const char* to_string(Scenario s) {
  switch (s) {
    case Scenario::pairs: return "pairs";
    case Scenario::fanout: return "fanout";
    case Scenario::fanin: return "fanin";
    case Scenario::latency: return "latency";
    case Scenario::conns: return "conns";
  }
  return "?";
}

namespace {

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

double us(std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

// "850 µs", "1.24 ms", "2.10 s": latencies at a glance.
std::string pretty_ns(std::uint64_t ns) {
  if (ns < 10'000) return fmt::format("{:.1f} µs", us(ns));
  if (ns < 1'000'000) return fmt::format("{:.0f} µs", us(ns));
  if (ns < 1'000'000'000) return fmt::format("{:.2f} ms", static_cast<double>(ns) / 1e6);
  return fmt::format("{:.2f} s", static_cast<double>(ns) / 1e9);
}

std::string describe(const BenchOptions& o, const TrafficResult& r) {
  std::string who;
  switch (o.scenario) {
    case Scenario::pairs:
    case Scenario::latency: who = fmt::format("{} pairs", r.publishers); break;
    case Scenario::fanout: who = fmt::format("1 publisher, {} subscribers", r.subscribers); break;
    case Scenario::fanin: who = fmt::format("{} publishers, 1 subscriber", r.publishers); break;
    case Scenario::conns: break;
  }
  std::string rate = o.rate > 0 ? fmt::format(", {:.0f} msg/s offered", o.rate) : std::string();
  if (o.transport != client::TransportKind::tcp) who += fmt::format(" over {}", client::to_string(o.transport));
  return fmt::format("{}: {}, QoS {}{}, {} B payload, window {}{}, {} thread{}, {:.1f} s", to_string(o.scenario), who,
                     o.qos, o.persistent ? " (persistent subscribers)" : "", o.size, o.window, rate, o.threads,
                     o.threads == 1 ? "" : "s", o.duration);
}

}  // namespace

void print_traffic(const BenchOptions& o, const TrafficResult& r) {
  const auto& l = r.latency;
  if (o.json) {
    std::string j = "{";
    j += fmt::format("\"scenario\":\"{}\",\"label\":{},\"transport\":\"{}\",\"qos\":{},\"size\":{},\"clients\":{},"
                     "\"publishers\":{},\"subscribers\":{},\"threads\":{},\"window\":{},\"rate_offered\":{},"
                     "\"duration_s\":{},",
                     to_string(o.scenario), json_string(o.label), client::to_string(o.transport), o.qos, o.size, o.clients, r.publishers,
                     r.subscribers, o.threads, o.window, o.rate, o.duration);
    j += fmt::format("\"sent\":{},\"expected\":{},\"delivered\":{},\"in_window\":{},\"window_s\":{:.4f},"
                     "\"msgs_per_s\":{:.1f},",
                     r.sent, r.expected, r.delivered, r.in_window, r.window_s, r.rate());
    j += fmt::format("\"lost\":{},\"duplicated\":{},\"reordered\":{},\"misrouted\":{},\"corrupt\":{},\"wrong_qos\":{},"
                     "\"unacked\":{},\"stalls\":{},\"max_send_lag_us\":{:.1f},",
                     r.lost, r.duplicated, r.reordered, r.misrouted, r.corrupt, r.wrong_qos, r.unacked, r.stalls,
                     us(r.max_send_lag_ns));
    j += fmt::format("\"lat_p50_us\":{:.1f},\"lat_p99_us\":{:.1f},\"lat_p999_us\":{:.1f},\"lat_max_us\":{:.1f},"
                     "\"lat_mean_us\":{:.1f},",
                     us(l.quantile(0.5)), us(l.quantile(0.99)), us(l.quantile(0.999)), us(l.max()), l.mean() / 1000);
    const auto& a = r.ack_latency;
    j += fmt::format("\"persistent\":{},\"acks\":{},\"ack_p50_us\":{:.1f},\"ack_p99_us\":{:.1f},\"ack_p999_us\":{:.1f},"
                     "\"ack_max_us\":{:.1f},",
                     o.persistent, a.count(), us(a.quantile(0.5)), us(a.quantile(0.99)), us(a.quantile(0.999)),
                     us(a.max()));
    j += fmt::format("\"gen_cpu_s\":{:.3f},\"gen_wall_s\":{:.3f},\"gen_cpu_pct\":{:.1f},\"error\":{}}}", r.self.cpu_s,
                     r.self.wall_s, r.self.cpu_pct(), json_string(r.error));
    std::puts(j.c_str());
    std::fflush(stdout);
    return;
  }
  std::string t;
  t += fmt::format("hermod-cli bench {}{}\n", describe(o, r), o.label.empty() ? "" : "  [" + o.label + "]");
  if (!r.error.empty()) t += fmt::format("  ERROR       {}\n", r.error);
  t += fmt::format("  sent        {:>14}\n", r.sent);
  t += fmt::format("  delivered   {:>14}   of {} expected\n", r.delivered, r.expected);
  t += fmt::format("  rate        {:>14.0f}   msg/s delivered over {:.2f} s\n", r.rate(), r.window_s);
  t += fmt::format("  latency     p50 {}  p99 {}  p99.9 {}  max {}  (mean {})\n", pretty_ns(l.quantile(0.5)),
                   pretty_ns(l.quantile(0.99)), pretty_ns(l.quantile(0.999)), pretty_ns(l.max()),
                   pretty_ns(static_cast<std::uint64_t>(l.mean())));
  if (const auto& a = r.ack_latency; a.count() > 0) {
    t += fmt::format("  ack latency p50 {}  p99 {}  p99.9 {}  max {}  (PUBLISH to {})\n", pretty_ns(a.quantile(0.5)),
                     pretty_ns(a.quantile(0.99)), pretty_ns(a.quantile(0.999)), pretty_ns(a.max()),
                     o.qos == 1 ? "PUBACK" : "PUBREC");
  }
  if (o.rate > 0) t += fmt::format("  send lag    max {} behind schedule\n", pretty_ns(r.max_send_lag_ns));
  t += fmt::format("  checks      lost {}  duplicated {}  reordered {}  misrouted {}  corrupt {}  wrong QoS {}  "
                   "unacked {}  stalls {}\n",
                   r.lost, r.duplicated, r.reordered, r.misrouted, r.corrupt, r.wrong_qos, r.unacked, r.stalls);
  t += fmt::format("  generator   {:.2f} s CPU over {:.2f} s ({:.0f} % of one core)\n", r.self.cpu_s, r.self.wall_s,
                   r.self.cpu_pct());
  std::fputs(t.c_str(), stdout);
  std::fflush(stdout);
}

void print_conns(const BenchOptions& o, const ConnsResult& r) {
  if (o.json) {
    std::puts(fmt::format("{{\"scenario\":\"conns\",\"label\":{},\"transport\":\"{}\",\"requested\":{},"
                          "\"connected\":{},\"failed\":{},"
                          "\"dropped\":{},\"connect_s\":{:.3f},\"connects_per_s\":{:.1f},\"fd_limit\":{},"
                          "\"hold_s\":{},\"gen_cpu_s\":{:.3f},\"gen_wall_s\":{:.3f},\"error\":{}}}",
                          json_string(o.label), client::to_string(o.transport), r.requested, r.connected, r.failed, r.dropped, r.connect_s, r.rate(),
                          r.fd_limit, o.hold, r.self.cpu_s, r.self.wall_s, json_string(r.first_error))
                  .c_str());
    std::fflush(stdout);
    return;
  }
  std::string t;
  t += fmt::format("hermod-cli bench conns: {} connections requested over {}, {} source addresses, fd limit {}{}\n",
                   r.requested, client::to_string(o.transport), o.sources, r.fd_limit, o.label.empty() ? "" : "  [" + o.label + "]");
  t += fmt::format("  connected   {:>10}   in {:.2f} s ({:.0f} connections/s)\n", r.connected, r.connect_s, r.rate());
  t += fmt::format("  failed      {:>10}   {}\n", r.failed, r.first_error);
  t += fmt::format("  dropped     {:>10}   closed by the broker while held {:.1f} s\n", r.dropped, o.hold);
  t += fmt::format("  generator   {:.2f} s CPU over {:.2f} s\n", r.self.cpu_s, r.self.wall_s);
  std::fputs(t.c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace hermod::cli::bench
