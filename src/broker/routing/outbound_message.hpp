// One recipient's copy of a routed message: the shared Message plus what differs per recipient
// (delivery QoS, retain flag, subscription identifiers, shared group) and the durability
// bookkeeping of its queue entry. Moved, never shared: owned by whoever holds it (a delivery
// batch, a session's queue or in-flight window). Any thread while in transit, then the session's.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/routing/message.hpp"

namespace hermod::broker {

// A message on its way to this session's client.
struct OutboundMessage {
  OutboundMessage() = default;
  OutboundMessage(MessagePtr m, std::uint8_t delivery_qos, bool retain_flag)
      : message(std::move(m)), qos(delivery_qos), retain(retain_flag) {}

  MessagePtr message;
  std::uint8_t qos = 0;  // delivery QoS: min(publish QoS, granted QoS)
  bool retain = false;   // retain flag as sent to this subscriber
  // Store bookkeeping (see SessionWriter::store_delivery). inline_body: the queue entry carries the
  // body (this session was its only stored recipient), so no shared body reference is held.
  // record_deferred: the entry is not written yet; the same turn writes it when the message is
  // queued or goes in flight, so a message sent at once is written once, with its packet id.
  bool inline_body = false;
  bool record_deferred = false;
  std::uint64_t store_key = 0;  // its queue entry in the store; 0: not stored

  // MQTT 5 subscription identifiers of every matching subscription, and "$share/g/f" when
  // delivered through a shared subscription. Most deliveries have neither: they live on the
  // heap only when set, which keeps a delivery (created per recipient, queued by the million)
  // at 40 bytes.
  const std::vector<std::uint32_t>& subscription_ids() const { return extras ? extras->subscription_ids : kNoIds; }
  std::string_view shared_filter() const { return extras ? std::string_view(extras->shared_filter) : std::string_view(); }
  void add_subscription_id(std::uint32_t id) { more().subscription_ids.push_back(id); }
  void set_subscription_ids(std::vector<std::uint32_t> ids) {
    if (!ids.empty() || extras) more().subscription_ids = std::move(ids);
  }
  void set_shared_filter(std::string filter) {
    if (!filter.empty() || extras) more().shared_filter = std::move(filter);
  }

 private:
  struct Extras {
    std::vector<std::uint32_t> subscription_ids;
    std::string shared_filter;
  };
  static inline const std::vector<std::uint32_t> kNoIds{};
  Extras& more() {
    if (!extras) extras = std::make_unique<Extras>();
    return *extras;
  }
  std::unique_ptr<Extras> extras;
};

}  // namespace hermod::broker
