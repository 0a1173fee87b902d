#include "mqtt/decoder.hpp"

#include "mqtt/topic.hpp"
#include "mqtt/utf8.hpp"

namespace hermod::mqtt {

namespace {

const Error kMalformed{ReasonCode::malformed_packet, "malformed packet"};
const Error kTrailing{ReasonCode::malformed_packet, "bytes after the end of the packet"};
const Error kBadFlags{ReasonCode::malformed_packet, "reserved flag bits set in fixed header"};
const Error kZeroPacketId{ReasonCode::protocol_error, "packet identifier 0"};

#define HERMOD_TRY(var, expr)           \
  auto var##_r = (expr);                \
  if (!var##_r) return var##_r.error(); \
  auto var = std::move(*var##_r)

Result<void> finish(const Reader& in) {
  if (!in.empty()) return kTrailing;
  return {};
}

Result<Properties> v5_properties(Reader& in, ProtocolVersion v, PropertyContext ctx) {
  if (!is_v5(v)) return Properties{};
  return decode_properties(in, ctx);
}

Result<PacketId> nonzero_packet_id(Reader& in) {
  HERMOD_TRY(id, in.u16());
  if (id == 0) return kZeroPacketId;
  return id;
}

Result<Packet> decode_connect(Reader& in) {
  HERMOD_TRY(name, in.utf8());
  HERMOD_TRY(level, in.u8());
  Connect c;
  if (name == "MQTT" && (level == 4 || level == 5)) {
    c.version = static_cast<ProtocolVersion>(level);
  } else if (name == "MQIsdp" && level == 3) {
    c.version = ProtocolVersion::v3_1;
  } else if (name == "MQTT" || name == "MQIsdp") {
    return Error{ReasonCode::unsupported_protocol_version, "unsupported protocol level"};
  } else {
    return Error{ReasonCode::protocol_error, "unknown protocol name"};
  }
  HERMOD_TRY(flags, in.u8());
  if (flags & 0x01) return Error{ReasonCode::malformed_packet, "CONNECT reserved flag set"};
  const bool will_flag = flags & 0x04;
  const auto will_qos = static_cast<std::uint8_t>((flags >> 3) & 0x03);
  const bool will_retain = flags & 0x20;
  const bool password_flag = flags & 0x40;
  const bool username_flag = flags & 0x80;
  c.clean_start = flags & 0x02;
  if (will_qos == 3) return Error{ReasonCode::malformed_packet, "will QoS 3"};
  if (!will_flag && (will_qos != 0 || will_retain)) {
    return Error{ReasonCode::malformed_packet, "will QoS or retain without will flag"};
  }
  if (!is_v5(c.version) && password_flag && !username_flag) {
    return Error{ReasonCode::malformed_packet, "password without user name"};
  }
  HERMOD_TRY(keep_alive, in.u16());
  c.keep_alive = keep_alive;
  HERMOD_TRY(props, v5_properties(in, c.version, PropertyContext::connect));
  c.props = std::move(props);
  HERMOD_TRY(client_id, in.utf8());
  c.client_id = client_id;
  if (will_flag) {
    Will w;
    HERMOD_TRY(will_props, v5_properties(in, c.version, PropertyContext::will));
    w.props = std::move(will_props);
    HERMOD_TRY(topic, in.utf8());
    if (!is_valid_topic_name(topic)) return Error{ReasonCode::topic_name_invalid, "invalid will topic"};
    HERMOD_TRY(payload, in.binary());
    w.topic = topic;
    w.payload = payload;
    w.qos = will_qos;
    w.retain = will_retain;
    c.will = std::move(w);
  }
  if (username_flag) {
    HERMOD_TRY(user, in.utf8());
    c.username = std::string(user);
  }
  if (password_flag) {
    HERMOD_TRY(pass, in.binary());
    c.password = std::string(pass);
  }
  if (auto r = finish(in); !r) return r.error();
  return Packet{std::move(c)};
}

Result<Packet> decode_connack(Reader& in, ProtocolVersion v) {
  HERMOD_TRY(flags, in.u8());
  if (flags & 0xFE) return Error{ReasonCode::malformed_packet, "CONNACK reserved flag set"};
  HERMOD_TRY(code, in.u8());
  // 3.1.1 return codes 6-255 are reserved (3.2.2.3); mapping them would not survive a round trip.
  if (!is_v5(v) && code > 5) return Error{ReasonCode::protocol_error, "reserved CONNACK return code"};
  Connack c;
  c.session_present = flags & 0x01;
  c.reason = is_v5(v) ? static_cast<ReasonCode>(code) : from_v3_connack_code(code);
  HERMOD_TRY(props, v5_properties(in, v, PropertyContext::connack));
  c.props = std::move(props);
  if (auto r = finish(in); !r) return r.error();
  return Packet{std::move(c)};
}

// What every PUBLISH starts with, read by both decode_publish and the fast path: the flags of
// the fixed header, the topic (UTF-8 checked, not yet as a topic name) and the packet id.
Result<PublishView> publish_head(const FixedHeader& h, Reader& in) {
  PublishView p;
  p.dup = h.flags() & 0x08;
  p.qos = (h.flags() >> 1) & 0x03;
  p.retain = h.flags() & 0x01;
  if (p.qos == 3) return Error{ReasonCode::malformed_packet, "PUBLISH QoS 3"};
  if (p.qos == 0 && p.dup) return Error{ReasonCode::malformed_packet, "DUP set on QoS 0 PUBLISH"};
  HERMOD_TRY(topic, in.utf8());
  p.topic = topic;
  if (p.qos > 0) {
    HERMOD_TRY(id, nonzero_packet_id(in));
    p.packet_id = id;
  }
  return p;
}

Result<Packet> decode_publish(const FixedHeader& h, Reader& in, ProtocolVersion v) {
  HERMOD_TRY(head, publish_head(h, in));
  Publish p;
  p.dup = head.dup;
  p.qos = head.qos;
  p.retain = head.retain;
  p.packet_id = head.packet_id;
  const std::string_view topic = head.topic;
  HERMOD_TRY(props, v5_properties(in, v, PropertyContext::publish));
  p.props = std::move(props);
  // An empty topic is allowed only in MQTT 5 together with a topic alias (3.3.2.3.4).
  const bool alias_only = topic.empty() && is_v5(v) && p.props.topic_alias;
  if (topic.empty() && is_v5(v) && !alias_only) {
    return Error{ReasonCode::protocol_error, "empty topic without topic alias"};  // 3.3.2.1
  }
  if (!alias_only && !is_valid_topic_name(topic)) {
    return Error{ReasonCode::topic_name_invalid, "invalid topic name in PUBLISH"};
  }
  p.topic = topic;
  p.payload = in.rest();
  in.skip_all();
  return Packet{std::move(p)};
}

template <typename Ack>
Result<Packet> decode_publish_response(Reader& in, ProtocolVersion v) {
  Ack a;
  HERMOD_TRY(id, nonzero_packet_id(in));
  a.packet_id = id;
  if (is_v5(v) && !in.empty()) {
    HERMOD_TRY(code, in.u8());
    if (!is_known_reason_code(code)) return Error{ReasonCode::protocol_error, "unknown reason code"};
    a.reason = static_cast<ReasonCode>(code);
    if (!in.empty()) {
      HERMOD_TRY(props, decode_properties(in, context_of(Ack::kType)));
      a.props = std::move(props);
    }
  }
  if (auto r = finish(in); !r) return r.error();
  return Packet{std::move(a)};
}

Result<Packet> decode_subscribe(Reader& in, ProtocolVersion v) {
  Subscribe s;
  HERMOD_TRY(id, nonzero_packet_id(in));
  s.packet_id = id;
  HERMOD_TRY(props, v5_properties(in, v, PropertyContext::subscribe));
  if (props.subscription_identifiers.size() > 1) {
    return Error{ReasonCode::protocol_error, "more than one subscription identifier"};
  }
  s.props = std::move(props);
  while (!in.empty()) {
    HERMOD_TRY(filter, in.utf8());
    HERMOD_TRY(opts, in.u8());
    TopicSubscription t;
    t.filter = filter;
    t.options.qos = opts & 0x03;
    // Malformed in 3.1.1 [MQTT-3.8.3-4], a protocol error in 5.0 (3.8.3.1).
    if (t.options.qos == 3) {
      return Error{is_v5(v) ? ReasonCode::protocol_error : ReasonCode::malformed_packet, "subscription QoS 3"};
    }
    if (is_v5(v)) {
      if (opts & 0xC0) return Error{ReasonCode::malformed_packet, "reserved subscription option bits set"};
      t.options.no_local = opts & 0x04;
      t.options.retain_as_published = opts & 0x08;
      t.options.retain_handling = (opts >> 4) & 0x03;
      if (t.options.retain_handling == 3) return Error{ReasonCode::protocol_error, "retain handling 3"};
    } else if (opts & 0xFC) {
      return Error{ReasonCode::malformed_packet, "reserved subscription option bits set"};
    }
    s.subscriptions.push_back(std::move(t));
  }
  if (s.subscriptions.empty()) return Error{ReasonCode::protocol_error, "SUBSCRIBE without topic filter"};
  return Packet{std::move(s)};
}

Result<Packet> decode_suback(Reader& in, ProtocolVersion v) {
  Suback s;
  HERMOD_TRY(id, nonzero_packet_id(in));
  s.packet_id = id;
  HERMOD_TRY(props, v5_properties(in, v, PropertyContext::suback));
  s.props = std::move(props);
  while (!in.empty()) {
    HERMOD_TRY(code, in.u8());
    if (!is_v5(v) && code > 2 && code != 0x80) {
      return Error{ReasonCode::protocol_error, "reserved SUBACK return code"};  // [MQTT-3.9.3-2]
    }
    s.reasons.push_back(static_cast<ReasonCode>(code));
  }
  return Packet{std::move(s)};
}

Result<Packet> decode_unsubscribe(Reader& in, ProtocolVersion v) {
  Unsubscribe u;
  HERMOD_TRY(id, nonzero_packet_id(in));
  u.packet_id = id;
  HERMOD_TRY(props, v5_properties(in, v, PropertyContext::unsubscribe));
  u.props = std::move(props);
  while (!in.empty()) {
    HERMOD_TRY(filter, in.utf8());
    u.filters.emplace_back(filter);
  }
  if (u.filters.empty()) return Error{ReasonCode::protocol_error, "UNSUBSCRIBE without topic filter"};
  return Packet{std::move(u)};
}

Result<Packet> decode_unsuback(Reader& in, ProtocolVersion v) {
  Unsuback u;
  HERMOD_TRY(id, nonzero_packet_id(in));
  u.packet_id = id;
  if (is_v5(v)) {
    HERMOD_TRY(props, decode_properties(in, PropertyContext::unsuback));
    u.props = std::move(props);
    while (!in.empty()) {
      HERMOD_TRY(code, in.u8());
      u.reasons.push_back(static_cast<ReasonCode>(code));
    }
  }
  if (auto r = finish(in); !r) return r.error();
  return Packet{std::move(u)};
}

// DISCONNECT and AUTH: empty body means success; otherwise a reason code and optional properties.
template <typename T>
Result<Packet> decode_reason_only(Reader& in, ProtocolVersion v, PropertyContext ctx) {
  T t;
  if (is_v5(v) && !in.empty()) {
    HERMOD_TRY(code, in.u8());
    if (!is_known_reason_code(code)) return Error{ReasonCode::protocol_error, "unknown reason code"};
    t.reason = static_cast<ReasonCode>(code);
    if (!in.empty()) {
      HERMOD_TRY(props, decode_properties(in, ctx));
      t.props = std::move(props);
    }
  }
  if (auto r = finish(in); !r) return r.error();
  return Packet{std::move(t)};
}

#undef HERMOD_TRY

// Required low-nibble flags for every type but PUBLISH [MQTT-2.2.2-1] [MQTT-2.2.2-2].
bool flags_valid(const FixedHeader& h) {
  switch (h.type()) {
    case PacketType::publish: return true;
    case PacketType::pubrel:
    case PacketType::subscribe:
    case PacketType::unsubscribe: return h.flags() == 0x02;
    default: return h.flags() == 0;
  }
}

}  // namespace

Result<std::optional<PublishView>> decode_publish_view(const FixedHeader& h, std::string_view body, ProtocolVersion v) {
  if (h.type() != PacketType::publish) return std::optional<PublishView>();
  if (body.size() != h.remaining_length) return kMalformed;
  Reader in(body);
  auto head = publish_head(h, in);
  if (!head) return head.error();
  PublishView p = *head;
  if (is_v5(v)) {
    // Only a property length of 0 (one byte) takes this path; anything else is decoded whole.
    auto length = in.u8();
    if (!length) return length.error();
    if (*length != 0) return std::optional<PublishView>();
    if (p.topic.empty()) return Error{ReasonCode::protocol_error, "empty topic without topic alias"};
  }
  if (!is_valid_topic_name(p.topic)) return Error{ReasonCode::topic_name_invalid, "invalid topic name in PUBLISH"};
  p.payload = in.rest();
  return std::optional<PublishView>(p);
}

Result<std::optional<PacketId>> decode_short_ack(const FixedHeader& h, std::string_view body) {
  const auto t = h.type();
  if ((t != PacketType::puback && t != PacketType::pubrec && t != PacketType::pubrel && t != PacketType::pubcomp) ||
      h.remaining_length != 2 || body.size() != 2) {
    return std::optional<PacketId>();
  }
  if (!flags_valid(h)) return kBadFlags;
  Reader in(body);
  auto id = nonzero_packet_id(in);
  if (!id) return id.error();
  return std::optional<PacketId>(*id);
}


Result<std::optional<FixedHeader>> parse_fixed_header(std::string_view data, std::uint32_t max_packet_size) {
  if (data.empty()) return std::optional<FixedHeader>{};
  auto len = decode_varint(data.substr(1));
  if (!len) return len.error();
  if (len->length == 0) return std::optional<FixedHeader>{};
  FixedHeader h;
  h.first_byte = static_cast<std::uint8_t>(data[0]);
  h.remaining_length = len->value;
  h.header_length = static_cast<std::uint8_t>(1 + len->length);
  if (h.total_length() > max_packet_size) return Error{ReasonCode::packet_too_large, "packet exceeds maximum packet size"};
  return std::optional<FixedHeader>{h};
}

Result<Packet> decode_packet(const FixedHeader& header, std::string_view body, ProtocolVersion version) {
  if (body.size() != header.remaining_length) return kMalformed;
  if (!flags_valid(header)) return kBadFlags;
  Reader in(body);
  const auto v = version;
  switch (header.type()) {
    case PacketType::connect: return decode_connect(in);
    case PacketType::connack: return decode_connack(in, v);
    case PacketType::publish: return decode_publish(header, in, v);
    case PacketType::puback: return decode_publish_response<Puback>(in, v);
    case PacketType::pubrec: return decode_publish_response<Pubrec>(in, v);
    case PacketType::pubrel: return decode_publish_response<Pubrel>(in, v);
    case PacketType::pubcomp: return decode_publish_response<Pubcomp>(in, v);
    case PacketType::subscribe: return decode_subscribe(in, v);
    case PacketType::suback: return decode_suback(in, v);
    case PacketType::unsubscribe: return decode_unsubscribe(in, v);
    case PacketType::unsuback: return decode_unsuback(in, v);
    case PacketType::pingreq:
      if (auto r = finish(in); !r) return r.error();
      return Packet{Pingreq{}};
    case PacketType::pingresp:
      if (auto r = finish(in); !r) return r.error();
      return Packet{Pingresp{}};
    case PacketType::disconnect: return decode_reason_only<Disconnect>(in, v, PropertyContext::disconnect);
    case PacketType::auth:
      if (!is_v5(v)) return Error{ReasonCode::malformed_packet, "AUTH before MQTT 5"};
      return decode_reason_only<Auth>(in, v, PropertyContext::auth);
  }
  return Error{ReasonCode::malformed_packet, "reserved packet type 0"};
}

Result<std::optional<Packet>> StreamDecoder::next() {
  const std::string_view data = std::string_view(buffer_).substr(consumed_);
  auto header = parse_fixed_header(data, max_packet_size_);
  if (!header) return header.error();
  if (!*header || data.size() < (*header)->total_length()) {
    // Compact now and then so the buffer does not grow without bound.
    if (consumed_ > 0 && consumed_ * 2 >= buffer_.size()) {
      buffer_.erase(0, consumed_);
      consumed_ = 0;
    }
    return std::optional<Packet>{};
  }
  const auto& h = **header;
  auto packet = decode_packet(h, data.substr(h.header_length, h.remaining_length), version_);
  if (!packet) return packet.error();
  consumed_ += h.total_length();
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  }
  if (auto* c = std::get_if<Connect>(&*packet)) version_ = c->version;
  return std::optional<Packet>{std::move(*packet)};
}

}  // namespace hermod::mqtt
