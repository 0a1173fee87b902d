// The route index seam: which sessions a topic reaches. Each worker holds one RouteIndex: its own
// replica of the topic trie (matched with no lock) and its link to the other workers' replicas.
// A change (SUBSCRIBE, UNSUBSCRIBE, a session ending) is applied to this replica at once and
// posted to every other; `done` runs on this worker once every replica has applied it, so a
// SUBACK sent from `done` means a message published afterwards on any worker reaches the new
// subscription.
//
// Narrow on purpose (../shared/SCALE-OUT.md): change (add/remove filters of local sessions),
// match a topic, pick another member of a shared group. A cluster keeps these three and adds,
// beside the local replicas, routes to other nodes. The match is not virtual: it runs for every
// PUBLISH, and a cluster-aware index will be a second concrete implementation chosen at build
// time or a wrapper that adds remote routes to these entries, not a virtual call per message.
//
// Threads: every method on the owning worker's thread; connect() on the main thread before the
// workers start; apply() also during recovery (main thread, workers not running).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "broker/routing/router.hpp"

namespace hermod::broker {

// A subscription added to or removed from every replica of the topic index.
struct SubscriptionChange {
  std::string filter;
  RouteEntry entry;
  bool add = true;
};

class RouteIndex {
 public:
  explicit RouteIndex(std::uint32_t worker) : worker_(worker) {}
  RouteIndex(const RouteIndex&) = delete;
  RouteIndex& operator=(const RouteIndex&) = delete;

  // Wires the replicas together: `all[i]` is worker i's index, run by `io[i]`. The vectors must
  // outlive the index (the broker owns them).
  void connect(const std::vector<RouteIndex*>* all, const std::vector<boost::asio::io_context*>* io) {
    all_ = all;
    io_ = io;
  }

  // The entries whose filters match `topic`, appended to `out` (pointers valid until the next
  // change of this replica).
  void match(std::string_view topic, std::vector<const RouteEntry*>& out) { router_.match(topic, out); }
  // Another member of the shared group `shared_filter` than `not_this`, or null.
  const RouteEntry* pick_shared(std::string_view shared_filter, SubscriberRef not_this) {
    return router_.pick_shared(shared_filter, not_this);
  }

  // Applies `changes` to every replica, then runs `done` here.
  void change(std::vector<SubscriptionChange> changes, std::function<void()> done);
  // Applies `changes` to this replica only.
  void apply(const std::vector<SubscriptionChange>& changes);

  std::size_t size() const { return router_.size(); }

 private:
  std::uint32_t worker_;
  Router router_;
  const std::vector<RouteIndex*>* all_ = nullptr;
  const std::vector<boost::asio::io_context*>* io_ = nullptr;
};

}  // namespace hermod::broker
