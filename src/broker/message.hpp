// An application message as the broker routes it: immutable once built and shared by every
// recipient (fan-out stores the payload once; only per-recipient header fields differ).
// Built on the publisher's worker, read on any worker: never mutate after make_shared.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "mqtt/properties.hpp"

namespace hermod::broker {

struct Message {
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
  bool retain = false;
  std::uint64_t origin_session = 0;  // session uid of the publisher (0: the broker itself)
  std::shared_ptr<const mqtt::Properties> props;  // MQTT 5 properties; null when there are none
  // MQTT 5 message expiry: after this instant the message is no longer delivered.
  std::chrono::steady_clock::time_point expires_at = std::chrono::steady_clock::time_point::max();

  bool expired(std::chrono::steady_clock::time_point now) const { return now >= expires_at; }

  // Durability bookkeeping (see store/store.hpp). The body is stored once under `store_id`,
  // assigned by the publisher's worker before the message is shared with other workers; every
  // stored queue entry holds one of `store_refs`, and whoever drops the last deletes the body.
  mutable std::uint64_t store_id = 0;
  mutable std::atomic<std::uint32_t> store_refs{0};
};

using MessagePtr = std::shared_ptr<const Message>;

}  // namespace hermod::broker
