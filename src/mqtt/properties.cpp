#include "mqtt/properties.hpp"

#include "mqtt/wire.hpp"

namespace hermod::mqtt {

namespace {

constexpr std::uint32_t bit(PropertyContext c) { return 1u << static_cast<unsigned>(c); }
constexpr std::uint32_t bits(std::initializer_list<PropertyContext> cs) {
  std::uint32_t m = 0;
  for (auto c : cs) m |= bit(c);
  return m;
}
using C = PropertyContext;
constexpr std::uint32_t kAnyPacket = 0xFFFEu & ~bits({C::pingreq, C::pingresp});
constexpr std::uint32_t kAcks = bits({C::connack, C::puback, C::pubrec, C::pubrel, C::pubcomp,
                                      C::suback, C::unsuback, C::disconnect, C::auth});

std::uint32_t allowed_mask(PropertyId id) {
  switch (id) {
    case PropertyId::payload_format_indicator:
    case PropertyId::message_expiry_interval:
    case PropertyId::content_type:
    case PropertyId::response_topic:
    case PropertyId::correlation_data: return bits({C::publish, C::will});
    case PropertyId::subscription_identifier: return bits({C::publish, C::subscribe});
    case PropertyId::session_expiry_interval: return bits({C::connect, C::connack, C::disconnect});
    case PropertyId::assigned_client_identifier:
    case PropertyId::server_keep_alive:
    case PropertyId::response_information:
    case PropertyId::maximum_qos:
    case PropertyId::retain_available:
    case PropertyId::wildcard_subscription_available:
    case PropertyId::subscription_identifier_available:
    case PropertyId::shared_subscription_available: return bits({C::connack});
    case PropertyId::authentication_method:
    case PropertyId::authentication_data: return bits({C::connect, C::connack, C::auth});
    case PropertyId::request_problem_information:
    case PropertyId::request_response_information: return bits({C::connect});
    case PropertyId::will_delay_interval: return bits({C::will});
    case PropertyId::server_reference: return bits({C::connack, C::disconnect});
    case PropertyId::reason_string: return kAcks;
    case PropertyId::receive_maximum:
    case PropertyId::topic_alias_maximum:
    case PropertyId::maximum_packet_size: return bits({C::connect, C::connack});
    case PropertyId::topic_alias: return bits({C::publish});
    case PropertyId::user_property: return kAnyPacket | bit(C::will);
  }
  return 0;
}

const Error kDuplicate{ReasonCode::protocol_error, "property repeated"};
const Error kBadValue{ReasonCode::protocol_error, "property value out of range"};
const Error kNotAllowed{ReasonCode::protocol_error, "property not allowed in this packet"};
const Error kUnknown{ReasonCode::malformed_packet, "unknown property identifier"};

// Reading a property list in one pass, in two kinds of failure: bytes that cannot be parsed end
// the read at once (malformed, 0x81); a property that parses but breaks a rule (not allowed in
// this packet, repeated, value out of range) is remembered and reported only once the whole list
// has parsed (protocol error, 0x82), so a list that is both is malformed wherever its bad bytes are.
struct PropertyReader {
  Reader& in;
  Properties& p;
  std::optional<Error> breach;  // the first rule broken by a property that parsed

  void note(const Error& e) {
    if (!breach) breach = e;
  }

  template <typename T>
  void set_once(std::optional<T>& field, T value) {
    if (field) return note(kDuplicate);
    field = std::move(value);
  }

  Result<void> flag(std::optional<std::uint8_t>& field) {
    auto v = in.u8();
    if (!v) return v.error();
    if (*v > 1) note(kBadValue);
    set_once(field, *v);
    return {};
  }

  Result<void> u16(std::optional<std::uint16_t>& field, bool zero_ok) {
    auto v = in.u16();
    if (!v) return v.error();
    if (!zero_ok && *v == 0) note(kBadValue);
    set_once(field, *v);
    return {};
  }

  Result<void> u32(std::optional<std::uint32_t>& field, bool zero_ok) {
    auto v = in.u32();
    if (!v) return v.error();
    if (!zero_ok && *v == 0) note(kBadValue);
    set_once(field, *v);
    return {};
  }

