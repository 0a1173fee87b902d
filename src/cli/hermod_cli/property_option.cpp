#include "property_option.hpp"

#include <charconv>
#include <stdexcept>

namespace hermod::cli {

namespace {

using mqtt::PropertyContext;
using mqtt::PropertyId;

struct NamedProperty {
  std::string_view name;
  PropertyId id;
};

// mosquitto's names for the properties a client may send.
constexpr NamedProperty kProperties[] = {
    {"payload-format-indicator", PropertyId::payload_format_indicator},
    {"message-expiry-interval", PropertyId::message_expiry_interval},
    {"content-type", PropertyId::content_type},
    {"response-topic", PropertyId::response_topic},
    {"correlation-data", PropertyId::correlation_data},
    {"subscription-identifier", PropertyId::subscription_identifier},
    {"session-expiry-interval", PropertyId::session_expiry_interval},
    {"authentication-method", PropertyId::authentication_method},
    {"authentication-data", PropertyId::authentication_data},
    {"request-problem-information", PropertyId::request_problem_information},
    {"will-delay-interval", PropertyId::will_delay_interval},
    {"request-response-information", PropertyId::request_response_information},
    {"reason-string", PropertyId::reason_string},
    {"receive-maximum", PropertyId::receive_maximum},
    {"topic-alias-maximum", PropertyId::topic_alias_maximum},
    {"topic-alias", PropertyId::topic_alias},
    {"user-property", PropertyId::user_property},
    {"maximum-packet-size", PropertyId::maximum_packet_size},
};

struct NamedCommand {
  std::string_view name;
  PropertyContext ctx;
  mqtt::Properties CommandProperties::*list;
};

constexpr NamedCommand kCommands[] = {
    {"connect", PropertyContext::connect, &CommandProperties::connect},
    {"publish", PropertyContext::publish, &CommandProperties::publish},
    {"subscribe", PropertyContext::subscribe, &CommandProperties::subscribe},
    {"unsubscribe", PropertyContext::unsubscribe, &CommandProperties::unsubscribe},
    {"disconnect", PropertyContext::disconnect, &CommandProperties::disconnect},
    {"will", PropertyContext::will, &CommandProperties::will},
};

[[noreturn]] void fail(std::string what) { throw std::invalid_argument(std::move(what)); }

template <typename T>
T number(std::string_view name, std::string_view text, std::uint64_t max) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v > max) {
    fail("invalid value '" + std::string(text) + "' for property " + std::string(name) + " (0.." +
         std::to_string(max) + ")");
  }
  return static_cast<T>(v);
}

void set(mqtt::Properties& p, PropertyId id, std::string_view name, std::string_view v, std::string_view v2) {
  auto u16 = [&] { return number<std::uint16_t>(name, v, 0xFFFF); };
  auto u32 = [&] { return number<std::uint32_t>(name, v, 0xFFFFFFFF); };
  switch (id) {
    case PropertyId::payload_format_indicator: p.payload_format_indicator = number<std::uint8_t>(name, v, 1); break;
    case PropertyId::message_expiry_interval: p.message_expiry_interval = u32(); break;
    case PropertyId::content_type: p.content_type = std::string(v); break;
    case PropertyId::response_topic: p.response_topic = std::string(v); break;
    case PropertyId::correlation_data: p.correlation_data = std::string(v); break;
    case PropertyId::subscription_identifier:
      p.subscription_identifiers = {number<std::uint32_t>(name, v, 268'435'455)};
      if (p.subscription_identifiers[0] == 0) fail("subscription-identifier must be 1 or more");
      break;
    case PropertyId::session_expiry_interval: p.session_expiry_interval = u32(); break;
    case PropertyId::authentication_method: p.authentication_method = std::string(v); break;
    case PropertyId::authentication_data: p.authentication_data = std::string(v); break;
    case PropertyId::request_problem_information: p.request_problem_information = number<std::uint8_t>(name, v, 1); break;
    case PropertyId::will_delay_interval: p.will_delay_interval = u32(); break;
    case PropertyId::request_response_information: p.request_response_information = number<std::uint8_t>(name, v, 1); break;
    case PropertyId::reason_string: p.reason_string = std::string(v); break;
    case PropertyId::receive_maximum:
      p.receive_maximum = u16();
      if (*p.receive_maximum == 0) fail("receive-maximum must be 1 or more");
      break;
    case PropertyId::topic_alias_maximum: p.topic_alias_maximum = u16(); break;
    case PropertyId::topic_alias: p.topic_alias = u16(); break;
    case PropertyId::user_property: p.user_properties.emplace_back(std::string(v), std::string(v2)); break;
    case PropertyId::maximum_packet_size: p.maximum_packet_size = u32(); break;
    default: fail("property " + std::string(name) + " cannot be set");
  }
}

}  // namespace

void apply_property(CommandProperties& out, std::string_view command, std::string_view name,
                    std::string_view value, std::string_view value2) {
  const NamedCommand* cmd = nullptr;
  for (const auto& c : kCommands) {
    if (c.name == command) cmd = &c;
  }
  if (!cmd) fail("invalid command '" + std::string(command) + "' for -D (connect, publish, subscribe, unsubscribe, disconnect, will)");
  const NamedProperty* prop = nullptr;
  for (const auto& p : kProperties) {
    if (p.name == name) prop = &p;
  }
  if (!prop) fail("invalid property '" + std::string(name) + "'");
  if (!mqtt::property_allowed(prop->id, cmd->ctx)) {
    fail("property " + std::string(name) + " is not allowed in " + std::string(command));
  }
  set(out.*(cmd->list), prop->id, name, value, value2);
  out.any = true;
}

void extract_properties(std::vector<std::string>& args, CommandProperties& out) {
  std::vector<std::string> rest;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] != "-D" && args[i] != "--property") {
      rest.push_back(args[i]);
      continue;
    }
    if (args.size() - i < 4) fail("-D needs: command property value");
    const std::string& command = args[i + 1];
    const std::string& name = args[i + 2];
    if (name == "user-property") {
      if (args.size() - i < 5) fail("-D ... user-property needs a name and a value");
      apply_property(out, command, name, args[i + 3], args[i + 4]);
      i += 4;
    } else {
      apply_property(out, command, name, args[i + 3]);
      i += 3;
    }
  }
  args = std::move(rest);
}

}  // namespace hermod::cli
