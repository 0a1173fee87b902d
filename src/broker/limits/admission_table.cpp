#include "broker/limits/admission_table.hpp"

#include <cassert>

#include "net/address_range.hpp"

namespace hermod::broker {

const char* to_string(AdmissionRefusal r) {
  switch (r) {
    case AdmissionRefusal::none: return "admitted";
    case AdmissionRefusal::denied: return "deny";
    case AdmissionRefusal::not_allowed: return "allow";
    case AdmissionRefusal::listener_full: return "listener max_connections";
    case AdmissionRefusal::address_full: return "max_connections_per_address";
    case AdmissionRefusal::connect_rate: return "connect_rate_per_address";
  }
  return "unknown";
}

AdmissionRefusal address_refusal(const ListenerConfig& listener, const boost::asio::ip::address& address) {
  if (net::contains_any(listener.deny, address)) return AdmissionRefusal::denied;
  if (!listener.allow.empty() && !net::contains_any(listener.allow, address)) return AdmissionRefusal::not_allowed;
  return AdmissionRefusal::none;
}

AdmissionRules AdmissionRules::of(const ListenerConfig& listener, const Limits& limits) {
  AdmissionRules r;
  r.listener_max = listener.max_connections;
  r.per_address_max = limits.max_connections_per_address;
  r.connect_rate = limits.connect_rate_per_address;
  r.prefix_v4 = limits.address_prefix_v4;
  r.prefix_v6 = limits.address_prefix_v6;
  return r;
}

// ------------------------------------------------------------------------------------- Slot

AdmissionTable::Slot& AdmissionTable::Slot::operator=(Slot&& o) noexcept {
  if (this != &o) {
    release();
    table_ = std::exchange(o.table_, nullptr);
    entry_ = std::exchange(o.entry_, nullptr);
    listener_ = std::exchange(o.listener_, kNone);
  }
  return *this;
}

void AdmissionTable::Slot::release() {
  if (table_) table_->release(*this);
  table_ = nullptr;
  entry_ = nullptr;
  listener_ = kNone;
}

// ------------------------------------------------------------------------------------ table

AdmissionTable::AdmissionTable(const Clock& clock, std::size_t listeners) : clock_(clock), listeners_(listeners, 0) {}

AdmissionTable::Verdict AdmissionTable::admit(std::size_t listener, const boost::asio::ip::address* address,
                                              const AdmissionRules& rules) {
  Verdict v;
  if (address) v.group = AddressGroup(*address, rules.prefix_v4, rules.prefix_v6);
  const auto now = clock_.now();
  std::lock_guard lock(mutex_);
  assert(listener < listeners_.size());
  if (rules.listener_max != 0 && listeners_[listener] >= rules.listener_max) {
    v.refusal = AdmissionRefusal::listener_full;
    return v;
  }
  Map::value_type* entry = nullptr;
  if (address) {
    entry = take_address(v.group, rules, now, v.refusal);
    if (!entry) return v;
  }
  ++listeners_[listener];
  v.slot.table_ = this;
  v.slot.listener_ = static_cast<std::uint32_t>(listener);
  v.slot.entry_ = entry;
  return v;
}

AdmissionRefusal AdmissionTable::add_address(Slot& slot, const boost::asio::ip::address& address,
                                             const AdmissionRules& rules, AddressGroup* group) {
  assert(slot.table_ == this && !slot.entry_);
  const AddressGroup g(address, rules.prefix_v4, rules.prefix_v6);
  if (group) *group = g;
  const auto now = clock_.now();
  std::lock_guard lock(mutex_);
  AdmissionRefusal refusal = AdmissionRefusal::none;
  slot.entry_ = take_address(g, rules, now, refusal);
  return refusal;
}

AdmissionTable::Map::value_type* AdmissionTable::take_address(const AddressGroup& group, const AdmissionRules& rules,
                                                             Clock::time_point now, AdmissionRefusal& refusal) {
  rate_ = rules.connect_rate;
  auto [it, inserted] = groups_.try_emplace(group);
  Entry& e = it->second;
  if (rules.per_address_max != 0 && e.count >= rules.per_address_max) {
    refusal = AdmissionRefusal::address_full;
  } else if (rules.connect_rate != 0 && !e.bucket.try_take(1, rules.connect_rate, now)) {
    refusal = AdmissionRefusal::connect_rate;
  } else {
    ++e.count;
    return &*it;
  }
  if (inserted) groups_.erase(it);  // refused: a group seen only now leaves no trace
  return nullptr;
}

void AdmissionTable::release(Slot& slot) {
  const auto now = clock_.now();
  std::lock_guard lock(mutex_);
  if (slot.listener_ != Slot::kNone) {
    assert(listeners_[slot.listener_] > 0);
    --listeners_[slot.listener_];
  }
  if (auto* entry = slot.entry_) {
    assert(entry->second.count > 0);
    if (--entry->second.count == 0 && idle(entry->second, now)) groups_.erase(entry->first);
  }
}

bool AdmissionTable::idle(const Entry& e, Clock::time_point now) const {
  return e.count == 0 && e.bucket.full(rate_, now);
}

void AdmissionTable::prune() {
  const auto now = clock_.now();
  std::lock_guard lock(mutex_);
  std::erase_if(groups_, [&](const auto& kv) { return idle(kv.second, now); });
}

std::uint64_t AdmissionTable::listener_count(std::size_t listener) const {
  std::lock_guard lock(mutex_);
  return listener < listeners_.size() ? listeners_[listener] : 0;
}

std::uint32_t AdmissionTable::group_count(const AddressGroup& group) const {
  std::lock_guard lock(mutex_);
  const auto it = groups_.find(group);
  return it == groups_.end() ? 0 : it->second.count;
}

std::size_t AdmissionTable::entries() const {
  std::lock_guard lock(mutex_);
  return groups_.size();
}

}  // namespace hermod::broker
