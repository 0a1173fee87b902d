// hermod-cli bench: the load generator. Parses the scenario and its options, raises the fd limit,
// runs the scenario and prints the result. Exit codes: 0 the run completed and every check
// passed, 1 the run could not be completed (bad options, connection or setup failure), 2 the
// run completed but a check failed (lost, duplicated, reordered, misrouted, corrupt, wrong QoS,
// unacknowledged messages, or failed connections).
#include <sys/resource.h>

#include <csignal>
#include <optional>
#include <cstdio>
#include <stdexcept>

#include <CLI/CLI.hpp>

#include "bench/bench_options.hpp"
#include "bench/bench_report.hpp"
#include "bench/idle_connections.hpp"
#include "bench/traffic_run.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "transport_args.hpp"

namespace hermod::cli {

namespace {

using bench::BenchOptions;
using bench::Scenario;

// Every idle connection is a descriptor: take the hard limit.
void raise_fd_limit() {
  rlimit l{};
  if (getrlimit(RLIMIT_NOFILE, &l) == 0 && l.rlim_cur < l.rlim_max) {
    l.rlim_cur = l.rlim_max;
    setrlimit(RLIMIT_NOFILE, &l);
  }
}

void add_options(CLI::App& app, BenchOptions& o, std::string& protocol, TransportArgs& transport) {
  app.add_option("-h,--host", o.host, "broker host (default 127.0.0.1)");
  app.add_option("-p,--port", o.port, "broker port (default 1883; 8883 with TLS)")->check(CLI::Range(1, 65535));
  add_transport_options(app, transport,
                        "Every connection of the run uses this transport; ws(s): the path is the WebSocket path "
                        "(default /mqtt); mqtt(s): no path (the bench picks its own topics).");
  app.add_option("-V,--protocol-version", protocol, "MQTT version: 311 or 5 (default 311)")
      ->check(CLI::IsMember({"31", "311", "5", "mqttv31", "mqttv311", "mqttv5"}));
  app.add_option("--threads", o.threads, "event loops, one thread each (default 1)")->check(CLI::Range(1u, 256u));
  app.add_option("-d,--duration", o.duration, "seconds of publishing (default 5)")->check(CLI::Range(0.1, 3600.0));
  app.add_option("-C,--count", o.count, "messages per publisher; the run also stops at --duration (default: no count)");
  app.add_option("--drain", o.drain, "seconds to wait for the last deliveries after publishing stops (default 3)")
      ->check(CLI::Range(0.0, 600.0));
  app.add_option("--setup-timeout", o.setup_timeout, "seconds to connect and subscribe everything (default 20)")
      ->check(CLI::Range(0.1, 3600.0));
  app.add_option("-q,--qos", o.qos, "QoS of publications and subscriptions (default 0)")->check(CLI::Range(0, 2));
  app.add_option("-s,--size", o.size, "payload bytes, at least 24 (default 64)")->check(CLI::Range(24, 16 << 20));
  app.add_option("-w,--window", o.window,
                 "per publisher: messages sent and not yet delivered or acknowledged (default 256; latency 100000)")
      ->check(CLI::Range(1u, 10'000'000u));
  app.add_option("-r,--rate", o.rate, "messages/s over all publishers; 0: as fast as the window allows (latency: 10000)")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("-n,--clients", o.clients,
                 "pairs (pairs, latency), subscribers (fanout), publishers (fanin) (default 16; latency 1; fanout and "
                 "fanin 100)")
      ->check(CLI::Range(1u, 1'000'000u));
  app.add_option("-k,--keepalive", o.keepalive, "keep alive in seconds sent in CONNECT (default 600)");
  app.add_flag("--persistent", o.persistent,
               "subscribers use persistent sessions (3.1.1 clean session 0, MQTT 5 session expiry 300 s), so "
               "a broker with a store writes QoS 1/2 deliveries to disk before acknowledging");
  app.add_flag("--json", o.json, "one JSON object per line instead of the table");
  app.add_option("--label", o.label, "free text copied into the output (e.g. the broker's name)");
  app.add_option("-N,--connections", o.connections, "conns: connections to open (capped by the fd limit; default 1000)");
  app.add_option("--sources", o.sources, "conns: source addresses 127.0.0.2 ... (default 8)")->check(CLI::Range(1u, 250u));
  app.add_option("--connect-concurrency", o.connect_concurrency, "conns: handshakes in progress at once (default 256)")
      ->check(CLI::Range(1u, 100'000u));
  app.add_option("--hold", o.hold, "conns: seconds to hold the connections once all are up (default 5)")
      ->check(CLI::Range(0.0, 3600.0));
}

// -L and the TLS flags: the transport of every connection, and the address.
void apply_transport(const CLI::App& app, const TransportArgs& t, BenchOptions& o) {
  const std::optional<std::string> host = app.count("--host") ? std::optional<std::string>(o.host) : std::nullopt;
  const std::optional<int> port = app.count("--port") ? std::optional<int>(o.port) : std::nullopt;
  const Endpoint e = resolve_endpoint(t, host, port, o.host);
  if (e.topic) throw std::invalid_argument("bench picks its own topics: the -L URL takes no path for mqtt(s)");
  if (e.username || e.password) throw std::invalid_argument("bench connects anonymously: the -L URL takes no credentials");
  o.transport = e.transport;
  o.host = e.host;
  o.port = e.port;
  o.ws_path = e.ws_path;
  o.tls = e.tls;
}

// Defaults that depend on the scenario, for options the user did not give.
void apply_scenario_defaults(const CLI::App& app, BenchOptions& o) {
  const bool clients_given = app.count("--clients") > 0;
  const bool window_given = app.count("--window") > 0;
  const bool rate_given = app.count("--rate") > 0;
  if (o.scenario == Scenario::latency) {
    if (!clients_given) o.clients = 1;
    if (!rate_given) o.rate = 10'000;
    // Open loop: the window is only a safety bound, so a slow broker shows up as latency
    // instead of slowing the offered rate down.
    if (!window_given) o.window = 100'000;
  }
  if ((o.scenario == Scenario::fanout || o.scenario == Scenario::fanin) && !clients_given) o.clients = 100;
}

int run(const BenchOptions& o) {
  if (o.scenario == Scenario::conns) {
    const auto r = bench::run_conns(o);
    bench::print_conns(o, r);
    if (r.connected == 0) return 1;
    return (r.failed > 0 || r.dropped > 0) ? 2 : 0;
  }
  const auto r = bench::run_traffic(o);
  bench::print_traffic(o, r);
  if (r.sent == 0 && !r.error.empty()) return 1;
  const bool problems = r.lost || r.duplicated || r.reordered || r.misrouted || r.corrupt || r.wrong_qos ||
                        r.unacked || !r.error.empty();
  return problems ? 2 : 0;
}

}  // namespace

int run_bench(std::vector<std::string> args) {
  BenchOptions o;
  TransportArgs transport;
  std::string scenario;
  std::string protocol = "311";
  CLI::App app{
      "Load generator: measures an MQTT broker (any broker) with checked traffic.\n"
      "Scenarios:\n"
      "  pairs    N publisher->subscriber pairs on distinct topics: delivered msg/s\n"
      "  fanout   1 publisher, N subscribers of one topic: deliveries/s\n"
      "  fanin    N publishers, 1 subscriber of a wildcard: deliveries/s\n"
      "  latency  N pairs at a fixed total rate: end-to-end latency percentiles\n"
      "  conns    N idle connections: connect rate, then held for memory sampling\n"
      "Transport (every connection of the run): TCP by default; TLS with --cafile, --capath or --cert\n"
      "(or -L mqtts://host:port); WebSocket with -L ws://host:port/path, over TLS with -L wss://...",
      "hermod-cli bench"};
  app.set_help_flag("--help", "print this help and exit");
  app.add_option("scenario", scenario, "pairs | fanout | fanin | latency | conns")
      ->required()
      ->check(CLI::IsMember({"pairs", "fanout", "fanin", "latency", "conns"}));
  add_options(app, o, protocol, transport);
  try {
    parse_args(app, std::move(args));
    o.version = parse_protocol(protocol);
    apply_transport(app, transport, o);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "Error: %s\n", e.what());
    return 1;
  }
  if (scenario == "pairs") o.scenario = Scenario::pairs;
  if (scenario == "fanout") o.scenario = Scenario::fanout;
  if (scenario == "fanin") o.scenario = Scenario::fanin;
  if (scenario == "latency") o.scenario = Scenario::latency;
  if (scenario == "conns") o.scenario = Scenario::conns;
  apply_scenario_defaults(app, o);

  std::signal(SIGPIPE, SIG_IGN);  // a broker that closes on us is reported, not fatal
  raise_fd_limit();
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hermod-cli bench: %s\n", e.what());
    return 1;
  }
}

}  // namespace hermod::cli
