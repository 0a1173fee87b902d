#include "mqtt/encoder.hpp"

#include <cassert>

#include "mqtt/wire.hpp"

namespace hermod::mqtt {

namespace {

// Appends fixed header + body. Control packets are small, so building the body first and copying
// it once is simpler than computing every size up front.
void frame(std::string& out, PacketType type, std::uint8_t flags, const std::string& body) {
  append_u8(out, static_cast<std::uint8_t>((static_cast<std::uint8_t>(type) << 4) | flags));
  append_varint(out, static_cast<std::uint32_t>(body.size()));
  out.append(body);
}

struct Encoder {
  ProtocolVersion v;
  std::string& out;

  bool v5() const { return is_v5(v); }

  void operator()(const Connect& c) {
    std::string b;
    const bool v31 = c.version == ProtocolVersion::v3_1;
    append_string(b, v31 ? "MQIsdp" : "MQTT");
    append_u8(b, static_cast<std::uint8_t>(c.version));
    std::uint8_t flags = 0;
    if (c.clean_start) flags |= 0x02;
    if (c.will) {
      flags |= 0x04;
      flags |= static_cast<std::uint8_t>(c.will->qos << 3);
      if (c.will->retain) flags |= 0x20;
    }
    if (c.password) flags |= 0x40;
    if (c.username) flags |= 0x80;
    append_u8(b, flags);
    append_u16(b, c.keep_alive);
    const bool c5 = is_v5(c.version);
    if (c5) encode_properties(b, c.props, PropertyContext::connect);
    append_string(b, c.client_id);
    if (c.will) {
      if (c5) encode_properties(b, c.will->props, PropertyContext::will);
      append_string(b, c.will->topic);
      append_string(b, c.will->payload);
    }
    if (c.username) append_string(b, *c.username);
    if (c.password) append_string(b, *c.password);
    frame(out, PacketType::connect, 0, b);
  }

  void operator()(const Connack& c) {
    std::string b;
    append_u8(b, c.session_present ? 1 : 0);
    append_u8(b, v5() ? static_cast<std::uint8_t>(c.reason) : to_v3_connack_code(c.reason));
    if (v5()) encode_properties(b, c.props, PropertyContext::connack);
    frame(out, PacketType::connack, 0, b);
  }

  void operator()(const Publish& p) {
    PublishHeader h{p.topic, p.payload.size(), p.qos, p.retain, p.dup, p.packet_id, &p.props};
    encode_publish_header(h, v, out);
    out.append(p.payload);
  }

  template <PacketType T>
  void operator()(const PublishResponse<T>& a) {
    std::string b;
    append_u16(b, a.packet_id);
    // MQTT 5 allows omitting a success reason without properties (3.4.2.1).
    if (v5() && (a.reason != ReasonCode::success || !a.props.empty())) {
      append_u8(b, static_cast<std::uint8_t>(a.reason));
      if (!a.props.empty()) encode_properties(b, a.props, context_of(T));
    }
    frame(out, T, T == PacketType::pubrel ? 0x02 : 0, b);
  }

  void operator()(const Subscribe& s) {
    std::string b;
    append_u16(b, s.packet_id);
    if (v5()) encode_properties(b, s.props, PropertyContext::subscribe);
    for (const auto& t : s.subscriptions) {
      append_string(b, t.filter);
      std::uint8_t o = t.options.qos;
      if (v5()) {
        if (t.options.no_local) o |= 0x04;
        if (t.options.retain_as_published) o |= 0x08;
        o |= static_cast<std::uint8_t>(t.options.retain_handling << 4);
      }
      append_u8(b, o);
    }
    frame(out, PacketType::subscribe, 0x02, b);
  }

  void operator()(const Suback& s) {
    std::string b;
    append_u16(b, s.packet_id);
    if (v5()) encode_properties(b, s.props, PropertyContext::suback);
    for (auto r : s.reasons) {
      // 3.1.1 knows only 0, 1, 2 and 0x80.
      append_u8(b, v5() || !is_failure(r) ? static_cast<std::uint8_t>(r) : 0x80);
    }
    frame(out, PacketType::suback, 0, b);
  }

  void operator()(const Unsubscribe& u) {
    std::string b;
    append_u16(b, u.packet_id);
    if (v5()) encode_properties(b, u.props, PropertyContext::unsubscribe);
    for (const auto& f : u.filters) append_string(b, f);
    frame(out, PacketType::unsubscribe, 0x02, b);
  }

  void operator()(const Unsuback& u) {
    std::string b;
    append_u16(b, u.packet_id);
    if (v5()) {
      encode_properties(b, u.props, PropertyContext::unsuback);
      for (auto r : u.reasons) append_u8(b, static_cast<std::uint8_t>(r));
    }
    frame(out, PacketType::unsuback, 0, b);
  }

  void operator()(const Pingreq&) { frame(out, PacketType::pingreq, 0, {}); }
  void operator()(const Pingresp&) { frame(out, PacketType::pingresp, 0, {}); }

  void operator()(const Disconnect& d) { reason_only(PacketType::disconnect, d.reason, d.props); }
  void operator()(const Auth& a) { reason_only(PacketType::auth, a.reason, a.props); }

  void reason_only(PacketType type, ReasonCode reason, const Properties& props) {
    std::string b;
    if (v5() && (reason != ReasonCode::success || !props.empty())) {
      append_u8(b, static_cast<std::uint8_t>(reason));
      if (!props.empty()) encode_properties(b, props, context_of(type));
    }
    frame(out, type, 0, b);
  }
};

std::uint32_t publish_remaining_length(const PublishHeader& h, ProtocolVersion v) {
  std::size_t n = 2 + h.topic.size() + h.payload_size;
  if (h.qos > 0) n += 2;
  if (is_v5(v)) n += h.props ? encoded_properties_size(*h.props, PropertyContext::publish) : 1;
  return static_cast<std::uint32_t>(n);
}

}  // namespace

void encode(const Packet& packet, ProtocolVersion version, std::string& out) {
  std::visit(Encoder{version, out}, packet);
}

std::string encode(const Packet& packet, ProtocolVersion version) {
  std::string out;
  encode(packet, version, out);
  return out;
}

void encode_publish_header(const PublishHeader& h, ProtocolVersion v, std::string& out) {
  std::uint8_t first = static_cast<std::uint8_t>(PacketType::publish) << 4;
  if (h.dup) first |= 0x08;
  first |= static_cast<std::uint8_t>(h.qos << 1);
  if (h.retain) first |= 0x01;
  append_u8(out, first);
  append_varint(out, publish_remaining_length(h, v));
  append_string(out, h.topic);
  if (h.qos > 0) append_u16(out, h.packet_id);
  if (is_v5(v)) {
    if (h.props) {
      encode_properties(out, *h.props, PropertyContext::publish);
    } else {
      append_varint(out, 0);
    }
  }
}

std::size_t publish_size(const PublishHeader& h, ProtocolVersion v) {
  const auto rl = publish_remaining_length(h, v);
  return 1 + varint_size(rl) + rl;
}

}  // namespace hermod::mqtt
