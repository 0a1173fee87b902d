#include "broker/routing/router.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstring>
#include <random>
#include <type_traits>

#include "mqtt/topic.hpp"

namespace hermod::broker {

using router_detail::EntryList;
using router_detail::Node;
using router_detail::Segment;
using router_detail::SharedGroup;
using router_detail::Slot;

static_assert(sizeof(Node) == kCacheLine, "a node is one cache line");
static_assert(std::is_trivially_copyable_v<RouteEntry>, "entry lists move entries with memcpy");
static_assert(sizeof(EntryList) % alignof(RouteEntry) == 0);

namespace {

constexpr std::size_t kMinSlots = 16;
// A segment grows by doubling up to the arena's largest cell; then it splits instead. A split
// moves at most 8192 slots (some 0.1 ms), however large the table.
constexpr unsigned kSegmentBits = 14;
constexpr std::size_t kSegmentSlots = std::size_t{1} << kSegmentBits;
static_assert(kSegmentSlots * sizeof(Slot) == CellArena::cell_size(CellArena::kClasses - 1));
static_assert(kMinSlots * sizeof(Slot) >= kCacheLine);

// The arena size class of `capacity` slots (a power of two).
unsigned slots_class(std::size_t capacity) {
  return static_cast<unsigned>(std::bit_width(capacity * sizeof(Slot) / kCacheLine) - 1);
}

// A list longer than this gets an index from subscriber to position; one shorter than
// kUnindexBelow drops it (the gap keeps a list at the threshold from building it again and again).
constexpr std::uint32_t kIndexFrom = 16;
constexpr std::uint32_t kUnindexBelow = 8;

__extension__ typedef unsigned __int128 Uint128;

constexpr std::uint64_t kMulA = 0xa0761d6478bd642full;
constexpr std::uint64_t kMulB = 0xe7037ed1a0b428dbull;
constexpr std::uint64_t kMulC = 0x8ebc6af09c88c6e3ull;

// The 128-bit product with its halves folded together: one multiplication that mixes well.
std::uint64_t fold_mul(std::uint64_t a, std::uint64_t b) {
  const Uint128 r = static_cast<Uint128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}

// The path hash of a child: its parent's path hash with the child's level hash folded in.
std::uint64_t child_path(std::uint64_t parent, std::uint64_t level) {
  return fold_mul(parent ^ kMulB, level ^ kMulC);
}

// Entry list capacities: 1, 2 and 5 fill an arena cell of 64, 128 and 256 bytes; then doubling.
std::size_t list_bytes(std::uint32_t capacity) {
  return sizeof(EntryList) + std::size_t{capacity} * sizeof(RouteEntry);
}
static_assert(sizeof(EntryList) + 1 * sizeof(RouteEntry) <= CellArena::cell_size(0));
static_assert(sizeof(EntryList) + 2 * sizeof(RouteEntry) <= CellArena::cell_size(1));
static_assert(sizeof(EntryList) + 5 * sizeof(RouteEntry) <= CellArena::cell_size(2));

std::uint32_t grown(std::uint32_t capacity) {
  return capacity == 0 ? 1 : capacity == 1 ? 2 : capacity == 2 ? 5 : capacity * 2;
}

int size_class(std::uint32_t capacity) { return capacity == 1 ? 0 : capacity == 2 ? 1 : capacity == 5 ? 2 : -1; }

std::uint64_t random_seed() {
  std::random_device rd;
  return (std::uint64_t{rd()} << 32) ^ rd();
}

// Position of `who` in `list`, or list.size.
std::uint32_t position(const EntryList& list, SubscriberRef who) {
  if (list.index) {
    const auto it = list.index->find(who);
    return it == list.index->end() ? list.size : it->second;
  }
  std::uint32_t i = 0;
  while (i < list.size && !(list.begin()[i].who == who)) ++i;
  return i;
}

bool same_label(const Node& node, std::string_view level) {
  if (node.label_size != level.size()) return false;
  // Levels are short: a plain loop beats a call to memcmp.
  const char* a = node.label_size <= Node::kInlineLabel ? node.label_ : node.label().data();
  for (std::size_t i = 0; i < level.size(); ++i) {
    if (a[i] != level[i]) return false;
  }
  return true;
}

using Groups = std::vector<std::unique_ptr<SharedGroup>>;

Groups::iterator find_group(Groups& groups, std::string_view shared_filter) {
  return std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g->shared_filter == shared_filter; });
}

