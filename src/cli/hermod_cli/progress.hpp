// The progress line of long pub/sub runs: once a second on stderr, "hermod-cli sub: 120000
// messages, 40210 msg/s", overwritten in place, then a summary line at the end. On by default
// only when stderr is a terminal (so pipes and scripts stay quiet), forced with --progress,
// never with --quiet. Runs on the command's io_context thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace hermod::cli {

class ProgressLine {
 public:
  // `what`: "sub" or "pub"; `forced`: --progress given; `quiet`: --quiet given.
  ProgressLine(boost::asio::io_context& io, std::string what, bool forced, bool quiet);

  void start();
  void count() { ++messages_; }
  // Stops the ticks and prints the summary (if the line is enabled and anything happened).
  void stop();

 private:
  void tick();
  void print(const char* end);

  boost::asio::steady_timer timer_;
  std::string what_;
  bool enabled_;
  bool printed_ = false;
  std::uint64_t messages_ = 0;
  std::uint64_t last_messages_ = 0;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace hermod::cli
