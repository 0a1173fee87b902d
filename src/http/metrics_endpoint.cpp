#include "http/metrics_endpoint.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <memory>

#include "broker/broker.hpp"
#include "broker/metrics/worker_stats.hpp"
#include "http/prometheus_text.hpp"

namespace hermod::http {

namespace {

using broker::DropReason;
using broker::LatencyHistogram;
using broker::WorkerStats;

constexpr std::array<std::string_view, 3> kQos{"0", "1", "2"};
constexpr std::array<std::string_view, 3> kProtocols{"3.1", "3.1.1", "5.0"};

// Resident set size from /proc/self/statm (pages), 0 where it cannot be read.
std::uint64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? static_cast<std::uint64_t>(resident) * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

double cpu_seconds() {
  rusage u{};
  if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

// Sums one counter over every worker.
template <typename Get>
std::uint64_t sum(broker::Broker& b, Get get) {
  std::uint64_t n = 0;
  for (std::uint32_t w = 0; w < b.worker_count(); ++w) n += get(b.worker(w).stats());
  return n;
}

}  // namespace

std::string metrics_text(broker::Broker& b, const std::vector<broker::admin::SessionCounts>& sessions) {
  PrometheusText out;
  const auto totals = b.totals();
  const auto& config = b.config();

  out.family("hermod_build_info", "gauge", "Always 1; the version in a label");
  out.sample("hermod_build_info", {{"version", HERMOD_VERSION}}, std::uint64_t{1});
  out.family("hermod_start_time_seconds", "gauge", "When the broker started, Unix seconds");
  {
    const auto up = b.services().clock.now() - b.started_at();
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    out.sample("hermod_start_time_seconds", {}, std::chrono::duration<double>(now - up).count());
  }
  out.single("process_cpu_seconds_total", "counter", "User and system CPU time of the broker process", cpu_seconds());
  out.single("process_resident_memory_bytes", "gauge", "Resident memory of the broker process", resident_bytes());

  // Connections, per listener and protocol version.
  out.family("hermod_connections", "gauge", "Connections past CONNACK, by listener and protocol version");
  for (std::size_t l = 0; l < config.listeners.size(); ++l) {
    const std::string name = config.listeners[l].name();
    for (std::size_t v = 0; v < kProtocols.size(); ++v) {
      const auto n = sum(b, [&](WorkerStats& s) { return s.listener(l) ? s.listener(l)->connected[v].get() : 0; });
      out.sample("hermod_connections", {{"listener", name}, {"protocol", kProtocols[v]}}, n);
    }
  }
  out.family("hermod_connections_accepted_total", "counter",
             "Connections accepted and past the listener's address checks, by listener");
  for (std::size_t l = 0; l < config.listeners.size(); ++l) {
    const auto n = sum(b, [&](WorkerStats& s) { return s.listener(l) ? s.listener(l)->accepted.get() : 0; });
    out.sample("hermod_connections_accepted_total", {{"listener", config.listeners[l].name()}}, n);
  }
  out.family("hermod_connections_refused_total", "counter",
             "Connections closed as they were accepted, or CONNECTs refused by a ban, by reason");
  out.sample("hermod_connections_refused_total", {{"reason", "address_denied"}}, totals.connections_refused_denied);
  out.sample("hermod_connections_refused_total", {{"reason", "listener_full"}}, totals.connections_refused_listener_full);
  out.sample("hermod_connections_refused_total", {{"reason", "address_full"}}, totals.connections_refused_address_full);
  out.sample("hermod_connections_refused_total", {{"reason", "connect_rate"}}, totals.connections_refused_connect_rate);
  out.sample("hermod_connections_refused_total", {{"reason", "untrusted_proxy"}}, totals.connections_refused_proxy);
  out.sample("hermod_connections_refused_total", {{"reason", "flapping_ban"}}, totals.connects_banned);
  out.family("hermod_logins_total", "counter", "CONNECTs with credentials, by result");
  out.sample("hermod_logins_total", {{"result", "success"}}, sum(b, [](WorkerStats& s) { return s.logins_succeeded.get(); }));
  out.sample("hermod_logins_total", {{"result", "failure"}}, sum(b, [](WorkerStats& s) { return s.logins_failed.get(); }));
  out.single("hermod_login_delays_total", "counter",
             "Failed logins whose answer was held (limits.login_failure_delay_ms)", totals.logins_delayed);
  out.single("hermod_flapping_bans_total", "counter", "Client ids banned for reconnecting in a tight loop",
             totals.flapping_bans);

  // Traffic.
  auto by_qos = [&](std::string_view name, std::string_view help, auto get) {
    out.family(name, "counter", help);
    for (std::size_t q = 0; q < kQos.size(); ++q) out.sample(name, {{"qos", kQos[q]}}, sum(b, [&](WorkerStats& s) { return get(s, q); }));
  };
  by_qos("hermod_messages_received_total", "PUBLISH packets from clients, by QoS",
         [](WorkerStats& s, std::size_t q) { return s.received.messages[q].get(); });
  by_qos("hermod_messages_sent_total", "PUBLISH packets to clients, by QoS",
         [](WorkerStats& s, std::size_t q) { return s.sent.messages[q].get(); });
  by_qos("hermod_payload_received_bytes_total", "Payload bytes of PUBLISH packets from clients, by QoS",
         [](WorkerStats& s, std::size_t q) { return s.received.payload_bytes[q].get(); });
  by_qos("hermod_payload_sent_bytes_total", "Payload bytes of PUBLISH packets to clients, by QoS",
         [](WorkerStats& s, std::size_t q) { return s.sent.payload_bytes[q].get(); });
  out.single("hermod_network_received_bytes_total", "counter", "Bytes read from clients' connections",
             totals.bytes_received);
  out.single("hermod_network_sent_bytes_total", "counter", "Bytes written to clients' connections",
             totals.bytes_sent);
  out.family("hermod_messages_dropped_total", "counter", "Messages not delivered or PUBLISHes not routed, by reason");
  for (std::size_t r = 0; r < broker::kDropReasons; ++r) {
    out.sample("hermod_messages_dropped_total", {{"reason", broker::to_string(static_cast<DropReason>(r))}},
               sum(b, [&](WorkerStats& s) { return s.dropped[r].get(); }));
  }
  out.single("hermod_subscriptions_refused_total", "counter", "SUBSCRIBE filters the ACL did not allow",
             totals.subscriptions_refused_acl);
  out.single("hermod_publishes_rate_limited_total", "counter",
             "PUBLISHes refused (MQTT 5 0x96/0x97) or slowed by message_rate/byte_rate", totals.publishes_rate_limited);

  // State.
  out.single("hermod_retained_messages", "gauge", "Retained messages", totals.retained);
  out.single("hermod_subscriptions", "gauge", "Subscriptions of all sessions", totals.subscriptions);
  broker::admin::SessionCounts all;
  for (const auto& s : sessions) {
    all.online += s.online;
    all.offline += s.offline;
    all.queued += s.queued;
    all.inflight += s.inflight;
  }
  out.family("hermod_sessions", "gauge", "Sessions, by whether their client is connected");
  out.sample("hermod_sessions", {{"state", "online"}}, all.online);
  out.sample("hermod_sessions", {{"state", "offline"}}, all.offline);
  out.single("hermod_queued_messages", "gauge", "Messages waiting in session queues", all.queued);
  out.single("hermod_inflight_messages", "gauge", "QoS 1/2 messages sent to clients and not yet acknowledged",
             all.inflight);

  // Memory budget.
  out.single("hermod_memory_budget_bytes", "gauge", "The memory budget (limits.memory_budget); 0: off",
             totals.memory_budget);
  out.single("hermod_memory_used_bytes", "gauge", "Bytes counted against the memory budget", totals.memory_used);
  out.single("hermod_memory_budget_exceeded_total", "counter", "Times a worker saw the budget exceeded",
             totals.memory_exceeded);
  out.single("hermod_memory_reads_paused_total", "counter", "Times a publisher's reading was paused for the budget",
             totals.memory_reads_paused);

  // The store's group commits, and the workers.
  std::array<double, LatencyHistogram::kBoundsUs.size()> bounds{};
  for (std::size_t i = 0; i < bounds.size(); ++i) bounds[i] = static_cast<double>(LatencyHistogram::kBoundsUs[i]) / 1e6;
  out.family("hermod_store_commit_duration_seconds", "histogram",
             "Group commits of the store at the end of a worker's turn, by how long they took");
  std::array<std::uint64_t, LatencyHistogram::kBuckets> counts{};
  std::uint64_t sum_us = 0;
  for (std::uint32_t w = 0; w < b.worker_count(); ++w) {
    const auto& h = b.worker(w).stats().store_commits;
    for (std::size_t i = 0; i < counts.size(); ++i) counts[i] += h.bucket(i);
    sum_us += h.sum_us();
  }
  out.histogram("hermod_store_commit_duration_seconds", {}, bounds, counts, static_cast<double>(sum_us) / 1e6);

  out.family("hermod_worker_connections", "gauge", "Connections past CONNACK, by worker thread");
  for (std::uint32_t w = 0; w < b.worker_count(); ++w) {
    out.sample("hermod_worker_connections", {{"worker", std::to_string(w)}}, b.worker(w).stats().clients_connected.get());
  }
  out.family("hermod_worker_event_loop_lag_seconds", "gauge",
             "How late the worker's last 250 ms timer ran: time its thread was busy with other work");
  for (std::uint32_t w = 0; w < b.worker_count(); ++w) {
    out.sample("hermod_worker_event_loop_lag_seconds", {{"worker", std::to_string(w)}},
               static_cast<double>(b.worker(w).stats().loop_lag_us.get()) / 1e6);
  }
  return out.take();
}

void add_metrics_route(Router& router, broker::Broker& broker, broker::admin::Admin& admin) {
  router.add("GET", "/metrics", Access::metrics, [&broker, &admin](const Request&, Reply reply) {
    admin.session_counts([&broker, r = share(reply)](std::vector<broker::admin::SessionCounts> sessions) {
      Response res;
      res.content_type = std::string(PrometheusText::kContentType);
      res.body = metrics_text(broker, sessions);
      (*r)(std::move(res));
    });
  });
}

}  // namespace hermod::http
