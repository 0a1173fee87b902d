// GET /metrics: the broker's statistics in the Prometheus text format (docs/metrics.md lists
// every family). Counters and gauges are read from each worker's WorkerStats (relaxed atomic
// loads from this thread: no lock, nothing on the publish path); sessions, queued and in-flight
// messages come from one scan of each worker's sessions, posted to the workers (Admin).
#pragma once

#include <string>
#include <vector>

#include "broker/admin/admin.hpp"
#include "http/router.hpp"

namespace hermod::broker {
class Broker;
}

namespace hermod::http {

// The exposition for the statistics as they are now and the given per-worker session counts.
std::string metrics_text(broker::Broker& broker, const std::vector<broker::admin::SessionCounts>& sessions);

// Registers GET /metrics (Access::metrics: a token only when [http] metrics_auth is set).
void add_metrics_route(Router& router, broker::Broker& broker, broker::admin::Admin& admin);

}  // namespace hermod::http
