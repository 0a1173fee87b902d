// The topic index: a trie over topic levels with '+' and '#' as ordinary child keys. Shared
// subscriptions ("$share/group/filter") sit at their filter's node as groups; a match yields one
// member of each group, in turn (round robin per replica). Each worker
// holds its own replica and changes it only on its own thread, so matching a PUBLISH takes no
// lock; subscription changes reach every replica as posted messages (see Worker).
// Matching costs grow with the topic's depth and the wildcard branches taken, not with the number
// of subscriptions; subscribe and unsubscribe cost O(depth), also on a filter with thousands of
// subscribers. Single-threaded: one owner thread.
//
// Layout, for few cache misses at millions of subscriptions: the edges of the whole trie live in
// one hash table keyed by a hash of the node's path (each level's hash folded in from the root),
// so a step down costs one probe of a 16-byte slot and one 64-byte node, with no per-node map.
// A slot is only a candidate: the node's parent and label confirm it. The table is split into
// segments that split in turn when full, so growing never rehashes everything at once. Nodes,
// short entry lists and the segments come from a CellArena (topic_tree.hpp), whose large chunks
// are backed by transparent huge pages where the kernel allows.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/routing/topic_tree.hpp"
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

namespace router_detail {

struct SharedGroup;

struct SubscriberRefHash {
  std::size_t operator()(const SubscriberRef& r) const {
    return static_cast<std::size_t>((r.session ^ (std::uint64_t{r.worker} << 56)) * 0x9e3779b97f4a7c15ull);
  }
};

// The subscriptions at one node (or the members of one shared group): `size` RouteEntries stored
// right after this header, in one allocation of room for `capacity`. Unordered (removal moves the
// last entry into the hole). Once the list is long, `index` maps each subscriber to its position,
// so finding one on a topic with thousands of subscribers does not scan them.
struct EntryList {
  std::uint32_t size = 0;
  std::uint32_t capacity = 0;
  std::unordered_map<SubscriberRef, std::uint32_t, SubscriberRefHash>* index = nullptr;
  std::vector<std::unique_ptr<SharedGroup>>* groups = nullptr;  // a node's shared groups; or null

  RouteEntry* begin() { return reinterpret_cast<RouteEntry*>(this + 1); }
  RouteEntry* end() { return begin() + size; }
  const RouteEntry* begin() const { return reinterpret_cast<const RouteEntry*>(this + 1); }
  const RouteEntry* end() const { return begin() + size; }
};

struct SharedGroup {
  std::string shared_filter;  // "$share/group/filter", the key sessions know it by
  EntryList* members = nullptr;  // never empty while the group exists
  std::size_t next = 0;          // round robin
};

// One topic level. Exactly one cache line: what a match reads of a node (its parent and label to
// confirm a table hit, the wildcard children, the entries pointer) costs one miss at most.
struct Node {
  static constexpr std::size_t kInlineLabel = 26;

  Node* parent = nullptr;
  Node* plus = nullptr;          // child "+", cached
  Node* hash = nullptr;          // child "#", cached
  EntryList* entries = nullptr;  // null while no subscription ends here
  std::uint32_t children = 0;    // child nodes, "+" and "#" included
  std::uint16_t label_size = 0;  // a level is at most 65535 bytes (a topic is)
  char label_[kInlineLabel];     // the label if it fits, else a pointer to it on the heap

