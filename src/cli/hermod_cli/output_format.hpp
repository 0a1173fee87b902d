// How `hermod-cli sub` prints a message: the payload alone, "topic payload" with -v, or a
// mosquitto_sub -F format string. Main thread only; pure formatting.
//
// -F specifiers (as mosquitto_sub): %% literal %, %t topic, %p payload, %q QoS, %r retain flag,
// %l payload length, %m message id (packet id; 0 for QoS 0), %j JSON object with the message,
// its MQTT 5 properties and an ISO-8601 timestamp, %x/%X payload as lower/upper case hex,
// %I ISO-8601 time, %U Unix time with nanoseconds, %C content type, %D correlation data,
// %E message expiry interval, %F payload format indicator, %P user properties (name:value,
// space separated), %R response topic, %S subscription identifiers. Escapes: \\ \0 \a \e \n \r
// \t \v. Unknown specifiers are printed as they are.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "client/message.hpp"

namespace hermod::cli {

// `message` rendered by `format` (see above), without a trailing newline.
std::string format_message(std::string_view format, const client::Message& message,
                           std::chrono::system_clock::time_point now);

// The %j object: {"tst":…,"topic":…,"qos":…,"retain":…,"payloadlen":…,["mid":…,]
// ["properties":{…},]"payload":…}. The payload is a JSON string (bytes that are not UTF-8 are
// escaped as \u00XX).
std::string json_message(const client::Message& message, std::chrono::system_clock::time_point now);

// JSON string literal for `s`, quotes included.
std::string json_string(std::string_view s);

}  // namespace hermod::cli
