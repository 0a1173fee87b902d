// The statistics one worker keeps: plain counters, each written only by its worker's thread and
// read by any (for $SYS and, next, Prometheus metrics), summed across workers on request.
#pragma once

#include <cstdint>

#include "base/counter.hpp"

namespace hermod::broker {

// Per-worker statistics; each written only by its worker's thread.
struct WorkerStats {
  Counter clients_connected;   // gauge: connections past CONNACK
  Counter messages_received;   // PUBLISH packets from clients
  Counter messages_sent;       // PUBLISH packets to clients
  Counter bytes_received;
  Counter bytes_sent;
  Counter messages_dropped;    // queue full, write buffer full, or QoS 0 for an offline session
  Counter messages_refused_acl;  // PUBLISHes and deliveries the ACL did not allow (also in messages_dropped for deliveries)
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
  Counter memory_dropped;      // QoS 0 to a stalled subscriber dropped for it (also in messages_dropped)
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
