#include "progress.hpp"

#include <cstdio>

#include <unistd.h>

namespace hermod::cli {

ProgressLine::ProgressLine(boost::asio::io_context& io, std::string what, bool forced, bool quiet)
    : timer_(io), what_(std::move(what)), enabled_(!quiet && (forced || ::isatty(STDERR_FILENO))) {}

void ProgressLine::start() {
  started_ = last_ = std::chrono::steady_clock::now();
  if (!enabled_) return;
  timer_.expires_after(std::chrono::seconds(1));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

void ProgressLine::tick() {
  print("\r");
  timer_.expires_after(std::chrono::seconds(1));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

void ProgressLine::print(const char* end) {
  const auto now = std::chrono::steady_clock::now();
  const double span = std::chrono::duration<double>(now - last_).count();
  const double rate = span > 0 ? static_cast<double>(messages_ - last_messages_) / span : 0.0;
  std::fprintf(stderr, "hermod-cli %s: %llu messages, %.0f msg/s%s", what_.c_str(),
               static_cast<unsigned long long>(messages_), rate, end);
  std::fflush(stderr);
  last_ = now;
  last_messages_ = messages_;
  printed_ = true;
}

void ProgressLine::stop() {
  timer_.cancel();
  if (!enabled_ || (!printed_ && messages_ == 0)) return;
  // The summary: the average over the whole run.
  last_ = started_;
  last_messages_ = 0;
  print("\n");
}

}  // namespace hermod::cli
