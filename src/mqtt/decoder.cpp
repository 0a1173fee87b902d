#include "mqtt/decoder.hpp"

#include <algorithm>
#include <initializer_list>

#include "mqtt/topic.hpp"
#include "mqtt/utf8.hpp"

namespace hermod::mqtt {

namespace {

const Error kMalformed{ReasonCode::malformed_packet, "malformed packet"};
const Error kTrailing{ReasonCode::malformed_packet, "bytes after the end of the packet"};
const Error kBadFlags{ReasonCode::malformed_packet, "reserved flag bits set in fixed header"};
const Error kZeroPacketId{ReasonCode::protocol_error, "packet identifier 0"};
const Error kControlCharacter{ReasonCode::malformed_packet, "control character in an identifier"};
const Error kEmptyFilter{ReasonCode::malformed_packet, "zero-length topic filter"};
const Error kBadReasonCode{ReasonCode::protocol_error, "reason code not allowed in this packet"};

#define HERMOD_TRY(var, expr)           \
  auto var##_r = (expr);                \
  if (!var##_r) return var##_r.error(); \
  auto var = std::move(*var##_r)

Result<void> finish(const Reader& in) {
  if (!in.empty()) return kTrailing;
  return {};
}

// A UTF-8 string that names something (client identifier, user name, topic, filter): control
// characters are refused as malformed, as 1.5.4 of 5.0 lets a receiver do (docs/conformance.md).
Result<std::string_view> identifier(Reader& in) {
  auto s = in.utf8();
  if (!s) return s;
  if (has_control_character(*s)) return kControlCharacter;
  return s;
}

// The reason codes each packet type may carry (tables 3-4 to 3-11 of MQTT 5.0); any other value
// in that packet is a protocol error, even one defined for another packet [MQTT-3.4.2-1]
// [MQTT-3.5.2-1] [MQTT-3.6.2-1] [MQTT-3.7.2-1] [MQTT-3.14.2-1] [MQTT-3.15.2-1].
bool one_of(std::uint8_t code, std::initializer_list<std::uint8_t> allowed) {
  return std::find(allowed.begin(), allowed.end(), code) != allowed.end();
}

bool reason_allowed(PacketType t, std::uint8_t c) {
  switch (t) {
    case PacketType::connack:
      return c == 0x00 || one_of(c, {0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A,
                                     0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F});
    case PacketType::puback:
    case PacketType::pubrec: return one_of(c, {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99});
    case PacketType::pubrel:
    case PacketType::pubcomp: return c == 0x00 || c == 0x92;
    case PacketType::suback:
      return one_of(c, {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2});
    case PacketType::unsuback: return one_of(c, {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91});
    case PacketType::disconnect:
      return c == 0x00 || c == 0x04 || (c >= 0x80 && c <= 0xA2 && !one_of(c, {0x84, 0x85, 0x86, 0x88, 0x8A, 0x8C, 0x91, 0x92}));
    case PacketType::auth: return one_of(c, {0x00, 0x18, 0x19});
    default: return false;
  }
}

// A topic filter as SUBSCRIBE and UNSUBSCRIBE carry it, checked as far as the packet's form goes:
// at least one character [MQTT-4.7.3-1] (malformed: an empty filter names nothing, so 0x8F
// "correctly formed but not accepted" does not fit), no control character, and in MQTT 5 a
// shared subscription "$share/{ShareName}/{filter}" with a ShareName of at least one character
// without '+' or '#', followed by '/' and a filter [MQTT-4.8.2-1] [MQTT-4.8.2-2] (a protocol
// error). Wildcard placement is the caller's: SUBACK answers it per filter.
Result<std::string_view> topic_filter(Reader& in, ProtocolVersion v) {
  auto f = identifier(in);
  if (!f) return f;
  if (f->empty()) return kEmptyFilter;
  if (is_v5(v)) {
    if (auto shared = parse_shared_filter(*f)) {
      if (shared->group.empty() || shared->group.find_first_of("+#") != std::string_view::npos ||
          shared->filter.empty()) {
        return Error{ReasonCode::protocol_error, "shared subscription without ShareName or filter"};
      }
    }
  }
  return f;
}

// A Response Topic is a topic name: no wildcards [MQTT-3.3.2-14], at least one character, no
// control characters; anything else is a protocol error (the property parsed).
Result<void> check_response_topic(const Properties& p) {
  if (!p.response_topic) return {};
  if (!is_valid_topic_name(*p.response_topic) || has_control_character(*p.response_topic)) {
    return Error{ReasonCode::protocol_error, "Response Topic is not a valid topic name"};
  }
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
  HERMOD_TRY(client_id, identifier(in));
  c.client_id = client_id;
  if (will_flag) {
    Will w;
    HERMOD_TRY(will_props, v5_properties(in, c.version, PropertyContext::will));
    if (auto r = check_response_topic(will_props); !r) return r.error();
    w.props = std::move(will_props);
    HERMOD_TRY(topic, identifier(in));
    if (!is_valid_topic_name(topic)) return Error{ReasonCode::topic_name_invalid, "invalid will topic"};
    HERMOD_TRY(payload, in.binary());
    w.topic = topic;
    w.payload = payload;
    w.qos = will_qos;
    w.retain = will_retain;
    c.will = std::move(w);
  }
  if (username_flag) {
    HERMOD_TRY(user, identifier(in));
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
  if (is_v5(v) && !reason_allowed(PacketType::connack, code)) return kBadReasonCode;
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
// The part of a PUBLISH both decoders read the same way. The topic is scanned once
// (scan_text); a wildcard is reported after the properties, as a topic-name error.
struct PublishHead {
  PublishView view;
  bool wildcard = false;
};

Result<PublishHead> publish_head(const FixedHeader& h, Reader& in) {
  PublishHead head;
  PublishView& p = head.view;
  p.dup = h.flags() & 0x08;
  p.qos = (h.flags() >> 1) & 0x03;
  p.retain = h.flags() & 0x01;
  if (p.qos == 3) return Error{ReasonCode::malformed_packet, "PUBLISH QoS 3"};
  if (p.qos == 0 && p.dup) return Error{ReasonCode::malformed_packet, "DUP set on QoS 0 PUBLISH"};
  HERMOD_TRY(topic, in.binary());
  const unsigned flags = scan_text(topic);
  if (flags & kTextBadUtf8) return Error{ReasonCode::malformed_packet, "invalid UTF-8 string"};
  if (flags & kTextControl) return kControlCharacter;
  head.wildcard = (flags & kTextWildcard) != 0;
  p.topic = topic;
  if (p.qos > 0) {
    HERMOD_TRY(id, nonzero_packet_id(in));
    p.packet_id = id;
  }
  return head;
}

Result<Packet> decode_publish(const FixedHeader& h, Reader& in, ProtocolVersion v) {
  HERMOD_TRY(head, publish_head(h, in));
  Publish p;
  p.dup = head.view.dup;
  p.qos = head.view.qos;
  p.retain = head.view.retain;
  p.packet_id = head.view.packet_id;
  const std::string_view topic = head.view.topic;
  HERMOD_TRY(props, v5_properties(in, v, PropertyContext::publish));
  if (auto r = check_response_topic(props); !r) return r.error();
  p.props = std::move(props);
  // An empty topic is allowed only in MQTT 5 together with a topic alias (3.3.2.3.4).
  const bool alias_only = topic.empty() && is_v5(v) && p.props.topic_alias;
  if (topic.empty() && is_v5(v) && !alias_only) {
    return Error{ReasonCode::protocol_error, "empty topic without topic alias"};  // 3.3.2.1
  }
  if (!alias_only && (topic.empty() || head.wildcard)) {
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
    if (!reason_allowed(Ack::kType, code)) return kBadReasonCode;
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
    HERMOD_TRY(filter, topic_filter(in, v));
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
    if (is_v5(v) && !reason_allowed(PacketType::suback, code)) return kBadReasonCode;
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
    HERMOD_TRY(filter, topic_filter(in, v));
    // An MQTT 5 UNSUBACK answers a bad filter with 0x8F; a 3.1.1 one cannot, so the only answer
    // left is to close: the filter breaks [MQTT-4.7.1-2] or [MQTT-4.7.1-3].
    if (!is_v5(v) && !is_valid_topic_filter(filter)) {
      return Error{ReasonCode::topic_filter_invalid, "invalid topic filter in UNSUBSCRIBE"};
    }
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
      if (!reason_allowed(PacketType::unsuback, code)) return kBadReasonCode;
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
    if (!reason_allowed(static_cast<PacketType>(ctx), code)) return kBadReasonCode;
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

// Required low-nibble flags for every type but PUBLISH [MQTT-2.2.2-1] [MQTT-2.2.2-2]. MQTT 3.1
// gave PUBREL, SUBSCRIBE and UNSUBSCRIBE a QoS of 1 and a DUP flag that may be set (0x0A).
bool flags_valid(const FixedHeader& h, ProtocolVersion v) {
  switch (h.type()) {
    case PacketType::publish: return true;
    case PacketType::pubrel:
    case PacketType::subscribe:
    case PacketType::unsubscribe: return h.flags() == 0x02 || (v == ProtocolVersion::v3_1 && h.flags() == 0x0A);
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
  PublishView p = head->view;
  if (is_v5(v)) {
    // Only a property length of 0 (one byte) takes this path; anything else is decoded whole.
    auto length = in.u8();
    if (!length) return length.error();
    if (*length != 0) return std::optional<PublishView>();
    if (p.topic.empty()) return Error{ReasonCode::protocol_error, "empty topic without topic alias"};
  }
  if (p.topic.empty() || head->wildcard) {
    return Error{ReasonCode::topic_name_invalid, "invalid topic name in PUBLISH"};
  }
  p.payload = in.rest();
  return std::optional<PublishView>(p);
}

Result<std::optional<PacketId>> decode_short_ack(const FixedHeader& h, std::string_view body) {
  const auto t = h.type();
  if ((t != PacketType::puback && t != PacketType::pubrec && t != PacketType::pubrel && t != PacketType::pubcomp) ||
      h.remaining_length != 2 || body.size() != 2) {
    return std::optional<PacketId>();
  }
  // A 3.1 PUBREL with DUP set is valid in 3.1 only: decode_packet knows the version.
  if (t == PacketType::pubrel && h.flags() == 0x0A) return std::optional<PacketId>();
  if (!flags_valid(h, ProtocolVersion::v3_1_1)) return kBadFlags;
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
  if (!flags_valid(header, version)) return kBadFlags;
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

Result<void> check_packet_type(const FixedHeader& h, Sender sender) {
  const auto t = h.type();
  if (static_cast<int>(t) == 0) return Error{ReasonCode::malformed_packet, "reserved packet type 0"};
  const bool server_only = t == PacketType::connack || t == PacketType::suback ||
                           t == PacketType::unsuback || t == PacketType::pingresp;
  const bool client_only = t == PacketType::connect || t == PacketType::subscribe ||
                           t == PacketType::unsubscribe || t == PacketType::pingreq;
  if (sender == Sender::client && server_only) {
    return Error{ReasonCode::protocol_error, "packet type only a server sends"};
  }
  if (sender == Sender::server && client_only) {
    return Error{ReasonCode::protocol_error, "packet type only a client sends"};
  }
  return {};
}

Result<Packet> decode_packet(const FixedHeader& header, std::string_view body, ProtocolVersion version,
                             Sender sender) {
  if (auto r = check_packet_type(header, sender); !r) return r.error();
  return decode_packet(header, body, version);
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
