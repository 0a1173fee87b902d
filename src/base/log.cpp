#include "base/log.hpp"

#include <mutex>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "base/json_log_formatter.hpp"

namespace hermod {

namespace {

constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v";

std::mutex& creation_mutex() {
  static std::mutex m;
  return m;
}

// spdlog's registry gives every logger it creates a clone of its formatter: the text pattern
// until init_logging chooses, so programs that never call it (hermod-cli, tests) log text too.
void set_default_pattern_once() {
  static std::once_flag once;
  std::call_once(once, [] { spdlog::set_pattern(kTextPattern); });
}

}  // namespace

void init_logging(const std::string& level, LogFormat format) {
  set_default_pattern_once();
  spdlog::set_level(spdlog::level::from_str(level));
  // set_formatter reaches the loggers that exist and, through the registry, those created later.
  if (format == LogFormat::json) {
    spdlog::set_formatter(std::make_unique<JsonLogFormatter>());
  } else {
    spdlog::set_formatter(std::make_unique<spdlog::pattern_formatter>(kTextPattern));
  }
}

std::shared_ptr<spdlog::logger> logger(const std::string& component) {
  set_default_pattern_once();
  std::lock_guard lock(creation_mutex());
  if (auto l = spdlog::get(component)) return l;
  auto l = spdlog::stderr_logger_mt(component);
  l->set_level(spdlog::get_level());
  return l;
}

}  // namespace hermod
