#include "base/json_log_formatter.hpp"

#include <time.h>

#include <chrono>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace hermod {

namespace {

// "2026-12-03T12:29:32.123Z" (RFC 3339, UTC, milliseconds).
std::string rfc3339_utc_ms(spdlog::log_clock::time_point tp) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(tp.time_since_epoch()).count();
  const time_t secs = static_cast<time_t>(ms / 1000);
  tm utc{};
  gmtime_r(&secs, &utc);
  char buf[32];
  const int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                              utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                              static_cast<int>(ms % 1000));
  return std::string(buf, static_cast<std::size_t>(n));
}

}  // namespace

void JsonLogFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  // ordered_json keeps the keys in this order, time first, as people read a line.
  nlohmann::ordered_json line;
  line["time"] = rfc3339_utc_ms(msg.time);
  const auto level = spdlog::level::to_string_view(msg.level);
  line["level"] = std::string(level.data(), level.size());
  line["logger"] = std::string(msg.logger_name.data(), msg.logger_name.size());
  line["message"] = std::string(msg.payload.data(), msg.payload.size());
  // error_handler_t::replace: invalid UTF-8 becomes U+FFFD instead of an exception in a log call.
  const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  dest.append(text.data(), text.data() + text.size());
  dest.push_back('\n');
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const {
  return std::make_unique<JsonLogFormatter>();
}

}  // namespace hermod
