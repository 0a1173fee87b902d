// The values the client library hands to and receives from its user: a Message (both directions),
// and the results that completion handlers carry. Any thread; plain value types.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include "mqtt/packet.hpp"

namespace hermod::client {

// An application message. For publishing, `dup` and `packet_id` are ignored (the library sets
// them); on reception they tell what the broker sent (`packet_id` is 0 for QoS 0).
struct Message {
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  mqtt::PacketId packet_id = 0;
  mqtt::Properties props;  // MQTT 5 only; empty for 3.1/3.1.1
};

// Outcome of a publish. For QoS 1/2 on MQTT 5, `reason` is the PUBACK/PUBREC reason code
// (success, no_matching_subscribers, or a failure that also arrives as the error code).
struct PublishResult {
  mqtt::PacketId packet_id = 0;  // 0 for QoS 0
  mqtt::ReasonCode reason = mqtt::ReasonCode::success;
  mqtt::Properties props;        // PUBACK/PUBCOMP properties (reason string, user properties)
};

// One reason code per requested filter, in request order: granted QoS 0/1/2 or a failure
// (0x80 for 3.1.1 brokers). UNSUBACK on 3.1.1 carries no codes: all are reported as success.
struct SubscribeResult {
  std::vector<mqtt::ReasonCode> reasons;
  mqtt::Properties props;
};
using UnsubscribeResult = SubscribeResult;

// What the broker said in its CONNACK.
struct ConnectResult {
  bool session_present = false;
  mqtt::ReasonCode reason = mqtt::ReasonCode::success;
  mqtt::Properties props;  // MQTT 5: assigned client id, server keep alive, receive maximum...
  // A failed connection: what the error code cannot carry (the server's answer to a WebSocket
  // upgrade, which TLS file did not load, the decoder's explanation...). Empty on success.
  std::string detail;
};

// Why a connection ended.
struct DisconnectInfo {
  std::error_code ec;       // what went wrong (a reason_category() code for a server DISCONNECT)
  std::string detail;       // the decoder's explanation or the server's reason string, if any
  bool will_reconnect = false;  // true if the client is going to try again
};

using PublishHandler = std::function<void(std::error_code, const PublishResult&)>;
using SubscribeHandler = std::function<void(std::error_code, const SubscribeResult&)>;
using UnsubscribeHandler = std::function<void(std::error_code, const UnsubscribeResult&)>;
using ConnectHandler = std::function<void(std::error_code, const ConnectResult&)>;
using DisconnectHandler = std::function<void(std::error_code)>;
using MessageHandler = std::function<void(const Message&)>;

}  // namespace hermod::client
