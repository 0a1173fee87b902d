// Topic validation and matching. Input: "filter\0name" (without a NUL, both are the whole input).
// Nothing may crash on any input. For a valid plain filter and a valid name, topic_matches must
// agree with a level-by-level reading of section 4.7 written independently below, and scan_text
// (the decoder's one-pass topic check) with the separate UTF-8, control and wildcard checks.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "mqtt/topic.hpp"
#include "mqtt/utf8.hpp"

using namespace hermod::mqtt;

namespace {

std::vector<std::string_view> levels(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const auto slash = s.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, slash - start));
    start = slash + 1;
  }
}

// 4.7.1.2: '#' matches the parent level and any number of child levels; 4.7.1.3: '+' matches
// exactly one level; [MQTT-4.7.2-1]: a leading wildcard does not match a name starting with '$'.
bool reference_matches(std::string_view filter, std::string_view name) {
  const auto f = levels(filter);
  const auto n = levels(name);
  if (!name.empty() && name[0] == '$' && (f[0] == "+" || f[0] == "#")) return false;
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] == "#") return true;
    if (i >= n.size()) return false;
    if (f[i] != "+" && f[i] != n[i]) return false;
  }
  return f.size() == n.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto nul = in.find('\0');
  const std::string_view filter = nul == std::string_view::npos ? in : in.substr(0, nul);
  const std::string_view name = nul == std::string_view::npos ? in : in.substr(nul + 1);

  const bool filter_ok = is_valid_topic_filter(filter);
  const bool name_ok = is_valid_topic_name(name);
  const bool matches = topic_matches(filter, name);  // must not crash even outside its preconditions
  const auto shared = parse_shared_filter(filter);

  if (shared) {
    FUZZ_CHECK(filter.substr(0, 7) == "$share/");
    FUZZ_CHECK(7 + shared->group.size() <= filter.size());
    if (!shared->filter.empty()) {
      FUZZ_CHECK(filter.substr(7 + shared->group.size()) == std::string(1, '/') + std::string(shared->filter));
    }
    if (filter_ok) {
      // 4.8.2: a non-empty share name without wildcards, then a non-empty topic filter (which may
      // itself start with "$share/": the standard does not forbid it).
      FUZZ_CHECK(!shared->group.empty() && !has_wildcard(shared->group));
      FUZZ_CHECK(!shared->filter.empty());
    }
  }
  if (name_ok) {
    FUZZ_CHECK(!name.empty() && !has_wildcard(name));
    // A valid name is a valid filter matching exactly itself (unless it reads as a shared filter).
    if (!parse_shared_filter(name)) {
      FUZZ_CHECK(is_valid_topic_filter(name));
      FUZZ_CHECK(topic_matches(name, name));
    }
  }
  if (filter_ok && !shared && name_ok) {
    FUZZ_CHECK(matches == reference_matches(filter, name));
    if (matches && !has_wildcard(filter)) FUZZ_CHECK(filter == name);
  }
  // The decoder's one-pass topic check agrees with the three separate ones.
  const unsigned flags = scan_text(in);
  FUZZ_CHECK(((flags & kTextBadUtf8) == 0) == is_valid_mqtt_utf8(in));
  if (!(flags & kTextBadUtf8)) {
    FUZZ_CHECK(((flags & kTextControl) != 0) == has_control_character(in));
    FUZZ_CHECK(((flags & kTextWildcard) != 0) == has_wildcard(in));
  }
  return 0;
}
