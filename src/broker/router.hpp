// The topic index: a trie over topic levels with '+' and '#' as ordinary child keys. Each worker
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
};

class Router {
 public:
  Router();
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Adds or replaces `entry.who`'s subscription to `filter`. Returns true if it was new.
  // Precondition: `filter` is a valid, non-shared topic filter.
  bool subscribe(std::string_view filter, const RouteEntry& entry);

  // Removes `who`'s subscription to `filter`; false if there was none.
  bool unsubscribe(std::string_view filter, SubscriberRef who);

  // Appends every entry whose filter matches `topic` (a valid topic name) to `out`. An entry is
  // listed once per matching filter: a subscriber with overlapping filters appears several times.
  void match(std::string_view topic, std::vector<const RouteEntry*>& out) const;

  std::size_t size() const { return size_; }

 private:
  struct Node {
    std::unordered_map<std::string, std::unique_ptr<Node>, StringHash, std::equal_to<>> children;
    std::vector<RouteEntry> entries;
    Node* plus = nullptr;  // children["+"], cached
    Node* hash = nullptr;  // children["#"], cached
  };

  std::unique_ptr<Node> root_;
  std::size_t size_ = 0;
  mutable std::vector<const Node*> frontier_;  // scratch for match(), reused to avoid allocation
  mutable std::vector<const Node*> next_;
};

}  // namespace hermod::broker