// Puts `slot` into the first free slot from its home; there must be one.
void place(Segment& s, Slot slot) {
  std::size_t i = slot.path & s.mask;
  while (s.slots[i].node) i = (i + 1) & s.mask;
  s.slots[i] = slot;
}

}  // namespace

namespace router_detail {

std::string_view Node::label() const {
  if (label_size <= kInlineLabel) return {label_, label_size};
  const char* heap;
  std::memcpy(&heap, label_, sizeof heap);
  return {heap, label_size};
}

}  // namespace router_detail

Router::Router() : seed_(random_seed()), plus_hash_(level_hash("+")), root_(::new (arena_.allocate(0)) Node{}) {
  segments_.push_back(std::make_unique<Segment>());
  rehash(*segments_.back(), kMinSlots);
  directory_.push_back(segments_.back().get());
}

Router::~Router() {
  // Nodes and short lists go with the arena; what they own elsewhere goes here. Not recursive:
  // a 60,000-level filter is 60,000 slots.
  for (const auto& s : segments_) {
    for (std::size_t i = 0; i <= s->mask; ++i) {
      if (s->slots[i].node) release(s->slots[i].node);
    }
  }
  release(root_);
}

// What a node owns outside the arena: its entries' index, shared groups, long entry lists and
// a long label.
void Router::release(Node* node) {
  if (EntryList* l = node->entries) {
    if (l->groups) {
      for (auto& g : *l->groups) free_list(g->members);
      delete l->groups;
    }
    free_list(l);
    node->entries = nullptr;
  }
  if (node->label_size > Node::kInlineLabel) delete[] node->label().data();
}

std::uint64_t Router::level_hash(std::string_view level) const {
  std::uint64_t h = seed_ ^ (level.size() * kMulA);
  const char* p = level.data();
  std::size_t n = level.size();
  for (; n > 8; p += 8, n -= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    h = fold_mul(h ^ w, kMulB);
  }
  // The tail byte by byte: memcpy with a variable length is a library call, and levels are short.
  std::uint64_t w = 0;
  for (std::size_t i = 0; i < n; ++i) w |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return fold_mul(h ^ w, kMulC);
}

void Router::split_levels(std::string_view s) {
  levels_.clear();
  for_each_level(s, [this](std::string_view level) { levels_.push_back({level, level_hash(level)}); });
}

// ------------------------------------------------------------------------------ node table

Node* Router::find_child(const Node* parent, std::uint64_t path, std::string_view level) const {
  const Segment& s = segment_of(path);
  for (std::size_t i = path & s.mask;; i = (i + 1) & s.mask) {
    const Slot& slot = s.slots[i];
    if (!slot.node) return nullptr;
    // Equal hashes are not proof: the node must hang from `parent` under this very label.
    if (slot.path == path && slot.node->parent == parent && same_label(*slot.node, level)) return slot.node;
  }
}

Node* Router::add_child(Node* parent, std::uint64_t path, std::string_view level) {
  assert(level.size() <= 0xffff);
  Segment* s = &segment_of(path);
  while ((s->count + 1) * 2 > s->mask + 1) {
    grow(*s);
    s = &segment_of(path);
  }
  char* heap = level.size() > Node::kInlineLabel ? new char[level.size()] : nullptr;
  Node* n = ::new (arena_.allocate(0)) Node{};
  n->parent = parent;
  n->label_size = static_cast<std::uint16_t>(level.size());
  if (heap) {
    std::memcpy(heap, level.data(), level.size());
    std::memcpy(n->label_, &heap, sizeof heap);
  } else if (!level.empty()) {
    std::memcpy(n->label_, level.data(), level.size());
  }
  place(*s, {path, n});
  ++s->count;
  ++parent->children;
  if (level == "+") parent->plus = n;
  if (level == "#") parent->hash = n;
  return n;
}

