// Who may open one more connection: the per-listener and per-address connection counts and the
// per-address connect rate, across every worker (docs/security.md, "Limits per address").
// Checked as a socket is accepted, before any TLS, WebSocket or PROXY protocol byte; a socket
// refused here is closed at once. The stateless part, a listener's deny and allow lists, is
// `address_refusal()`.
//
// A connection that is let in holds a Slot: moving it (the hand-off to another worker moves it
// with the stream) keeps the counts, and whichever way the connection ends, the Slot is released
// exactly once, when it is destroyed or release()d. A PROXY protocol listener's connections are
// let in by listener first (the peer is the proxy) and by address once the header has named the
// client (add_address()).
//
// Threads: any; one mutex per admit and per release (per accept and per close, never per
// message). Invariants: an entry's count is the number of Slots holding it; an entry is removed
// when its count is zero and its connect-rate bucket is full again (at release, or by prune()),
// so the table holds at most the open connections' groups plus those that connected within the
// last second.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/clock.hpp"
#include "broker/config/config.hpp"
#include "broker/limits/address_group.hpp"
#include "broker/limits/token_bucket.hpp"

namespace hermod::broker {

// Why a connection was refused by its listener's or its address's limits; each has a counter and
// a rate-limited log line.
enum class AdmissionRefusal : std::uint8_t {
  none,
  denied,         // in the listener's deny list
  not_allowed,    // the listener has an allow list, and the address is not in it
  listener_full,  // the listener's max_connections
  address_full,   // limits.max_connections_per_address
  connect_rate,   // limits.connect_rate_per_address
};
const char* to_string(AdmissionRefusal r);  // the key that refused: "max_connections_per_address", ...

// The listener's deny list, then its allow list (when not empty).
AdmissionRefusal address_refusal(const ListenerConfig& listener, const boost::asio::ip::address& address);

// The limits in force for one admission, read from the worker's Policy at each check.
struct AdmissionRules {
  std::uint32_t listener_max = 0;     // 0: unlimited
  std::uint32_t per_address_max = 0;  // 0: unlimited
  std::uint32_t connect_rate = 0;     // accepted connections per second per group; 0: unlimited
  unsigned prefix_v4 = 32;
  unsigned prefix_v6 = 64;
  static AdmissionRules of(const ListenerConfig& listener, const Limits& limits);
};

class AdmissionTable {
  struct Entry {
    std::uint32_t count = 0;
    TokenBucket bucket;
  };
  using Map = std::unordered_map<AddressGroup, Entry, AddressGroupHash>;

 public:
  // What a connection holds while it counts. Move-only; releases on destruction.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& o) noexcept { *this = std::move(o); }
    Slot& operator=(Slot&& o) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { release(); }
    // Gives the counts back now (a closed connection lingering for its client stops counting).
    void release();
    bool holds_listener() const { return table_ && listener_ != kNone; }
    bool holds_address() const { return entry_ != nullptr; }

   private:
    friend class AdmissionTable;
    static constexpr std::uint32_t kNone = ~0u;
    AdmissionTable* table_ = nullptr;
    Map::value_type* entry_ = nullptr;  // stable: the map's nodes do not move while counted
    std::uint32_t listener_ = kNone;
  };

  struct Verdict {
    AdmissionRefusal refusal = AdmissionRefusal::none;
    AddressGroup group;  // the address's group (for messages), when an address was checked
    Slot slot;           // counts the connection when refusal is none
  };

  // `listeners`: how many listeners the broker has (indexes 0 .. listeners-1). `clock` outlives
  // the table.
  AdmissionTable(const Clock& clock, std::size_t listeners);
  AdmissionTable(const AdmissionTable&) = delete;
  AdmissionTable& operator=(const AdmissionTable&) = delete;

  // A new connection on `listener` from `address` (null: not known yet, PROXY protocol): the
  // listener's count, the address group's count, then its connect rate. Nothing is counted or
  // taken when it is refused.
  Verdict admit(std::size_t listener, const boost::asio::ip::address* address, const AdmissionRules& rules);
  // The address part for a slot that holds only its listener (PROXY protocol: the client the
  // header named). On refusal the slot is unchanged (the caller closes the connection).
  AdmissionRefusal add_address(Slot& slot, const boost::asio::ip::address& address, const AdmissionRules& rules,
                               AddressGroup* group = nullptr);
  // Removes entries nothing counts whose bucket is full again; called by a sweep.
  void prune();

  // For tests and metrics.
  std::uint64_t listener_count(std::size_t listener) const;
  std::uint32_t group_count(const AddressGroup& group) const;
  std::size_t entries() const;

 private:
  // Under mutex_: checks and counts `group`; nullptr and the refusal if refused.
  Map::value_type* take_address(const AddressGroup& group, const AdmissionRules& rules, Clock::time_point now,
                                AdmissionRefusal& refusal);
  void release(Slot& slot);
  bool idle(const Entry& e, Clock::time_point now) const;

  const Clock& clock_;
  mutable std::mutex mutex_;
  std::vector<std::uint64_t> listeners_;
  Map groups_;
  std::uint32_t rate_ = 0;  // the connect rate last admitted with: when a bucket is full again
};

}  // namespace hermod::broker
