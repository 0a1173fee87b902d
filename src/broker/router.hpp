// The topic index: a trie over topic levels with '+' and '#' as ordinary child keys. Shared
// subscriptions ("$share/group/filter") sit at their filter's node as groups; a match yields one
// member of each group, in turn (round robin per replica). Each worker
// holds its own replica and changes it only on its own thread, so matching a PUBLISH takes no
// lock; subscription changes reach every replica as posted messages (see Worker).
// Matching costs grow with the topic's depth and the wildcard branches taken, not with the number
// of subscriptions. Single-threaded: one owner thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/string_hash.hpp"
#include "mqtt/packet.hpp"

namespace hermod::broker {

// Who a subscription belongs to: the session's home worker and its unique id there.
struct SubscriberRef {
  std::uint32_t worker = 0;
  std::uint64_t session = 0;
  bool operator==(const SubscriberRef&) const = default;
};

struct RouteEntry {
  SubscriberRef who;
  mqtt::SubscribeOptions options;
  std::uint32_t subscription_id = 0;  // MQTT 5; 0: none
  bool persistent = false;  // the session outlives its connection: QoS 1/2 deliveries are stored
  const std::string* shared_filter = nullptr;  // set by the router for shared subscriptions
};

class Router {
 public:
  Router();
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Adds or replaces `entry.who`'s subscription to `filter`. Returns true if it was new.
  // Precondition: `filter` is a valid topic filter, possibly shared.
  bool subscribe(std::string_view filter, const RouteEntry& entry);

  // Removes `who`'s subscription to `filter`; false if there was none.
  bool unsubscribe(std::string_view filter, SubscriberRef who);

  // Appends every entry whose filter matches `topic` (a valid topic name) to `out`. An entry is
  // listed once per matching filter: a subscriber with overlapping filters appears several times.
  // Of a shared group, one member is listed; the next match picks the next member.
  void match(std::string_view topic, std::vector<const RouteEntry*>& out);

  // A member of the shared subscription `shared_filter` other than `not_this`, if there is one.
  const RouteEntry* pick_shared(std::string_view shared_filter, SubscriberRef not_this);

  std::size_t size() const { return size_; }

 private:
  struct SharedGroup {
    std::string shared_filter;  // "$share/group/filter", the key sessions know it by
    std::vector<RouteEntry> members;
    std::size_t next = 0;       // round robin
  };
  struct Node {
    std::unordered_map<std::string, std::unique_ptr<Node>, StringHash, std::equal_to<>> children;
    std::vector<RouteEntry> entries;
    std::vector<std::unique_ptr<SharedGroup>> groups;
    Node* plus = nullptr;  // children["+"], cached
    Node* hash = nullptr;  // children["#"], cached
  };

  Node* find_node(std::string_view filter);
  std::unique_ptr<Node> root_;
  std::size_t size_ = 0;
  std::vector<const Node*> frontier_;  // scratch for match(), reused to avoid allocation
  std::vector<const Node*> next_;
};

}  // namespace hermod::broker
