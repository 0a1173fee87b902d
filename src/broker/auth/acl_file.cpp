#include "broker/auth/acl_file.hpp"

#include <fstream>
#include <sstream>

#include "broker/config/config.hpp"
#include "mqtt/topic.hpp"

namespace hermod::broker::auth {

namespace {

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// The first word of `s` and the rest, trimmed.
std::pair<std::string_view, std::string_view> first_word(std::string_view s) {
  const auto end = s.find_first_of(" \t");
  if (end == std::string_view::npos) return {s, {}};
  return {s.substr(0, end), trim(s.substr(end))};
}

std::optional<Access> access_word(std::string_view w) {
  if (w == "read") return Access::read;
  if (w == "write") return Access::write;
  if (w == "readwrite") return Access::readwrite;
  if (w == "deny") return Access::deny;
  return std::nullopt;
}

// Why `filter` cannot be a rule, or empty.
std::string filter_problem(std::string_view filter, bool pattern) {
  if (filter.empty()) return "a topic filter is missing";
  if (!mqtt::is_valid_topic_filter(filter)) return "\"" + std::string(filter) + "\" is not a valid topic filter";
  if (!pattern) return {};
  for (std::string_view rest = filter;;) {
    const auto slash = rest.find('/');
    const auto level = rest.substr(0, slash);
    if (level != "%u" && level != "%c" &&
        (level.find("%u") != std::string_view::npos || level.find("%c") != std::string_view::npos)) {
      return "%u and %c must be a whole topic level (\"a/%u/b\"), not part of \"" + std::string(level) + "\"";
    }
    if (slash == std::string_view::npos) return {};
    rest.remove_prefix(slash + 1);
  }
}

}  // namespace

std::shared_ptr<const Acl> parse_acl_file(std::string_view text, const std::string& source, std::uint64_t generation) {
  auto acl = std::make_shared<Acl>(generation);
  Acl::Section section;
  std::size_t number = 0;
  while (!text.empty()) {
    const auto end = text.find('\n');
    const std::string_view line = trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    ++number;
    if (line.empty() || line.front() == '#') continue;
    const auto fail = [&](const std::string& why) { throw ConfigError(source, number, "", why); };
    const auto [keyword, rest] = first_word(line);
    if (keyword == "user" || keyword == "client") {
      if (rest.empty()) fail(std::string(keyword) + " needs a name");
      section.kind = keyword == "user" ? Acl::Section::Kind::user : Acl::Section::Kind::client;
      section.name = std::string(rest);
      continue;
    }
    if (keyword != "topic" && keyword != "pattern") {
      fail("unknown keyword \"" + std::string(keyword) + "\" (expected user, client, topic or pattern)");
    }
    const bool pattern = keyword == "pattern";
    // As Mosquitto reads it: one word is the filter (readwrite); with more, the first is the
    // access and the rest of the line the filter.
    Access access = Access::readwrite;
    std::string_view filter = rest;
    if (const auto [word, after] = first_word(rest); !after.empty()) {
      const auto a = access_word(word);
      if (!a) fail(std::string(keyword) + ": unknown access \"" + std::string(word) + "\" (expected read, write, readwrite or deny)");
      access = *a;
      filter = after;
    }
    if (const auto why = filter_problem(filter, pattern); !why.empty()) fail(std::string(keyword) + ": " + why);
    if (pattern) {
      acl->add_pattern(filter, access);
    } else {
      acl->add_topic(section, filter, access);
    }
  }
  return acl;
}

std::shared_ptr<const Acl> load_acl_file(const std::string& path, std::uint64_t generation) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path, 0, "", "cannot open the ACL file");
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_acl_file(buf.str(), path, generation);
}

}  // namespace hermod::broker::auth