void Router::remove_node(Node* node, std::uint64_t path) {
  assert(!node->entries && node->children == 0);
  Segment& s = segment_of(path);
  std::size_t i = path & s.mask;
  while (s.slots[i].node != node) i = (i + 1) & s.mask;
  // Backward-shift deletion: later slots of the probe run move into the hole unless their home
  // lies (cyclically) after the hole, so lookups need no tombstones.
  for (std::size_t j = (i + 1) & s.mask; s.slots[j].node; j = (j + 1) & s.mask) {
    const std::size_t home = s.slots[j].path & s.mask;
    if (((j - home) & s.mask) >= ((j - i) & s.mask)) {
      s.slots[i] = s.slots[j];
      i = j;
    }
  }
  s.slots[i] = Slot{};
  --s.count;
  Node* parent = node->parent;
  --parent->children;
  if (parent->plus == node) parent->plus = nullptr;
  if (parent->hash == node) parent->hash = nullptr;
  release(node);
  node->~Node();
  arena_.deallocate(node, 0);
  // A lone segment gives memory back after a mass unsubscribe; at 1/8 load, halving cannot
  // bring growth back soon. (Split segments are not merged again.)
  if (directory_.size() == 1 && s.count * 8 < s.mask + 1 && s.mask + 1 > kMinSlots) rehash(s, (s.mask + 1) / 2);
}

void Router::grow(Segment& s) {
  if (s.mask + 1 < kSegmentSlots) {
    rehash(s, (s.mask + 1) * 2);
  } else {
    split(s);
  }
}

Slot* Router::new_slots(std::size_t capacity) {
  void* p = arena_.allocate(slots_class(capacity));
  std::memset(p, 0, capacity * sizeof(Slot));
  return static_cast<Slot*>(p);
}

void Router::rehash(Segment& s, std::size_t capacity) {
  Slot* old = s.slots;
  const std::size_t old_capacity = old ? s.mask + 1 : 0;
  s.slots = new_slots(capacity);
  s.mask = capacity - 1;
  for (std::size_t i = 0; i < old_capacity; ++i) {
    if (old[i].node) place(s, old[i]);
  }
  if (old) arena_.deallocate(old, slots_class(old_capacity));
}

// Splits a full segment of depth d into two of depth d + 1: the slots whose path hash has the
// next bit set move to the new one. Costs one segment's worth of moves, whatever the table's size.
void Router::split(Segment& s) {
  assert(s.depth + 1 + kSegmentBits <= 64);  // directory bits (top) and slot bits (bottom) apart
  if (s.depth == 63 - shift_) {
    std::vector<Segment*> doubled(directory_.size() * 2);
    for (std::size_t i = 0; i < directory_.size(); ++i) doubled[2 * i] = doubled[2 * i + 1] = directory_[i];
    directory_.swap(doubled);
    --shift_;
  }
  const unsigned bit = 63 - s.depth;  // the path-hash bit that now tells the two apart
  auto t = std::make_unique<Segment>();
  t->slots = new_slots(s.mask + 1);
  t->mask = s.mask;
  t->depth = ++s.depth;
  Slot* old = s.slots;
  s.slots = new_slots(s.mask + 1);
  s.count = 0;
  for (std::size_t i = 0; i <= s.mask; ++i) {
    if (!old[i].node) continue;
    Segment& to = (old[i].path >> bit) & 1 ? *t : s;
    place(to, old[i]);
    ++to.count;
  }
  arena_.deallocate(old, slots_class(s.mask + 1));
  // Directory entries of `s` whose index has the new bit set now lead to `t`.
  const unsigned index_bit = (63 - shift_) - s.depth;
  for (std::size_t i = 0; i < directory_.size(); ++i) {
    if (directory_[i] == &s && (i >> index_bit) & 1) directory_[i] = t.get();
  }
  segments_.push_back(std::move(t));
}

Node* Router::find_node(std::string_view filter) {
  split_levels(filter);
  path_.clear();
  Node* node = root_;
  std::uint64_t path = seed_;
  for (const Level& l : levels_) {
    path = child_path(path, l.hash);
    node = find_child(node, path, l.name);
    if (!node) return nullptr;
    path_.emplace_back(node, path);
  }
  return node;
}

