#include "mqtt/packet.hpp"

namespace hermod::mqtt {

namespace {
template <typename T>
struct TypeOf;
#define HERMOD_TYPE_OF(S, E) \
  template <>                \
  struct TypeOf<S> {         \
    static constexpr PacketType value = PacketType::E; \
  }
HERMOD_TYPE_OF(Connect, connect);
HERMOD_TYPE_OF(Connack, connack);
HERMOD_TYPE_OF(Publish, publish);
HERMOD_TYPE_OF(Subscribe, subscribe);
HERMOD_TYPE_OF(Suback, suback);
HERMOD_TYPE_OF(Unsubscribe, unsubscribe);
HERMOD_TYPE_OF(Unsuback, unsuback);
HERMOD_TYPE_OF(Pingreq, pingreq);
HERMOD_TYPE_OF(Pingresp, pingresp);
HERMOD_TYPE_OF(Disconnect, disconnect);
HERMOD_TYPE_OF(Auth, auth);
#undef HERMOD_TYPE_OF
template <PacketType T>
struct TypeOf<PublishResponse<T>> {
  static constexpr PacketType value = T;
};
}  // namespace

PacketType type_of(const Packet& p) {
  return std::visit([](const auto& x) { return TypeOf<std::decay_t<decltype(x)>>::value; }, p);
}

std::string_view to_string(PacketType t) {
  switch (t) {
    case PacketType::connect: return "CONNECT";
    case PacketType::connack: return "CONNACK";
    case PacketType::publish: return "PUBLISH";
    case PacketType::puback: return "PUBACK";
    case PacketType::pubrec: return "PUBREC";
    case PacketType::pubrel: return "PUBREL";
    case PacketType::pubcomp: return "PUBCOMP";
    case PacketType::subscribe: return "SUBSCRIBE";
    case PacketType::suback: return "SUBACK";
    case PacketType::unsubscribe: return "UNSUBSCRIBE";
    case PacketType::unsuback: return "UNSUBACK";
    case PacketType::pingreq: return "PINGREQ";
    case PacketType::pingresp: return "PINGRESP";
    case PacketType::disconnect: return "DISCONNECT";
    case PacketType::auth: return "AUTH";
  }
  return "RESERVED";
}

std::string_view to_string(ProtocolVersion v) {
  switch (v) {
    case ProtocolVersion::v3_1: return "3.1";
    case ProtocolVersion::v3_1_1: return "3.1.1";
    case ProtocolVersion::v5: return "5.0";
  }
  return "unknown";
}

}  // namespace hermod::mqtt
