#include "http/prometheus_text.hpp"

#include <cassert>
#include <cmath>

#include <fmt/format.h>

namespace hermod::http {

namespace {

bool name_char(char c, bool first, bool colon) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
  return first ? alpha : alpha || (c >= '0' && c <= '9');
}

bool valid_name(std::string_view name, bool colon) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!name_char(name[i], i == 0, colon)) return false;
  }
  return true;
}

// Go's strconv float formatting as Prometheus parses it: NaN, +Inf, -Inf, else shortest form.
std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

}  // namespace

bool PrometheusText::valid_metric_name(std::string_view name) { return valid_name(name, true); }

bool PrometheusText::valid_label_name(std::string_view name) {
  return valid_name(name, false) && !name.starts_with("__");
}

std::string PrometheusText::escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (const char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string PrometheusText::escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (const char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void PrometheusText::family(std::string_view name, std::string_view type, std::string_view help) {
  assert(valid_metric_name(name));
  fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, escape_help(help), name, type);
}

void PrometheusText::begin_sample(std::string_view name, std::initializer_list<Label> labels, const Label* extra) {
  assert(valid_metric_name(name));
  out_ += name;
  if (labels.size() == 0 && !extra) {
    out_ += ' ';
    return;
  }
  out_ += '{';
  bool first = true;
  auto add = [&](const Label& l) {
    assert(valid_label_name(l.first));
    if (!first) out_ += ',';
    first = false;
    out_ += l.first;
    out_ += "=\"";
    out_ += escape_label_value(l.second);
    out_ += '"';
  };
  for (const auto& l : labels) add(l);
  if (extra) add(*extra);
  out_ += "} ";
}

void PrometheusText::sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value) {
  begin_sample(name, labels);
  fmt::format_to(std::back_inserter(out_), "{}\n", value);
}

void PrometheusText::sample(std::string_view name, std::initializer_list<Label> labels, double value) {
  begin_sample(name, labels);
  out_ += number(value);
  out_ += '\n';
}

void PrometheusText::histogram(std::string_view name, std::initializer_list<Label> labels,
                               std::span<const double> bounds, std::span<const std::uint64_t> counts, double sum) {
  assert(counts.size() == bounds.size() + 1);
  const std::string bucket = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    const std::string le = i < bounds.size() ? number(bounds[i]) : "+Inf";
    const Label extra{"le", le};
    begin_sample(bucket, labels, &extra);
    fmt::format_to(std::back_inserter(out_), "{}\n", cumulative);
  }
  sample(std::string(name) + "_sum", labels, sum);
  sample(std::string(name) + "_count", labels, cumulative);
}

}  // namespace hermod::http
