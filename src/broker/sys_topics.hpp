// $SYS topics: broker statistics published as retained messages every `sys_interval` seconds,
// under the names Mosquitto uses so existing dashboards work. Runs on worker 0's thread.
#pragma once

#include <functional>

#include <boost/asio/steady_timer.hpp>

#include "base/clock.hpp"
#include "broker/metrics/worker_stats.hpp"

namespace hermod::broker {

class Worker;

class SysTopics {
 public:
  // `totals` sums every worker's statistics (any thread); uptime counts from `started_at`.
  SysTopics(std::uint32_t interval_seconds, const Clock& clock, Clock::time_point started_at,
            std::function<BrokerTotals()> totals, Worker& worker);
  // Publishes now and then every interval. Call on the worker's thread (or before it starts).
  void start();
  // On the worker's thread. A timer that had already expired still runs its handler after
  // cancel(): the flag keeps that handler from arming the timer again (it did, now and then, and
  // the worker's loop then never ran out of work: a broker that did not stop on SIGTERM).
  void stop();

 private:
  void publish_all();
  void schedule();

  std::uint32_t interval_;
  const Clock& clock_;
  Clock::time_point started_at_;
  std::function<BrokerTotals()> totals_;
  Worker& worker_;
  boost::asio::steady_timer timer_;
  bool stopped_ = false;
};

}  // namespace hermod::broker
