// Logging: named spdlog loggers ("broker", "client", "config", ...) sharing one stderr sink, one
// level and one line format. spdlog's registry is the one process-wide thing Hermod keeps; it
// holds no broker state. Thread-safe (spdlog's multi-threaded sink).
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace hermod {

// How a line looks: text ("2026-12-03T12:29:32.123 info [broker] message", local time) or one
// JSON object per line (json_log_formatter.hpp).
enum class LogFormat { text, json };

// Sets the level ("trace".."off") and the format of every Hermod logger, those that exist and
// those created later. Call before workers start.
void init_logging(const std::string& level, LogFormat format = LogFormat::text);

// The logger for a component, created on first use.
std::shared_ptr<spdlog::logger> logger(const std::string& component);

}  // namespace hermod