// ----------------------------------------------------------------------------- entry lists

EntryList* Router::new_list(std::uint32_t capacity) {
  const int cls = size_class(capacity);
  void* p = cls >= 0 ? arena_.allocate(static_cast<unsigned>(cls)) : ::operator new(list_bytes(capacity));
  auto* list = ::new (p) EntryList{};
  list->capacity = capacity;
  return list;
}

// Frees the list's storage and index; its groups (if any) are the caller's.
void Router::free_list(EntryList* list) {
  delete list->index;
  const int cls = size_class(list->capacity);
  list->~EntryList();
  if (cls >= 0) {
    arena_.deallocate(list, static_cast<unsigned>(cls));
  } else {
    ::operator delete(list);
  }
}

// Moves `list` to storage for `capacity` entries.
void Router::resize(EntryList*& list, std::uint32_t capacity) {
  EntryList* moved = new_list(capacity);
  moved->size = list->size;
  std::swap(moved->index, list->index);
  std::swap(moved->groups, list->groups);
  std::memcpy(static_cast<void*>(moved->begin()), list->begin(), list->size * sizeof(RouteEntry));
  free_list(list);
  list = moved;
}

bool Router::put(EntryList*& list, const RouteEntry& entry, const std::string* key) {
  if (!list) list = new_list(1);
  const std::uint32_t pos = position(*list, entry.who);
  if (pos < list->size) {
    RouteEntry& e = list->begin()[pos];
    e = entry;
    e.shared_filter = key;
    return false;
  }
  if (list->size == list->capacity) resize(list, grown(list->capacity));
  RouteEntry* e = ::new (list->end()) RouteEntry(entry);
  e->shared_filter = key;
  if (list->index) list->index->emplace(entry.who, list->size);
  ++list->size;
  if (!list->index && list->size > kIndexFrom) {
    list->index = new std::remove_pointer_t<decltype(list->index)>;
    list->index->reserve(list->size * 2);
    for (std::uint32_t i = 0; i < list->size; ++i) list->index->emplace(list->begin()[i].who, i);
  }
  return true;
}

bool Router::erase(EntryList*& list, SubscriberRef who) {
  if (!list) return false;
  const std::uint32_t pos = position(*list, who);
  if (pos == list->size) return false;
  if (list->index) list->index->erase(who);
  // The last entry fills the hole: O(1), and the order carries no meaning.
  const std::uint32_t last = list->size - 1;
  if (pos != last) {
    list->begin()[pos] = list->begin()[last];
    if (list->index) (*list->index)[list->begin()[pos].who] = pos;
  }
  list->size = last;
  if (list->index && list->size < kUnindexBelow) {
    delete list->index;
    list->index = nullptr;
  }
  if (list->size == 0 && !list->groups) {
    free_list(list);
    list = nullptr;
  } else if (list->capacity > 5 && list->size <= list->capacity / 4) {
    resize(list, list->capacity / 2);
  }
  return true;
}

void Router::add_entries(const Node* node, std::vector<const RouteEntry*>& out) {
  const EntryList* list = node->entries;
  if (!list) return;
  for (const RouteEntry& e : *list) out.push_back(&e);
  if (!list->groups) return;
  for (const auto& g : *list->groups) out.push_back(g->members->begin() + g->next++ % g->members->size);
}

// ------------------------------------------------------------------------------ public API

bool Router::subscribe(std::string_view filter, const RouteEntry& entry) {
  ++generation_;
  const auto shared = mqtt::parse_shared_filter(filter);
  split_levels(shared ? shared->filter : filter);
  Node* node = root_;
  std::uint64_t path = seed_;
  for (const Level& l : levels_) {
    path = child_path(path, l.hash);
    Node* child = find_child(node, path, l.name);
    node = child ? child : add_child(node, path, l.name);
  }
  if (!shared) {
    if (!put(node->entries, entry, nullptr)) return false;
  } else {
    if (!node->entries) node->entries = new_list(1);
    auto*& groups = node->entries->groups;
    if (!groups) groups = new Groups;
    auto g = find_group(*groups, filter);
    if (g == groups->end()) {
      groups->push_back(std::make_unique<SharedGroup>());
      g = std::prev(groups->end());
      (*g)->shared_filter = std::string(filter);
    }
    if (!put((*g)->members, entry, &(*g)->shared_filter)) return false;
  }
  ++size_;
  return true;
}

