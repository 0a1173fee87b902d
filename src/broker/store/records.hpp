// The store's keys and values. Keys start with one letter naming the record kind, then
// big-endian integers so that RocksDB's byte order is numeric order:
//   s<uid>              session: client id, expiry interval, time it went offline
//   u<uid><filter>      subscription: options, subscription identifier
//   i<uid><packet id>   inbound QoS 2 packet id awaiting PUBREL
//   q<uid><seq>         a message queued or in flight for a session: body id, QoS, packet id, state;
//                       a message with one stored recipient carries its body inline (body id 0)
//   m<body id>          a message body, stored once however many sessions reference it
//   r<topic>            a retained message
// Times are wall-clock milliseconds since the epoch, so they mean the same after a restart.
// Any thread; pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mqtt/packet.hpp"

namespace hermod::broker::store {

std::string session_key(std::uint64_t uid);
std::string subscription_key(std::uint64_t uid, std::string_view filter);
std::string subscription_prefix(std::uint64_t uid);
std::string inbound_key(std::uint64_t uid, std::uint16_t packet_id);
std::string inbound_prefix(std::uint64_t uid);
std::string queue_key(std::uint64_t uid, std::uint64_t seq);
std::string queue_prefix(std::uint64_t uid);
std::string body_key(std::uint64_t body_id);
std::string retained_key(std::string_view topic);

// Reads the big-endian u64 at `offset` of a key (the uid after the kind letter is at 1).
std::uint64_t key_u64(std::string_view key, std::size_t offset);

struct SessionRecord {
  std::string client_id;
  std::uint32_t expiry_interval = 0;
  std::int64_t offline_since_ms = 0;  // 0: unknown (treated as "now" at recovery)
};
std::string encode(const SessionRecord& r);
std::optional<SessionRecord> decode_session(std::string_view v);

struct SubscriptionRecordValue {
  mqtt::SubscribeOptions options;
  std::uint32_t subscription_id = 0;
};
std::string encode(const SubscriptionRecordValue& r);
std::optional<SubscriptionRecordValue> decode_subscription(std::string_view v);

struct BodyRecord {
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
  bool retain = false;
  std::int64_t expires_at_ms = 0;  // 0: never
  mqtt::Properties props;
};
std::string encode(const BodyRecord& r);
std::optional<BodyRecord> decode_body(std::string_view v);

struct QueueRecord {
  std::uint64_t body_id = 0;
  std::uint8_t qos = 1;
  bool retain = false;
  std::uint16_t packet_id = 0;  // 0: queued, not sent yet
  std::uint8_t state = 0;       // InflightMessage::State when packet_id != 0
  std::vector<std::uint32_t> subscription_ids;
  std::string shared_filter;
  std::optional<BodyRecord> body;  // inline body, when body_id is 0
};
std::string encode(const QueueRecord& r);
std::optional<QueueRecord> decode_queue(std::string_view v);


}  // namespace hermod::broker::store
