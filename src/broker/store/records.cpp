#include "broker/store/records.hpp"

#include "mqtt/wire.hpp"

namespace hermod::broker::store {

using mqtt::append_string;
using mqtt::append_u16;
using mqtt::append_u32;
using mqtt::append_u8;

namespace {

void append_u64(std::string& out, std::uint64_t v) {
  append_u32(out, static_cast<std::uint32_t>(v >> 32));
  append_u32(out, static_cast<std::uint32_t>(v));
}

std::optional<std::uint64_t> read_u64(mqtt::Reader& in) {
  auto hi = in.u32();
  auto lo = in.u32();
  if (!hi || !lo) return std::nullopt;
  return (static_cast<std::uint64_t>(*hi) << 32) | *lo;
}

// Long byte strings (payloads) carry a 4-byte length.
void append_long(std::string& out, std::string_view s) {
  append_u32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

std::optional<std::string_view> read_long(mqtt::Reader& in) {
  auto n = in.u32();
  if (!n) return std::nullopt;
  auto b = in.bytes(*n);
  if (!b) return std::nullopt;
  return *b;
}

std::string with_uid(char kind, std::uint64_t uid) {
  std::string k(1, kind);
  append_u64(k, uid);
  return k;
}

}  // namespace

std::string session_key(std::uint64_t uid) { return with_uid('s', uid); }
std::string subscription_prefix(std::uint64_t uid) { return with_uid('u', uid); }
std::string subscription_key(std::uint64_t uid, std::string_view filter) {
  return subscription_prefix(uid).append(filter);
}
std::string inbound_prefix(std::uint64_t uid) { return with_uid('i', uid); }
std::string inbound_key(std::uint64_t uid, std::uint16_t packet_id) {
  auto k = inbound_prefix(uid);
  append_u16(k, packet_id);
  return k;
}
std::string queue_prefix(std::uint64_t uid) { return with_uid('q', uid); }
std::string queue_key(std::uint64_t uid, std::uint64_t seq) {
  auto k = queue_prefix(uid);
  append_u64(k, seq);
  return k;
}
std::string body_key(std::uint64_t body_id) { return with_uid('m', body_id); }
std::string retained_key(std::string_view topic) { return std::string("r").append(topic); }

std::uint64_t key_u64(std::string_view key, std::size_t offset) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8 && offset + i < key.size(); ++i) {
    v = (v << 8) | static_cast<std::uint8_t>(key[offset + i]);
  }
  return v;
}

std::string encode(const SessionRecord& r) {
  std::string out;
  append_string(out, r.client_id);
  append_u32(out, r.expiry_interval);
  append_u64(out, static_cast<std::uint64_t>(r.offline_since_ms));
  return out;
}

std::optional<SessionRecord> decode_session(std::string_view v) {
  mqtt::Reader in(v);
  SessionRecord r;
  auto id = in.binary();
  auto expiry = in.u32();
  if (!id || !expiry) return std::nullopt;
  auto since = read_u64(in);
  if (!since) return std::nullopt;
  r.client_id = std::string(*id);
  r.expiry_interval = *expiry;
  r.offline_since_ms = static_cast<std::int64_t>(*since);
  return r;
}

std::string encode(const SubscriptionRecordValue& r) {
  std::string out;
  append_u8(out, r.options.qos);
  append_u8(out, static_cast<std::uint8_t>((r.options.no_local ? 1 : 0) | (r.options.retain_as_published ? 2 : 0) |
                                           (r.options.retain_handling << 2)));
  append_u32(out, r.subscription_id);
  return out;
}

std::optional<SubscriptionRecordValue> decode_subscription(std::string_view v) {
  mqtt::Reader in(v);
  auto qos = in.u8();
  auto flags = in.u8();
  auto id = in.u32();
  if (!qos || !flags || !id) return std::nullopt;
  SubscriptionRecordValue r;
  r.options.qos = *qos;
  r.options.no_local = *flags & 1;
  r.options.retain_as_published = *flags & 2;
  r.options.retain_handling = static_cast<std::uint8_t>((*flags >> 2) & 3);
  r.subscription_id = *id;
  return r;
}

std::string encode(const QueueRecord& r) {
  std::string out;
  append_u64(out, r.body_id);
  append_u8(out, r.qos);
  append_u8(out, r.retain ? 1 : 0);
  append_u16(out, r.packet_id);
  append_u8(out, r.state);
  append_u16(out, static_cast<std::uint16_t>(r.subscription_ids.size()));
  for (auto id : r.subscription_ids) append_u32(out, id);
  append_string(out, r.shared_filter);
  if (r.body) out.append(encode(*r.body));
  return out;
}

std::optional<QueueRecord> decode_queue(std::string_view v) {
  mqtt::Reader in(v);
  QueueRecord r;
  auto body = read_u64(in);
  auto qos = in.u8();
  auto retain = in.u8();
  auto pid = in.u16();
  auto state = in.u8();
  auto n = in.u16();
  if (!body || !qos || !retain || !pid || !state || !n) return std::nullopt;
  r.body_id = *body;
  r.qos = *qos;
  r.retain = *retain;
  r.packet_id = *pid;
  r.state = *state;
  for (std::uint16_t i = 0; i < *n; ++i) {
    auto id = in.u32();
    if (!id) return std::nullopt;
    r.subscription_ids.push_back(*id);
  }
  auto shared = in.binary();
  if (!shared) return std::nullopt;
  r.shared_filter = std::string(*shared);
  if (!in.empty()) {
    r.body = decode_body(in.rest());
    if (!r.body) return std::nullopt;
  }
  if (r.body_id == 0 && !r.body) return std::nullopt;
  return r;
}

std::string encode(const BodyRecord& r) {
  std::string out;
  append_string(out, r.topic);
  append_long(out, r.payload);
  append_u8(out, r.qos);
  append_u8(out, r.retain ? 1 : 0);
  append_u64(out, static_cast<std::uint64_t>(r.expires_at_ms));
  mqtt::encode_properties(out, r.props, mqtt::PropertyContext::publish);
  return out;
}

std::optional<BodyRecord> decode_body(std::string_view v) {
  mqtt::Reader in(v);
  BodyRecord r;
  auto topic = in.binary();
  if (!topic) return std::nullopt;
  auto payload = read_long(in);
  auto qos = in.u8();
  auto retain = in.u8();
  if (!payload || !qos || !retain) return std::nullopt;
  auto expires = read_u64(in);
  if (!expires) return std::nullopt;
  auto props = mqtt::decode_properties(in, mqtt::PropertyContext::publish);
  if (!props) return std::nullopt;
  r.topic = std::string(*topic);
  r.payload = std::string(*payload);
  r.qos = *qos;
  r.retain = *retain;
  r.expires_at_ms = static_cast<std::int64_t>(*expires);
  r.props = std::move(*props);
  return r;
}

}  // namespace hermod::broker::store