  Result<void> utf8(std::optional<std::string>& field) {
    auto v = in.utf8();
    if (!v) return v.error();
    set_once(field, std::string(*v));
    return {};
  }

  Result<void> binary(std::optional<std::string>& field) {
    auto v = in.binary();
    if (!v) return v.error();
    set_once(field, std::string(*v));
    return {};
  }

  Result<void> read(PropertyId id);
};

Result<void> PropertyReader::read(PropertyId id) {
  switch (id) {
    case PropertyId::payload_format_indicator: return flag(p.payload_format_indicator);
    case PropertyId::message_expiry_interval: return u32(p.message_expiry_interval, true);
    case PropertyId::content_type: return utf8(p.content_type);
    case PropertyId::response_topic: return utf8(p.response_topic);
    case PropertyId::correlation_data: return binary(p.correlation_data);
    case PropertyId::subscription_identifier: {
      auto v = in.varint();
      if (!v) return v.error();
      if (*v == 0) note(kBadValue);
      p.subscription_identifiers.push_back(*v);
      return {};
    }
    case PropertyId::session_expiry_interval: return u32(p.session_expiry_interval, true);
    case PropertyId::assigned_client_identifier: return utf8(p.assigned_client_identifier);
    case PropertyId::server_keep_alive: return u16(p.server_keep_alive, true);
    case PropertyId::authentication_method: return utf8(p.authentication_method);
    case PropertyId::authentication_data: return binary(p.authentication_data);
    case PropertyId::request_problem_information: return flag(p.request_problem_information);
    case PropertyId::will_delay_interval: return u32(p.will_delay_interval, true);
    case PropertyId::request_response_information: return flag(p.request_response_information);
    case PropertyId::response_information: return utf8(p.response_information);
    case PropertyId::server_reference: return utf8(p.server_reference);
    case PropertyId::reason_string: return utf8(p.reason_string);
    case PropertyId::receive_maximum: return u16(p.receive_maximum, false);
    case PropertyId::topic_alias_maximum: return u16(p.topic_alias_maximum, true);
    // 0 is invalid, but the receiver answers it with 0x94 (topic alias invalid), not 0x82.
    case PropertyId::topic_alias: return u16(p.topic_alias, true);
    case PropertyId::maximum_qos: return flag(p.maximum_qos);
    case PropertyId::retain_available: return flag(p.retain_available);
    case PropertyId::user_property: {
      auto k = in.utf8();
      if (!k) return k.error();
      auto v = in.utf8();
      if (!v) return v.error();
      p.user_properties.emplace_back(std::string(*k), std::string(*v));
      return {};
    }
    case PropertyId::maximum_packet_size: return u32(p.maximum_packet_size, false);
    case PropertyId::wildcard_subscription_available: return flag(p.wildcard_subscription_available);
    case PropertyId::subscription_identifier_available: return flag(p.subscription_identifier_available);
    case PropertyId::shared_subscription_available: return flag(p.shared_subscription_available);
  }
  return kUnknown;
}

// Visits each present property in encoding order as (id, writer) without building anything.
template <typename F>
void for_each_property(const Properties& p, PropertyContext ctx, F&& emit) {
  auto ok = [ctx](PropertyId id) { return property_allowed(id, ctx); };
  auto byte = [&](PropertyId id, const std::optional<std::uint8_t>& v) {
    if (v && ok(id)) emit(id, [&](std::string& o) { append_u8(o, *v); }, 1u);
  };
  auto u16 = [&](PropertyId id, const std::optional<std::uint16_t>& v) {
    if (v && ok(id)) emit(id, [&](std::string& o) { append_u16(o, *v); }, 2u);
  };
  auto u32 = [&](PropertyId id, const std::optional<std::uint32_t>& v) {
    if (v && ok(id)) emit(id, [&](std::string& o) { append_u32(o, *v); }, 4u);
  };
  auto str = [&](PropertyId id, const std::optional<std::string>& v) {
    if (v && ok(id)) {
      emit(id, [&](std::string& o) { append_string(o, *v); }, static_cast<std::uint32_t>(2 + v->size()));
    }
  };
  byte(PropertyId::payload_format_indicator, p.payload_format_indicator);
  u32(PropertyId::message_expiry_interval, p.message_expiry_interval);
  str(PropertyId::content_type, p.content_type);
  str(PropertyId::response_topic, p.response_topic);
  str(PropertyId::correlation_data, p.correlation_data);
  if (ok(PropertyId::subscription_identifier)) {
    for (auto id : p.subscription_identifiers) {
      emit(PropertyId::subscription_identifier, [id](std::string& o) { append_varint(o, id); },
           static_cast<std::uint32_t>(varint_size(id)));
    }
  }
  u32(PropertyId::session_expiry_interval, p.session_expiry_interval);
  str(PropertyId::assigned_client_identifier, p.assigned_client_identifier);
  u16(PropertyId::server_keep_alive, p.server_keep_alive);
  str(PropertyId::authentication_method, p.authentication_method);
  str(PropertyId::authentication_data, p.authentication_data);
  byte(PropertyId::request_problem_information, p.request_problem_information);
  u32(PropertyId::will_delay_interval, p.will_delay_interval);
  byte(PropertyId::request_response_information, p.request_response_information);
  str(PropertyId::response_information, p.response_information);
  str(PropertyId::server_reference, p.server_reference);
  str(PropertyId::reason_string, p.reason_string);
  u16(PropertyId::receive_maximum, p.receive_maximum);
  u16(PropertyId::topic_alias_maximum, p.topic_alias_maximum);
  u16(PropertyId::topic_alias, p.topic_alias);
  byte(PropertyId::maximum_qos, p.maximum_qos);
  byte(PropertyId::retain_available, p.retain_available);
  if (ok(PropertyId::user_property)) {
    for (const auto& [k, v] : p.user_properties) {
      emit(PropertyId::user_property,
           [&k = k, &v = v](std::string& o) { append_string(o, k); append_string(o, v); },
           static_cast<std::uint32_t>(4 + k.size() + v.size()));
    }
  }
  u32(PropertyId::maximum_packet_size, p.maximum_packet_size);
  byte(PropertyId::wildcard_subscription_available, p.wildcard_subscription_available);
  byte(PropertyId::subscription_identifier_available, p.subscription_identifier_available);
  byte(PropertyId::shared_subscription_available, p.shared_subscription_available);
}

std::uint32_t body_size(const Properties& p, PropertyContext ctx) {
  std::uint32_t n = 0;
  for_each_property(p, ctx, [&n](PropertyId, auto&&, std::uint32_t size) { n += 1 + size; });
  return n;
}

}  // namespace

bool Properties::empty() const { return *this == Properties{}; }

bool property_allowed(PropertyId id, PropertyContext ctx) {
  return (allowed_mask(id) & bit(ctx)) != 0;
}

Result<Properties> decode_properties(Reader& in, PropertyContext ctx) {
  auto length = in.varint();
  if (!length) return length.error();
  auto bytes = in.bytes(*length);
  if (!bytes) return bytes.error();
  Reader props_in(*bytes);
  Properties p;
  PropertyReader reader{props_in, p, std::nullopt};
  while (!props_in.empty()) {
    // Identifiers are variable byte integers (2.2.2.2), but every one defined fits in one byte:
    // anything else names no property and its value cannot be parsed.
    auto raw_id = props_in.varint();
    if (!raw_id) return raw_id.error();
    if (*raw_id > 0xFF || allowed_mask(static_cast<PropertyId>(*raw_id)) == 0) return kUnknown;
    const auto id = static_cast<PropertyId>(*raw_id);
    if (!property_allowed(id, ctx)) reader.note(kNotAllowed);
    if (auto r = reader.read(id); !r) return r.error();
  }
  if (reader.breach) return *reader.breach;
  return p;
}

void encode_properties(std::string& out, const Properties& props, PropertyContext ctx) {
  append_varint(out, body_size(props, ctx));
  for_each_property(props, ctx, [&out](PropertyId id, auto&& write, std::uint32_t) {
    append_u8(out, static_cast<std::uint8_t>(id));
    write(out);
  });
}

std::uint32_t encoded_properties_size(const Properties& props, PropertyContext ctx) {
  const auto n = body_size(props, ctx);
  return n + varint_size(n);
}

}  // namespace hermod::mqtt
