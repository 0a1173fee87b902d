// The statistics one worker keeps: plain counters, each written only by its worker's thread and
// read by any (for $SYS, the admin API and Prometheus metrics), summed across workers on request.
// Nothing here takes a lock or a locked instruction: see base/counter.hpp.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "base/counter.hpp"
#include "broker/metrics/latency_histogram.hpp"

namespace hermod::broker {

// Why a message was not delivered (or, for a PUBLISH, not routed). Each has its own counter;
// their sum is $SYS/broker/messages/dropped.
enum class DropReason : std::uint8_t {
  queue_full,      // a session's queue at max_queued_messages / max_queued_bytes
  write_buffer,    // QoS 0 to a connection whose unsent bytes passed limits.max_write_buffer
  memory_budget,   // QoS 0 to a stalled subscriber while over the memory budget
  expired,         // MQTT 5 message expiry passed before it could be sent
  too_large,       // larger than the client's Maximum Packet Size [MQTT-3.1.2-25]
  offline,         // for a session without a connection that does not queue it (QoS 0, clean)
  not_authorized,  // the ACL or the '$' rule refused the PUBLISH or its delivery
  rate_limit,      // a PUBLISH beyond the client's message_rate / byte_rate (MQTT 5 QoS 1/2)
  topic_limits,    // a PUBLISH whose topic passed max_topic_length / max_topic_depth
  closed,          // the connection closed while it was being sent
};
inline constexpr std::size_t kDropReasons = 10;
inline std::string_view to_string(DropReason r) {
  constexpr std::array<std::string_view, kDropReasons> names{
      "queue_full", "write_buffer", "memory_budget", "expired", "too_large",
      "offline",    "not_authorized", "rate_limit", "topic_limits", "closed"};
  return names[static_cast<std::size_t>(r)];
}

// PUBLISH packets and their payload bytes in one direction, by QoS.
struct TrafficByQos {
  std::array<Counter, 3> messages;
  std::array<Counter, 3> payload_bytes;
  void count(std::uint8_t qos, std::size_t payload) {
    const std::size_t q = qos < 3 ? qos : 2;
    messages[q].add();
    payload_bytes[q].add(payload);
  }
  std::uint64_t total() const { return messages[0].get() + messages[1].get() + messages[2].get(); }
};

// One listener's connections on one worker.
struct ListenerStats {
  Counter accepted;                 // accepted and past the listener's checks
  std::array<Counter, 3> connected;  // gauge: past CONNACK, by protocol 3.1, 3.1.1, 5
  static std::size_t version_index(std::uint8_t protocol_level) {
    return protocol_level <= 3 ? 0 : protocol_level == 4 ? 1 : 2;
  }
};

// Per-worker statistics; each written only by its worker's thread.
struct WorkerStats {
  // Sized once, before the worker runs (the listeners do not change while it does).
  void set_listeners(std::size_t n) {
    listeners = std::make_unique<ListenerStats[]>(n);
    listener_count = n;
  }
  ListenerStats* listener(std::size_t index) { return index < listener_count ? &listeners[index] : nullptr; }

  void drop(DropReason r) { dropped[static_cast<std::size_t>(r)].add(); }
  std::uint64_t dropped_for(DropReason r) const { return dropped[static_cast<std::size_t>(r)].get(); }
  std::uint64_t dropped_total() const {
    std::uint64_t n = 0;
    for (const auto& c : dropped) n += c.get();
    return n;
  }

  Counter clients_connected;   // gauge: connections past CONNACK
  TrafficByQos received;       // PUBLISH packets from clients
  TrafficByQos sent;           // PUBLISH packets to clients
  Counter bytes_received;      // every byte read from / written to clients' streams
  Counter bytes_sent;
  std::array<Counter, kDropReasons> dropped;  // by DropReason
  std::unique_ptr<ListenerStats[]> listeners;
  std::size_t listener_count = 0;
  Counter logins_succeeded;    // CONNECTs with credentials (password, SCRAM, certificate) accepted
  Counter logins_failed;       // CONNECTs refused for their credentials
  LatencyHistogram store_commits;  // the group commit at the end of a turn that wrote something
  Counter loop_lag_us;         // gauge: how late the worker's last sweep timer ran, microseconds
  Counter messages_refused_acl;  // PUBLISHes and deliveries the ACL did not allow (also dropped as not_authorized)
  Counter subscriptions_refused_acl;  // SUBSCRIBE filters the ACL did not allow
  Counter publishes_rate_limited;     // PUBLISHes refused (MQTT 5 0x96/0x97) or slowed by message_rate/byte_rate
  // Connections closed as they were accepted (no MQTT byte read or written), by what refused them.
  Counter connections_refused_denied;         // a listener's deny list, or not in its allow list
  Counter connections_refused_listener_full;  // a listener's max_connections
  Counter connections_refused_address_full;   // limits.max_connections_per_address
  Counter connections_refused_connect_rate;   // limits.connect_rate_per_address
  Counter connections_refused_proxy;          // a PROXY protocol listener's peer not in trusted_proxies
  Counter logins_delayed;      // failed logins whose answer was held (limits.login_failure_delay_ms)
  Counter connects_banned;     // CONNECTs refused with 0x8A / 5 by a flapping ban
  Counter flapping_bans;       // bans started (limits.flapping_connects)
  Counter subscriptions;       // gauge: subscriptions of sessions homed on this worker
  Counter sessions;            // gauge: sessions homed on this worker (connected or not)
  // The memory budget (limits/memory_budget.hpp):
  Counter memory_exceeded;     // times this worker saw the broker's queued bytes go above it
  Counter memory_reads_paused; // times a publishing connection's reading was paused for it
  Counter memory_releases;     // times freed memory was given back to the system after a fall
};

// Sums of every worker's statistics, for $SYS and metrics.
struct BrokerTotals {
  std::uint64_t clients_connected = 0;
  std::uint64_t sessions = 0;
  std::uint64_t messages_received = 0;
  std::uint64_t messages_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t messages_dropped = 0;
  std::uint64_t messages_refused_acl = 0;
  std::uint64_t subscriptions_refused_acl = 0;
  std::uint64_t publishes_rate_limited = 0;
  std::uint64_t subscriptions = 0;
  std::uint64_t retained = 0;
  std::uint64_t memory_used = 0;    // bytes counted against the memory budget, all workers
  std::uint64_t memory_budget = 0;  // 0: off
  std::uint64_t memory_exceeded = 0;
  std::uint64_t memory_reads_paused = 0;
  std::uint64_t memory_dropped = 0;
  std::uint64_t memory_releases = 0;
  std::uint64_t connections_refused_denied = 0;
  std::uint64_t connections_refused_listener_full = 0;
  std::uint64_t connections_refused_address_full = 0;
  std::uint64_t connections_refused_connect_rate = 0;
  std::uint64_t connections_refused_proxy = 0;
  std::uint64_t logins_delayed = 0;
  std::uint64_t connects_banned = 0;
  std::uint64_t flapping_bans = 0;
};

}  // namespace hermod::broker
