#include "base/json_log_formatter.hpp"

#include <chrono>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace hermod {
namespace {

// One formatted line for `message` at 2026-12-03T12:29:32.045Z.
std::string line_for(spdlog::level::level_enum level, std::string_view message) {
  using namespace std::chrono;
  spdlog::details::log_msg msg(spdlog::source_loc{}, "broker", level,
                               spdlog::string_view_t(message.data(), message.size()));
  msg.time = spdlog::log_clock::time_point(duration_cast<spdlog::log_clock::duration>(
      seconds(1'796'300'972) + milliseconds(45)));
  JsonLogFormatter f;
  spdlog::memory_buf_t out;
  f.format(msg, out);
  return std::string(out.data(), out.size());
}

TEST(JsonLogFormatter, OneObjectPerLineWithTimeLevelLoggerMessage) {
  EXPECT_EQ(line_for(spdlog::level::info, "hermod started"),
            R"({"time":"2026-12-03T12:29:32.045Z","level":"info","logger":"broker","message":"hermod started"})"
            "\n");
}

TEST(JsonLogFormatter, LevelsUseSpdlogNames) {
  EXPECT_EQ(nlohmann::json::parse(line_for(spdlog::level::warn, "w"))["level"], "warning");
  EXPECT_EQ(nlohmann::json::parse(line_for(spdlog::level::err, "e"))["level"], "error");
}

TEST(JsonLogFormatter, EscapesQuotesBackslashesAndControlCharacters) {
  const std::string line = line_for(spdlog::level::info, std::string("a\"b\\c\nd\x01\x1f", 9));
  EXPECT_NE(line.find(R"("message":"a\"b\\c\nd\u0001\u001f")"), std::string::npos) << line;
  // The only newline is the one that ends the line.
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
}

TEST(JsonLogFormatter, InvalidUtf8BecomesReplacementCharacter) {
  const std::string line = line_for(spdlog::level::info, "id \xff\xfe end");
  const auto parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["message"], "id \xef\xbf\xbd\xef\xbf\xbd end") << line;
}

TEST(JsonLogFormatter, ValidUtf8IsKept) {
  const auto parsed = nlohmann::json::parse(line_for(spdlog::level::info, "caf\xc3\xa9"));
  EXPECT_EQ(parsed["message"], "caf\xc3\xa9");
}

}  // namespace
}  // namespace hermod
