// The Prometheus text exposition format, version 0.0.4: metric families written one after the
// other, each a HELP and a TYPE line followed by its samples. Our own small writer: names are the
// caller's (checked in debug builds), label values and help texts are escaped here.
//
//   PrometheusText out;
//   out.family("hermod_messages_received_total", "counter", "PUBLISH packets from clients");
//   out.sample("hermod_messages_received_total", {{"qos", "0"}}, 42);
//   std::string body = out.take();   // Content-Type: text/plain; version=0.0.4
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace hermod::http {

using Label = std::pair<std::string_view, std::string_view>;

class PrometheusText {
 public:
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

  // `type`: counter, gauge, histogram (or untyped). Every sample of the family follows it.
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value);
  void sample(std::string_view name, std::initializer_list<Label> labels, double value);
  // A family of one sample without labels: family() and sample() in one.
  template <typename Value>
  void single(std::string_view name, std::string_view type, std::string_view help, Value value) {
    family(name, type, help);
    sample(name, {}, value);
  }
  // A histogram's samples: `counts[i]` observations at most `bounds[i]` (not cumulative; a last
  // count past the bounds for +Inf), their sum, under the family `name` written before.
  void histogram(std::string_view name, std::initializer_list<Label> labels, std::span<const double> bounds,
                 std::span<const std::uint64_t> counts, double sum);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

  // Label values: backslash, double quote and line feed escaped. HELP: backslash and line feed.
  static std::string escape_label_value(std::string_view v);
  static std::string escape_help(std::string_view v);
  // [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; label names may not hold ':'.
  static bool valid_metric_name(std::string_view name);
  static bool valid_label_name(std::string_view name);

 private:
  void begin_sample(std::string_view name, std::initializer_list<Label> labels, const Label* extra = nullptr);
  std::string out_;
};

}  // namespace hermod::http