bool Router::unsubscribe(std::string_view filter, SubscriberRef who) {
  ++generation_;
  const auto shared = mqtt::parse_shared_filter(filter);
  Node* node = find_node(shared ? shared->filter : filter);
  if (!node || !node->entries) return false;
  if (shared) {
    auto* groups = node->entries->groups;
    if (!groups) return false;
    auto g = find_group(*groups, filter);
    if (g == groups->end() || !erase((*g)->members, who)) return false;
    if (!(*g)->members) {
      groups->erase(g);
      if (groups->empty()) {
        delete groups;
        node->entries->groups = nullptr;
        if (node->entries->size == 0) {
          free_list(node->entries);
          node->entries = nullptr;
        }
      }
    }
  } else if (!erase(node->entries, who)) {
    return false;
  }
  --size_;
  // Prune nodes left without entries, groups or children, deepest first.
  for (auto p = path_.rbegin(); p != path_.rend(); ++p) {
    if (p->first->entries || p->first->children) break;
    remove_node(p->first, p->second);
  }
  return true;
}

void Router::match(std::string_view topic, std::vector<const RouteEntry*>& out) {
  if (!cache_) cache_ = std::make_unique<CachedMatch[]>(kCacheSlots);
  const std::uint64_t h = level_hash(topic);
  CachedMatch& slot = cache_[h % kCacheSlots];
  if (slot.generation != generation_ || slot.hash != h || slot.topic != topic) {
    slot.generation = generation_;
    slot.hash = h;
    slot.topic.assign(topic);
    slot.nodes.clear();
    match_nodes(topic, slot.nodes);
  }
  // Entries are read now, not cached: a shared group's next member changes with every match.
  for (const Node* n : slot.nodes) add_entries(n, out);
}

void Router::match_nodes(std::string_view topic, std::vector<const Node*>& out) {
  split_levels(topic);  // each level hashed once: every frontier node looks it up
  frontier_.clear();
  frontier_.push_back({root_, seed_});
  // Wildcards at the first level do not match topics that start with '$' [MQTT-4.7.2-1].
  bool wild_ok = topic.empty() || topic[0] != '$';
  for (const Level& level : levels_) {
    next_.clear();
    for (const Reached& r : frontier_) {
      const Node* n = r.node;
      if (wild_ok && n->hash) out.push_back(n->hash);  // '#' matches this level and everything below
      if (n->has_plain_children()) {
        const std::uint64_t p = child_path(r.path, level.hash);
        if (const Node* c = find_child(n, p, level.name)) next_.push_back({c, p});
      }
      if (wild_ok && n->plus) next_.push_back({n->plus, child_path(r.path, plus_hash_)});
    }
    frontier_.swap(next_);
    wild_ok = true;
    if (frontier_.empty()) return;
  }
  for (const Reached& r : frontier_) {
    out.push_back(r.node);
    if (r.node->hash) out.push_back(r.node->hash);  // "a/#" also matches "a"
  }
}

const RouteEntry* Router::pick_shared(std::string_view shared_filter, SubscriberRef not_this) {
  const auto shared = mqtt::parse_shared_filter(shared_filter);
  if (!shared) return nullptr;
  const Node* node = find_node(shared->filter);
  if (!node || !node->entries || !node->entries->groups) return nullptr;
  for (const auto& g : *node->entries->groups) {
    if (g->shared_filter != shared_filter) continue;
    const EntryList& m = *g->members;
    for (std::uint32_t i = 0; i < m.size; ++i) {
      const RouteEntry& e = m.begin()[g->next++ % m.size];
      if (!(e.who == not_this)) return &e;
    }
  }
  return nullptr;
}

}  // namespace hermod::broker
