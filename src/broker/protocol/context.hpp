// What a connection and its packet handlers may use, in one place instead of reaching through
// the worker: the broker-wide Services (any thread) and this worker's parts (its thread only).
// ACLs, limits, metrics, a bridge or a cluster join here, not as another chain of getters.
// Built by the worker; outlives every connection of the worker.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "broker/auth/authenticator.hpp"
#include "broker/auth/check_pool.hpp"
#include "broker/connection/link.hpp"
#include "broker/delivery/delivery.hpp"
#include "broker/durability/session_writer.hpp"
#include "broker/limits/memory_budget.hpp"
#include "broker/limits/admission_table.hpp"
#include "broker/limits/flap_guard.hpp"
#include "broker/limits/login_throttle.hpp"
#include "broker/limits/refusal_logs.hpp"
#include "broker/policy/policy.hpp"
#include "broker/routing/retained.hpp"
#include "broker/routing/route_index.hpp"
#include "broker/session/session_directory.hpp"
#include "broker/session/session_registry.hpp"
#include "mqtt/packet.hpp"
#include "net/stream.hpp"

namespace hermod::broker {

class Connection;

// Shared by every worker; each member is thread-safe or immutable.
struct Services {
  const Config& config;
  const Clock& clock;
  const auth::Authenticator& auth;
  auth::CheckPool& checks;               // slow password checks, off the worker threads
  const SessionDirectory& directory;     // which worker owns a client id
  RetainedStore& retained;
  std::atomic<std::uint64_t>& connections;  // open connections, for max_connections
  const PolicyHolder& policy;               // the reloadable rules; workers read their own copy
  MemoryBudget& memory;                     // the global memory budget's shared sum
  AdmissionTable& admission;                // connections per listener and per address, connect rates
  LoginThrottle& logins;                    // the delay after failed logins, per address
  RefusalLogs& refusals;                    // one log line per interval per kind of refusal
};

// A connection on its way to its client id's home worker, after its CONNECT.
struct HandOff {
  std::unique_ptr<net::DetachedStream> stream;
  mqtt::Connect connect;
  std::string leftover;  // bytes the client sent after the CONNECT
  const ListenerConfig* listener = nullptr;  // the listener that accepted it
  bool counted = false;  // counted in Services::connections
  AdmissionTable::Slot slot;  // its place in the listener's and address's counts
};

// What a connection needs of the worker that owns it (implemented by the worker).
class ConnectionHost {
 public:
  // The connection closed or left: drop it from the worker's registry.
  virtual void forget(Connection& c) = 0;
  // Moves a connection to worker `home`, where it continues with its CONNECT.
  virtual void hand_off(std::uint32_t home, HandOff h) = 0;
  // Runs the worker's expiry (delayed wills, sessions) at `due` rather than at the next sweep.
  virtual void wake_at(Clock::time_point due) = 0;

 protected:
  ~ConnectionHost() = default;
};

struct Context : LinkContext {
  Context(LinkContext link, const Services& s, std::uint32_t worker_index, boost::asio::io_context& loop,
          ConnectionHost& h, SessionRegistry& reg, RouteIndex& r, SessionWriter& w, AckHolds& a, Delivery& d,
          FlapGuard& f, const std::shared_ptr<const Policy>& p)
      : LinkContext(link), services(s), worker(worker_index), io(loop), host(h), sessions(reg), routes(r),
        writer(w), holds(a), delivery(d), flaps(f), policy_(p) {}

  const Services& services;
  std::uint32_t worker;  // this worker's index
  boost::asio::io_context& io;
  ConnectionHost& host;
  SessionRegistry& sessions;
  RouteIndex& routes;
  SessionWriter& writer;
  AckHolds& holds;
  Delivery& delivery;
  FlapGuard& flaps;  // the flapping bans of the client ids homed on this worker
  // The rules in force on this worker (its own copy of the pointer: no lock per message).
  const Policy& policy() const { return *policy_; }

 private:
  const std::shared_ptr<const Policy>& policy_;
};

}  // namespace hermod::broker
