// The sessions one worker is home to: created, found by client id or by uid, watched while
// offline (for expiry and delayed wills), and ended. Uids are unique broker-wide and stable
// across restarts: a per-worker counter with the worker index in the low 10 bits.
// Ending a session is more than erasing it (its will, its messages, its routes): that is
// Delivery::end_session, which calls erase() last.
// Worker thread only (and the main thread during recovery, before the workers start).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "broker/metrics/worker_stats.hpp"
#include "broker/session/session.hpp"
#include "broker/session/session_directory.hpp"

namespace hermod::broker {

class SessionRegistry {
 public:
  SessionRegistry(std::uint32_t worker, const SessionDirectory& directory, WorkerStats& stats)
      : worker_(worker), directory_(directory), stats_(stats) {}
  SessionRegistry(const SessionRegistry&) = delete;
  SessionRegistry& operator=(const SessionRegistry&) = delete;

  std::uint32_t worker() const { return worker_; }

  Session* find(std::string_view client_id);
  Session* by_uid(std::uint64_t uid);
  // `uid`: 0 for a new session; a stored session's uid when recovering it.
  Session& create(const std::string& client_id, std::uint32_t expiry_interval, std::uint64_t uid = 0);
  // Removes and destroys the session. Precondition: detached, and its other state handed on.
  void erase(Session& s);
  std::size_t size() const { return sessions_.size(); }
  // Calls f(Session&) for every session, in no order. f must not create or erase sessions.
  template <typename F>
  void for_each(F&& f) const {
    for (const auto& [id, s] : sessions_) f(*s);
  }

  // Offline sessions that expire or hold a delayed will: the sweep looks only at these.
  // watch() only adds sessions that need it.
  void watch(Session& s);
  void unwatch(Session& s) { offline_watch_.erase(&s); }
  const std::unordered_set<Session*>& watched() const { return offline_watch_; }

  // A client id, unused so far, whose home is this worker (so its connection needs no hand-off).
  std::string generate_client_id();
  // Keeps new uids above `stored_id`'s (recovery).
  void raise_id_floor(std::uint64_t stored_id) { next_uid_ = std::max(next_uid_, stored_id >> 10); }

 private:
  std::uint32_t worker_;
  const SessionDirectory& directory_;
  WorkerStats& stats_;
  // Keyed by a view of the session's own client id (no second copy of every id).
  std::unordered_map<std::string_view, std::unique_ptr<Session>> sessions_;
  std::unordered_map<std::uint64_t, Session*> by_uid_;
  std::unordered_set<Session*> offline_watch_;
  std::uint64_t next_uid_ = 0;
};

}  // namespace hermod::broker
