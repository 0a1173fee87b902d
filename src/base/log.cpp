#include "base/log.hpp"

#include <mutex>

#include <spdlog/sinks/stdout_sinks.h>

namespace hermod {

namespace {
std::mutex& creation_mutex() {
  static std::mutex m;
  return m;
}
}  // namespace

void init_logging(const std::string& level) {
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
}

std::shared_ptr<spdlog::logger> logger(const std::string& component) {
  std::lock_guard lock(creation_mutex());
  if (auto l = spdlog::get(component)) return l;
  auto l = spdlog::stderr_logger_mt(component);
  l->set_level(spdlog::get_level());
  l->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
  return l;
}

}  // namespace hermod
