// A map from MQTT packet identifier (1..65535) to T, stored flat: open addressing with the packet
// id itself as the hash, Robin Hood linear probing and deletion by backward shift.
//
// Why not std::unordered_map: the outbound in-flight window inserts and erases one entry per
// QoS 1/2 delivery, and the node allocation, hashing and bucket walk of unordered_map were ~14 %
// of a QoS 1 stream's broker CPU (docs/performance.md). Packet ids are handed out in sequence, so
// the ids in flight form a few runs of consecutive numbers: with the id as its own hash nearly
// every entry sits in its home slot and a lookup reads one slot. Robin Hood order (within a run,
// entries sorted by home slot) is what keeps erasing cheap: the backward shift stops at the first
// entry already in its home slot. Plain linear probing would have to scan the whole run, which for
// a window of consecutive ids is the whole window, on every acknowledgement.
//
// Inserting and erasing move entries, so a pointer or reference to an entry is valid only until
// the next insert or erase (unlike unordered_map). Iterate over ids (ids_in_order) when entries
// may be erased on the way.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "mqtt/packet.hpp"

namespace hermod::broker {

template <class T>
class PacketIdTable {
 public:
  using PacketId = mqtt::PacketId;

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool contains(PacketId id) const { return find_slot(id) != kNone; }

  T* find(PacketId id) {
    const std::size_t i = find_slot(id);
    return i == kNone ? nullptr : &slots_[i].value;
  }

  // Inserts `value` under `id`, which must not be present (ids are never 0).
  T& insert(PacketId id, T&& value) {
    if ((size_ + 1) * 2 > capacity_) grow();
    ++size_;
    std::size_t i = id & mask();
    if (slots_[i].id == 0) {  // the usual case: ids in flight are mostly consecutive
      slots_[i].id = id;
      slots_[i].value = std::move(value);
      return slots_[i].value;
    }
    std::size_t distance = 0;  // of the entry being placed from its home slot
    Slot* placed = nullptr;    // where `id` itself landed
    Slot carry{id, std::move(value)};
    for (;; i = (i + 1) & mask(), ++distance) {
      Slot& slot = slots_[i];
      if (slot.id == 0) {
        slot = std::move(carry);
        return (placed ? placed : &slot)->value;
      }
      // Robin Hood: an entry nearer its home gives its slot up and moves on.
      const std::size_t theirs = distance_of(i);
      if (theirs < distance) {
        std::swap(slot, carry);
        if (!placed) placed = &slot;
        distance = theirs;
      }
    }
  }

  // Removes `id`'s entry (destroying its value now); false if there was none.
  bool erase(PacketId id) {
    std::size_t hole = find_slot(id);
    if (hole == kNone) return false;
    slots_[hole] = Slot{};
    --size_;
    // Backward shift: the entries after the hole move one slot back until an empty slot or an
    // entry in its home slot (Robin Hood order guarantees none further on belongs before it).
    for (std::size_t j = (hole + 1) & mask(); slots_[j].id != 0 && distance_of(j) != 0; j = (j + 1) & mask()) {
      slots_[hole] = std::move(slots_[j]);
      slots_[j] = Slot{};
      hole = j;
    }
    return true;
  }

  // Calls f(id, value) for every entry, in no particular order. f must not insert or erase.
  template <class F>
  void for_each(F&& f) {
    for (std::size_t i = 0; i < capacity_; ++i) {
      if (slots_[i].id != 0) f(slots_[i].id, slots_[i].value);
    }
  }

  // The ids, ordered by key(value) (e.g. the send sequence).
  template <class Key>
  std::vector<PacketId> ids_in_order(Key&& key) const {
    std::vector<std::pair<decltype(key(std::declval<const T&>())), PacketId>> v;
    v.reserve(size_);
    for (std::size_t i = 0; i < capacity_; ++i) {
      if (slots_[i].id != 0) v.emplace_back(key(slots_[i].value), slots_[i].id);
    }
    std::sort(v.begin(), v.end());
    std::vector<PacketId> ids;
    ids.reserve(v.size());
    for (const auto& [k, id] : v) ids.push_back(id);
    return ids;
  }

  // Gives the slots back when the table is empty (an idle session holds no table).
  void release_if_empty() {
    if (size_ == 0 && slots_) {
      slots_.reset();
      capacity_ = 0;
    }
  }

 private:
  struct Slot {
    PacketId id = 0;  // 0: empty
    T value{};
  };
  static constexpr std::size_t kNone = ~std::size_t{0};
  static constexpr std::uint32_t kInitialCapacity = 16;

  std::size_t mask() const { return capacity_ - 1; }

  // How far the entry in slot i sits from its home slot.
  std::size_t distance_of(std::size_t i) const { return (i - (slots_[i].id & mask())) & mask(); }

  std::size_t find_slot(PacketId id) const {
    if (size_ == 0 || id == 0) return kNone;
    for (std::size_t i = id & mask(), distance = 0;; i = (i + 1) & mask(), ++distance) {
      if (slots_[i].id == id) return i;
      // Empty, or an entry nearer its home than `id` would be here: `id` is not present.
      if (slots_[i].id == 0 || distance_of(i) < distance) return kNone;
    }
  }

  void grow() {
    const std::uint32_t old_capacity = capacity_;
    std::unique_ptr<Slot[]> old = std::move(slots_);
    capacity_ = old_capacity == 0 ? kInitialCapacity : old_capacity * 2;
    slots_ = std::make_unique<Slot[]>(capacity_);
    size_ = 0;
    for (std::size_t i = 0; i < old_capacity; ++i) {
      if (old[i].id != 0) insert(old[i].id, std::move(old[i].value));
    }
  }

  std::unique_ptr<Slot[]> slots_;
  std::uint32_t capacity_ = 0;  // a power of two, at least twice size_; 0 until first insert
  std::uint32_t size_ = 0;
};

}  // namespace hermod::broker