  std::string_view label() const;
  bool has_plain_children() const { return children > (plus ? 1u : 0u) + (hash ? 1u : 0u); }
};

// A slot of the node table: the hash of the node's path, and the node (null: empty slot).
struct Slot {
  std::uint64_t path = 0;
  Node* node = nullptr;
};

// A part of the node table: open addressing with linear probing among `mask + 1` slots, at most
// half full. The table is a directory of segments indexed by the top bits of a path hash
// (extendible hashing): a full segment splits in two, so growing moves one segment's slots, never
// the whole table's (a worker thread must not stall for a million moves).
struct Segment {
  Slot* slots = nullptr;
  std::size_t mask = 0;
  std::size_t count = 0;  // occupied slots
  unsigned depth = 0;     // leading path-hash bits shared by all its slots
};

}  // namespace router_detail

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
  // The pointers stay valid until the next subscribe or unsubscribe on this router.
  void match(std::string_view topic, std::vector<const RouteEntry*>& out);

  // A member of the shared subscription `shared_filter` other than `not_this`, if there is one.
  // Valid until the next subscribe or unsubscribe.
  const RouteEntry* pick_shared(std::string_view shared_filter, SubscriberRef not_this);

  std::size_t size() const { return size_; }

 private:
  using Node = router_detail::Node;
  using Slot = router_detail::Slot;
  using Segment = router_detail::Segment;
  using EntryList = router_detail::EntryList;

  struct Level {
    std::string_view name;
    std::uint64_t hash;
  };
  struct Reached {  // a node of the match frontier and the hash of the path that led to it
    const Node* node;
    std::uint64_t path;
  };

  std::uint64_t level_hash(std::string_view level) const;
  void split_levels(std::string_view s);  // into levels_, hashed
  Segment& segment_of(std::uint64_t path) const { return *directory_[(path >> 1) >> shift_]; }
  // The child of `parent` whose path hashes to `path` and whose label is `level`; or null.
  Node* find_child(const Node* parent, std::uint64_t path, std::string_view level) const;
  Node* add_child(Node* parent, std::uint64_t path, std::string_view level);
  void remove_node(Node* node, std::uint64_t path);
  Slot* new_slots(std::size_t capacity);  // zeroed
  void grow(Segment& s);
  void rehash(Segment& s, std::size_t capacity);
  void split(Segment& s);
  // The node of a plain filter, with itself and its ancestors in `path_` (root excluded); null
  // if the filter has no node.
  Node* find_node(std::string_view filter);
  EntryList* new_list(std::uint32_t capacity);
  void free_list(EntryList* list);
  void resize(EntryList*& list, std::uint32_t capacity);
  bool put(EntryList*& list, const RouteEntry& entry, const std::string* key);
  bool erase(EntryList*& list, SubscriberRef who);
  void add_entries(const Node* node, std::vector<const RouteEntry*>& out);
  void release(Node* node);
  // The nodes whose entries match `topic`, in match order, into `out`.
  void match_nodes(std::string_view topic, std::vector<const Node*>& out);

  CellArena arena_;             // nodes, short entry lists, table segments
  std::uint64_t seed_;          // per replica, so clients cannot aim topics at one table slot
  std::uint64_t plus_hash_;     // level_hash("+")
  Node* root_;                  // not in the table; its path hash is seed_
  std::vector<std::unique_ptr<Segment>> segments_;
  std::vector<Segment*> directory_;  // 2^depth entries; a segment of depth d fills 2^(depth-d)
  unsigned shift_ = 63;         // 63 - directory depth (see segment_of)
  std::size_t size_ = 0;
  std::vector<Level> levels_;   // scratch, reused to avoid allocation
  std::vector<Reached> frontier_;
  std::vector<Reached> next_;
  std::vector<std::pair<Node*, std::uint64_t>> path_;

  // The nodes a recent topic matched, so a topic published again and again (a device's own
  // topic) is matched with one hash and one comparison. Direct-mapped by the topic's hash; every
  // subscribe and unsubscribe starts a new generation, which invalidates all slots.
  struct CachedMatch {
    std::uint64_t generation = 0;  // 0: empty
    std::uint64_t hash = 0;
    std::string topic;
    std::vector<const Node*> nodes;
  };
  static constexpr std::size_t kCacheSlots = 256;
  std::unique_ptr<CachedMatch[]> cache_;  // allocated on the first match
  std::uint64_t generation_ = 1;
};

}  // namespace hermod::broker
