// Log lines as JSON, one object per line, for `[broker] log_format = "json"` (log collectors that
// parse rather than read):
//   {"time":"2026-12-03T12:29:32.123Z","level":"info","logger":"broker","message":"..."}
// time is RFC 3339 in UTC with milliseconds; level is spdlog's name (trace, debug, info, warning,
// error, critical). Strings are escaped by nlohmann-json: quotes, backslashes and control
// characters as JSON escapes, bytes that are not UTF-8 (a client id, a topic) as U+FFFD, so every
// line parses whatever a client sent.
// A formatter belongs to one logger (spdlog clones it per logger); format() may run on any thread
// that logs, under that logger's sink lock.
#pragma once

#include <memory>

#include <spdlog/formatter.h>

namespace hermod {

class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

}  // namespace hermod
