#include "mqtt/reason_code.hpp"

namespace hermod::mqtt {

std::string_view to_string(ReasonCode rc) {
  switch (rc) {
    case ReasonCode::success: return "success";
    case ReasonCode::granted_qos_1: return "granted QoS 1";
    case ReasonCode::granted_qos_2: return "granted QoS 2";
    case ReasonCode::disconnect_with_will_message: return "disconnect with will message";
    case ReasonCode::no_matching_subscribers: return "no matching subscribers";
    case ReasonCode::no_subscription_existed: return "no subscription existed";
    case ReasonCode::continue_authentication: return "continue authentication";
    case ReasonCode::re_authenticate: return "re-authenticate";
    case ReasonCode::unspecified_error: return "unspecified error";
    case ReasonCode::malformed_packet: return "malformed packet";
    case ReasonCode::protocol_error: return "protocol error";
    case ReasonCode::implementation_specific_error: return "implementation specific error";
    case ReasonCode::unsupported_protocol_version: return "unsupported protocol version";
    case ReasonCode::client_identifier_not_valid: return "client identifier not valid";
    case ReasonCode::bad_user_name_or_password: return "bad user name or password";
    case ReasonCode::not_authorized: return "not authorized";
    case ReasonCode::server_unavailable: return "server unavailable";
    case ReasonCode::server_busy: return "server busy";
    case ReasonCode::banned: return "banned";
    case ReasonCode::server_shutting_down: return "server shutting down";
    case ReasonCode::bad_authentication_method: return "bad authentication method";
    case ReasonCode::keep_alive_timeout: return "keep alive timeout";
    case ReasonCode::session_taken_over: return "session taken over";
    case ReasonCode::topic_filter_invalid: return "topic filter invalid";
    case ReasonCode::topic_name_invalid: return "topic name invalid";
    case ReasonCode::packet_identifier_in_use: return "packet identifier in use";
    case ReasonCode::packet_identifier_not_found: return "packet identifier not found";
    case ReasonCode::receive_maximum_exceeded: return "receive maximum exceeded";
    case ReasonCode::topic_alias_invalid: return "topic alias invalid";
    case ReasonCode::packet_too_large: return "packet too large";
    case ReasonCode::message_rate_too_high: return "message rate too high";
    case ReasonCode::quota_exceeded: return "quota exceeded";
    case ReasonCode::administrative_action: return "administrative action";
    case ReasonCode::payload_format_invalid: return "payload format invalid";
    case ReasonCode::retain_not_supported: return "retain not supported";
    case ReasonCode::qos_not_supported: return "QoS not supported";
    case ReasonCode::use_another_server: return "use another server";
    case ReasonCode::server_moved: return "server moved";
    case ReasonCode::shared_subscriptions_not_supported: return "shared subscriptions not supported";
    case ReasonCode::connection_rate_exceeded: return "connection rate exceeded";
    case ReasonCode::maximum_connect_time: return "maximum connect time";
    case ReasonCode::subscription_identifiers_not_supported: return "subscription identifiers not supported";
    case ReasonCode::wildcard_subscriptions_not_supported: return "wildcard subscriptions not supported";
  }
  return "unknown";
}

bool is_known_reason_code(std::uint8_t value) {
  return to_string(static_cast<ReasonCode>(value)) != "unknown";
}

std::uint8_t to_v3_connack_code(ReasonCode rc) {
  switch (rc) {
    case ReasonCode::success: return 0;
    case ReasonCode::unsupported_protocol_version: return 1;
    case ReasonCode::client_identifier_not_valid: return 2;
    case ReasonCode::bad_user_name_or_password: return 4;
    case ReasonCode::not_authorized:
    case ReasonCode::banned:
    case ReasonCode::bad_authentication_method: return 5;
    default: return 3;  // server unavailable: the closest 3.1.1 meaning of any other refusal
  }
}

ReasonCode from_v3_connack_code(std::uint8_t code) {
  switch (code) {
    case 0: return ReasonCode::success;
    case 1: return ReasonCode::unsupported_protocol_version;
    case 2: return ReasonCode::client_identifier_not_valid;
    case 3: return ReasonCode::server_unavailable;
    case 4: return ReasonCode::bad_user_name_or_password;
    case 5: return ReasonCode::not_authorized;
    default: return ReasonCode::unspecified_error;
  }
}

}  // namespace hermod::mqtt
