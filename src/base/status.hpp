// hermod::Status: success, or failure with a message for the log. For operations whose failure
// has no MQTT reason code of its own (a store commit, a file load) and whose cause is only known
// at run time (the text comes from RocksDB, the kernel, a parser). hermod::Result (mqtt/result.hpp)
// is the one for per-packet paths, with a reason code and a static explanation.
// Plain value type; any thread.
#pragma once

#include <string>
#include <utility>

namespace hermod {

class [[nodiscard]] Status {
 public:
  Status() = default;  // success
  static Status failure(std::string message) { return Status(std::move(message)); }

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  // Why it failed; empty on success.
  const std::string& message() const { return message_; }

 private:
  explicit Status(std::string message) : message_(std::move(message)), failed_(true) {}
  std::string message_;
  bool failed_ = false;
};

}  // namespace hermod
