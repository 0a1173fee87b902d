// Writing TOML text: quoted strings, comments, and a table of keys kept in the order they were
// put, for the configuration `hermod convert-config` prints. No I/O; any thread.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hermod::broker {

// `s` as a TOML basic string, quotes included: '"', '\' and control characters escaped.
std::string toml_quote(std::string_view s);

// `s` made fit for a TOML comment: control characters other than tab become '?'.
std::string toml_comment(std::string_view s);

// One table ("[limits]") or array-of-tables element ("[[listeners]]"): its comments, then its
// keys in the order they were put.
class TomlTable {
 public:
  explicit TomlTable(std::string header) : header_(std::move(header)) {}

  void comment(std::string_view text) { comments_.push_back(toml_comment(text)); }
  void put_string(const std::string& key, std::string_view value) { entries_.emplace_back(key, toml_quote(value)); }
  void put_int(const std::string& key, std::int64_t value) { entries_.emplace_back(key, std::to_string(value)); }
  void put_bool(const std::string& key, bool value) { entries_.emplace_back(key, value ? "true" : "false"); }

  bool empty() const { return entries_.empty(); }

  // A blank line, the header, the comments and the keys; nothing if there are no keys.
  void render(std::ostream& out) const;

 private:
  std::string header_;
  std::vector<std::string> comments_;
  std::vector<std::pair<std::string, std::string>> entries_;  // key, TOML value
};

}  // namespace hermod::broker
