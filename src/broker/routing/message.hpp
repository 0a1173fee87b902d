// An application message as the broker routes it: immutable once built and shared by every
// recipient (fan-out stores the payload once; only per-recipient header fields differ).
// Built on the publisher's worker, read on any worker: never mutate after it is shared.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include "mqtt/properties.hpp"

namespace hermod::broker {

class Message {
 public:
  // Only make_message() builds one: `bytes` is room for the topic and payload in the same
  // allocation, which the constructor fills.
  struct Token {
    explicit Token() = default;
  };
  Message(Token, char* const* bytes, std::string_view topic, std::string_view payload);
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;

  std::string_view topic() const { return topic_; }
  std::string_view payload() const { return payload_; }

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

 private:
  std::string_view topic_;
  std::string_view payload_;
};

using MessagePtr = std::shared_ptr<const Message>;

// A new message with copies of `topic` and `payload`, in one allocation with its reference
// count: a PUBLISH costs one malloc and one free, not three.
std::shared_ptr<Message> make_message(std::string_view topic, std::string_view payload);

}  // namespace hermod::broker
