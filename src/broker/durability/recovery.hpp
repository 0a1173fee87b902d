// Start-up recovery: rebuilds sessions, subscriptions, queued and in-flight messages, inbound
// QoS 2 ids and retained messages from the store, into every worker's parts, before the worker
// threads start (so this runs on the main thread and touches every worker's objects directly).
// Records that a crash left without their owner (a queue entry without its session or body)
// are deleted. Throws store::StoreError when the clean-up cannot be committed.
#pragma once

#include <span>
#include <string>

#include "broker/durability/session_writer.hpp"
#include "broker/limits/memory_budget.hpp"
#include "broker/metrics/worker_stats.hpp"
#include "broker/routing/retained.hpp"
#include "broker/routing/route_index.hpp"
#include "broker/session/session_directory.hpp"
#include "broker/session/session_registry.hpp"
#include "broker/store/store.hpp"

namespace hermod::broker {

// One worker's parts that recovery fills.
struct RecoveryTarget {
  SessionRegistry& sessions;
  RouteIndex& routes;
  SessionWriter& writer;
  WorkerStats& stats;
  MemoryUse& memory;  // the memory budget's count of the session queues restored
};

// `targets[i]` is worker i's. Logs a summary line.
void recover(store::Store& store, RetainedStore& retained, const SessionDirectory& directory,
             std::span<RecoveryTarget> targets);

}  // namespace hermod::broker
