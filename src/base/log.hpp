// Logging: named spdlog loggers ("broker", "client", "config", ...) sharing one stderr sink and
// one level. spdlog's registry is the one process-wide thing Hermod keeps; it holds no broker
// state. Thread-safe (spdlog's multi-threaded sink).
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace hermod {

// Sets the level of every Hermod logger ("trace".."off"). Call before workers start.
void init_logging(const std::string& level);

// The logger for a component, created on first use.
std::shared_ptr<spdlog::logger> logger(const std::string& component);

}  // namespace hermod
