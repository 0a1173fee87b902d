// hermod::Result<T>: a value or an Error, shaped like std::expected (not available in C++20 on GCC 12).
// Used on every per-packet path: malformed input is normal traffic and must never throw.
// Any thread; plain value type.
#pragma once

#include <cassert>
#include <string_view>
#include <utility>
#include <variant>

#include "mqtt/reason_code.hpp"

namespace hermod {

// Why an operation failed: the MQTT reason code to report (CONNACK, DISCONNECT, SUBACK...) and a
// static human-readable explanation for logs. `what` must point to storage that outlives the Error
// (string literals in practice).
struct Error {
  mqtt::ReasonCode code = mqtt::ReasonCode::unspecified_error;
  std::string_view what = "unspecified error";
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT: implicit like std::expected
  Result(Error error) : v_(std::move(error)) {}        // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { assert(failed_); return error_; }

 private:
  Error error_{};
  bool failed_ = false;
};

inline Error make_error(mqtt::ReasonCode code, std::string_view what) { return Error{code, what}; }

}  // namespace hermod
