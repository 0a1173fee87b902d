// A connection's enhanced-authentication state (MQTT 5 section 4.12). A Connection holds it by
// one unique_ptr that stays null unless the client named an Authentication Method in CONNECT, so
// the common connection pays 8 bytes for it. While an exchange runs it holds the exchange (and,
// before CONNACK, the CONNECT waiting to be accepted); afterwards only the method and the user,
// which a re-authentication must match. Owned by one connection; its worker thread only.
#pragma once

#include <memory>
#include <string>

#include "broker/auth/auth_method.hpp"
#include "mqtt/packet.hpp"

namespace hermod::broker {

struct ConnectionAuth {
  const auth::AuthMethod* method = nullptr;  // owned by the broker's Authenticator
  std::string user;                          // set once the first exchange succeeded
  std::unique_ptr<auth::AuthExchange> exchange;  // null between exchanges
  std::unique_ptr<mqtt::Connect> connect;        // the CONNECT, until its exchange ends
};

}  // namespace hermod::broker
