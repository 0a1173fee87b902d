// The broker: configuration, the workers, their listeners, and the Services every worker shares
// (the clock, who may connect, the session directory, retained messages, the connection count).
// Builds the workers and wires their replicas and deliveries together. Built and started on the
// main thread; stop() and reload() are called from the main thread (on SIGINT/SIGTERM and SIGHUP).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "broker/auth/authenticator.hpp"
#include "broker/auth/check_pool.hpp"
#include "broker/config/config.hpp"
#include "broker/listeners.hpp"
#include "broker/protocol/context.hpp"
#include "broker/routing/retained.hpp"
#include "broker/session/session_directory.hpp"
#include "broker/store/store.hpp"
#include "broker/sys_topics.hpp"
#include "broker/worker.hpp"

namespace hermod::broker {

class Broker {
 public:
  // Parts a test replaces (each must outlive the broker); null: the broker's own.
  struct Overrides {
    const Clock* clock = nullptr;
    RetainedStore* retained = nullptr;
  };
  explicit Broker(Config config) : Broker(std::move(config), Overrides{}) {}
  Broker(Config config, Overrides overrides);
  ~Broker();

  // Reads the password file (when one is configured), opens the store and recovers its state
  // (when a data directory is set): everything but the threads and listeners, so a unit test can
  // drive the workers' io_contexts from its own thread. Throws as start(). Runs once.
  void prepare();
  // prepare(), then opens every listener on every worker (SO_REUSEPORT) and starts the worker
  // threads. Throws ConfigError for a bad password file, store::StoreError for a store that
  // cannot be used, std::runtime_error naming the listener when a bind fails.
  void start();
  // SIGHUP: reads the configuration file, the password file, the ACL file and the TLS
  // listeners' files again. Each part that fails to load keeps its previous rules in force (one
  // log line naming file and line), so a reload never opens what was closed. Connected clients
  // are checked against the new rules at their next action (Policy). Returns what did not load
  // (file, line and reason each; empty: everything did).
  std::vector<std::string> reload();
  // The file check (broker.file_check_interval): reloads each TLS listener whose files changed,
  // and everything else as reload() does when the configuration, password or ACL file changed.
  void reload_changed_files();
  const Policy& policy() const { return *policy_.current(); }
  // The policy in force, for threads other than the main one (a reload may replace it meanwhile).
  std::shared_ptr<const Policy> policy_snapshot() const { return policy_.current(); }
  // The broker-wide table of failed logins per address group (the admin API lists and lifts).
  LoginThrottle& logins() { return logins_; }
  // Every listener is open and the store recovered; false again once stop() began (/readyz).
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  // Closes listeners and connections, lets the workers finish, joins them.
  void stop();

  const Config& config() const { return config_; }
  std::uint32_t worker_count() const { return static_cast<std::uint32_t>(workers_.size()); }
  Worker& worker(std::uint32_t i) { return *workers_[i]; }
  const Services& services() const { return services_; }
  Clock::time_point started_at() const { return started_at_; }
  BrokerTotals totals() const;
  // The ports actually bound, one per configured listener (differs from config when port 0).
  const std::vector<std::uint16_t>& bound_ports() const { return bound_ports_; }

 private:
  void open_store();
  // Rebuilds sessions, subscriptions, queues and retained messages from the store.
  void recover();

  // Members are destroyed in reverse order: the workers (and the connections they own) before the
  // shared state they use, and the $SYS timer before the worker it runs on. The password-check
  // pool is reset in ~Broker() before anything else: its last verdicts are posted to workers
  // that must still exist.
  Config config_;
  SteadyClock steady_clock_;
  const Clock& clock_;
  auth::Authenticator auth_;
  LocalRetainedStore local_retained_;
  RetainedStore& retained_;
  LocalSessionDirectory directory_;
  std::atomic<std::uint64_t> connections_{0};
  MemoryBudget memory_;
  std::unique_ptr<auth::CheckPool> checks_;
  PolicyHolder policy_;
  std::uint64_t policy_generation_ = 1;
  // Outlive the workers: a connection's admission slot is released when it is destroyed, and a
  // hand-off dropped at shutdown destroys its slot with it.
  AdmissionTable admission_;
  LoginThrottle logins_;
  RefusalLogs refusals_;
  Services services_;
  Clock::time_point started_at_;
  std::vector<std::uint16_t> bound_ports_;
  std::vector<std::unique_ptr<Listener>> listeners_;  // outlive the workers that accept on them
  std::unique_ptr<store::Store> store_;
  // The wiring between workers: each worker's parts by index, and their io_contexts.
  std::vector<Worker*> peers_;
  std::vector<RouteIndex*> route_indexes_;
  std::vector<Delivery*> deliveries_;
  std::vector<boost::asio::io_context*> loops_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<SysTopics> sys_;
  // Reads the configuration, password and ACL files again and gives every worker the new policy.
  void reload_policy(std::vector<std::string>& problems);
  // The files reload_policy() reads, each with its modification time and size (the file check).
  std::vector<std::pair<std::string, std::string>> file_stamps(const Config& c) const;
  std::vector<std::pair<std::string, std::string>> watched_;
  std::atomic<bool> ready_{false};
  // reload() and reload_changed_files() may come from the main thread (signals, the file
  // check) and from the HTTP server's (the admin API): one at a time.
  std::mutex reload_mutex_;
  bool prepared_ = false;
  bool started_ = false;
};

}  // namespace hermod::broker
