#include "output_format.hpp"

#include <ctime>

#include <fmt/format.h>

#include "mqtt/utf8.hpp"

namespace hermod::cli {

namespace {

using Clock = std::chrono::system_clock;

// mosquitto's timestamp shape, kept for scripts that parse it: 2020-05-06T22:12:00.000000Z+0000.
std::string iso_time(Clock::time_point now) {
  const std::time_t secs = Clock::to_time_t(now);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1'000'000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:06}Z+0000", date, micros);
}

std::string unix_time(Clock::time_point now) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  return fmt::format("{}.{:09}", ns / 1'000'000'000, ns % 1'000'000'000);
}

std::string hex(std::string_view bytes, bool upper) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) out += upper ? fmt::format("{:02X}", c) : fmt::format("{:02x}", c);
  return out;
}

std::string user_properties(const mqtt::Properties& p) {
  std::string out;
  for (const auto& [k, v] : p.user_properties) {
    if (!out.empty()) out += ' ';
    out += k + ":" + v;
  }
  return out;
}

std::string json_properties(const mqtt::Properties& p) {
  std::string out;
  auto field = [&](std::string_view name, const std::string& value) {
    if (!out.empty()) out += ',';
    out += json_string(name) + ":" + value;
  };
  if (!p.user_properties.empty()) {
    std::string users;
    for (const auto& [k, v] : p.user_properties) {
      if (!users.empty()) users += ',';
      users += json_string(k) + ":" + json_string(v);
    }
    field("user-properties", "{" + users + "}");
  }
  if (p.content_type) field("content-type", json_string(*p.content_type));
  if (p.response_topic) field("response-topic", json_string(*p.response_topic));
  if (p.correlation_data) field("correlation-data", json_string(*p.correlation_data));
  if (p.payload_format_indicator) field("payload-format-indicator", std::to_string(*p.payload_format_indicator));
  if (p.message_expiry_interval) field("message-expiry-interval", std::to_string(*p.message_expiry_interval));
  if (!p.subscription_identifiers.empty()) {
    std::string ids;
    for (auto id : p.subscription_identifiers) {
      if (!ids.empty()) ids += ',';
      ids += std::to_string(id);
    }
    field("subscription-identifiers", "[" + ids + "]");
  }
  return out;
}

char escape_char(char c) {
  switch (c) {
    case '\\': return '\\';
    case '0': return '\0';
    case 'a': return '\a';
    case 'e': return '\x1b';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'v': return '\v';
    default: return 0x7F;  // not an escape
  }
}

template <typename T>
std::string opt(const std::optional<T>& v) {
  if (!v) return {};
  if constexpr (std::is_same_v<T, std::string>) {
    return *v;
  } else {
    return std::to_string(*v);
  }
}

}  // namespace

std::string json_string(std::string_view s) {
  const bool utf8 = mqtt::is_valid_mqtt_utf8(s);
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || (c >= 0x80 && !utf8)) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

std::string json_message(const client::Message& m, Clock::time_point now) {
  std::string out = fmt::format(R"({{"tst":{},"topic":{},"qos":{},"retain":{},"payloadlen":{})",
                                json_string(iso_time(now)), json_string(m.topic), m.qos, m.retain ? 1 : 0,
                                m.payload.size());
  if (m.qos > 0) out += fmt::format(R"(,"mid":{})", m.packet_id);
  if (auto props = json_properties(m.props); !props.empty()) out += R"(,"properties":{)" + props + "}";
  out += R"(,"payload":)" + json_string(m.payload) + "}";
  return out;
}

std::string format_message(std::string_view format, const client::Message& m, Clock::time_point now) {
  std::string out;
  for (std::size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    const bool has_next = i + 1 < format.size();
    if (c == '\\' && has_next) {
      const char e = escape_char(format[i + 1]);
      if (e != 0x7F) {
        out += e;
        ++i;
        continue;
      }
    }
    if (c != '%' || !has_next) {
      out += c;
      continue;
    }
    const char spec = format[++i];
    const auto& p = m.props;
    switch (spec) {
      case '%': out += '%'; break;
      case 't': out += m.topic; break;
      case 'p': out += m.payload; break;
      case 'q': out += std::to_string(m.qos); break;
      case 'r': out += m.retain ? '1' : '0'; break;
      case 'l': out += std::to_string(m.payload.size()); break;
      case 'm': out += std::to_string(m.packet_id); break;
      case 'j': out += json_message(m, now); break;
      case 'x': out += hex(m.payload, false); break;
      case 'X': out += hex(m.payload, true); break;
      case 'I': out += iso_time(now); break;
      case 'U': out += unix_time(now); break;
      case 'C': out += opt(p.content_type); break;
      case 'D': out += opt(p.correlation_data); break;
      case 'E': out += opt(p.message_expiry_interval); break;
      case 'F': out += opt(p.payload_format_indicator); break;
      case 'P': out += user_properties(p); break;
      case 'R': out += opt(p.response_topic); break;
      case 'S':
        for (std::size_t k = 0; k < p.subscription_identifiers.size(); ++k) {
          if (k) out += ',';
          out += std::to_string(p.subscription_identifiers[k]);
        }
        break;
      default:
        out += '%';
        out += spec;
    }
  }
  return out;
}

}  // namespace hermod::cli
