#include "broker/config/mosquitto_conf.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>

#include "broker/config/config.hpp"

namespace hermod::broker::mosquitto {

namespace fs = std::filesystem;

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string read_whole_file(const std::string& shown, const fs::path& path, const Origin& from) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw ConfigError(from.file, from.line, "", shown + " is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(shown, 0, "", std::string("cannot read: ") + std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw ConfigError(shown, 0, "", std::string("cannot read: ") + std::strerror(errno));
  return buf.str();
}

// Upper case for ASCII letters, every other byte as it is.
unsigned char fold(char c) { return static_cast<unsigned char>(std::toupper(static_cast<unsigned char>(c))); }

}  // namespace

std::string Origin::str() const { return line == 0 ? file : file + ":" + std::to_string(line); }

std::vector<std::string> ConfLine::words() const {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < value.size()) {
    while (i < value.size() && value[i] == ' ') ++i;
    const std::size_t start = i;
    while (i < value.size() && value[i] != ' ') ++i;
    if (i > start) out.push_back(value.substr(start, i - start));
  }
  return out;
}

std::string Warning::str() const {
  std::string s = at.str() + ": ";
  if (!key.empty()) s += key + ": ";
  return s + message;
}

std::vector<ConfLine> parse_conf_text(std::string_view text, const std::string& file, bool main_file,
                                      std::vector<Warning>& warnings, std::size_t& seq) {
  std::vector<ConfLine> out;
  std::size_t number = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    std::size_t k = 0;
    while (k < line.size() && line[k] == ' ') ++k;
    if (k == line.size()) continue;  // only spaces
    const Origin at{file, number, seq++};
    if (line[k] == '#') {
      warnings.push_back({at, "", "a comment must start at the first character of its line (mosquitto refuses "
                                  "this one); skipped"});
      continue;
    }
    const std::size_t key_end = std::min(line.find(' ', k), line.size());
    ConfLine l;
    l.at = at;
    l.key = std::string(line.substr(k, key_end - k));
    std::size_t v = key_end;
    while (v < line.size() && line[v] == ' ') ++v;
    std::size_t v_end = line.size();
    while (v_end > v && is_space(line[v_end - 1])) --v_end;
    l.value = std::string(line.substr(v, v_end - v));
    l.main_file = main_file;
    out.push_back(std::move(l));
  }
  return out;
}

bool include_order_less(std::string_view a, std::string_view b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] == b[i]) continue;
    const unsigned char fa = fold(a[i]);
    const unsigned char fb = fold(b[i]);
    if (fa != fb) return fa < fb;
    return std::isupper(static_cast<unsigned char>(a[i])) != 0;  // same letter: upper case first
  }
  return a.size() < b.size();
}

std::vector<std::string> include_dir_files(const std::string& dir, const fs::path& cwd, const Origin& at) {
  std::error_code ec;
  const fs::path where = fs::path(dir).is_relative() ? cwd / dir : fs::path(dir);
  fs::directory_iterator it(where, ec);
  if (ec) throw ConfigError(at.file, at.line, "include_dir", "cannot open directory " + dir + ": " + ec.message());
  std::vector<std::string> names;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) throw ConfigError(at.file, at.line, "include_dir", "cannot list " + dir + ": " + ec.message());
    const std::string name = it->path().filename().string();
    if (name.size() < 5 || name.compare(name.size() - 5, 5, ".conf") != 0) continue;
    names.push_back(name);
  }
  std::sort(names.begin(), names.end(), [](const std::string& x, const std::string& y) {
    return include_order_less(x, y);
  });
  std::vector<std::string> out;
  for (const auto& name : names) {
    std::string path = dir;
    if (!path.empty() && path.back() != '/') path += '/';
    path += name;
    if (fs::is_directory(where / name, ec)) {
      throw ConfigError(at.file, at.line, "include_dir", path + " is a directory (mosquitto refuses it too)");
    }
    out.push_back(std::move(path));
  }
  return out;
}

std::string absolute_path(const std::string& path, const fs::path& cwd) {
  if (path.empty()) return path;
  fs::path p(path);
  if (p.is_relative()) p = cwd / p;
  std::string s = p.lexically_normal().string();
  // "dir/" and "dir" name the same directory; keep the slash off unless it is the root.
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

ConfText read_conf_text(std::string_view text, const std::string& path, const fs::path& cwd,
                        std::vector<Warning>& warnings) {
  // The main file is split first, but numbered in reading order: its lines and warnings up to an
  // include_dir, then the included files' lines, then the rest.
  std::size_t unused_seq = 0;
  std::vector<Warning> main_warnings;
  const auto main_lines = parse_conf_text(text, path, true, main_warnings, unused_seq);
  std::size_t seq = 1;
  std::size_t next_warning = 0;
  auto warnings_before = [&](std::size_t line) {
    for (; next_warning < main_warnings.size() && main_warnings[next_warning].at.line < line; ++next_warning) {
      warnings.push_back(main_warnings[next_warning]);
      warnings.back().at.seq = seq++;
    }
  };
  ConfText conf;
  conf.main_file = path;
  for (auto line : main_lines) {
    warnings_before(line.at.line);
    line.at.seq = seq++;
    conf.lines.push_back(line);
    if (line.key != "include_dir") continue;
    if (line.value.empty()) throw ConfigError(line.at.file, line.at.line, "include_dir", "no directory given");
    std::error_code ec;
    const fs::path main_path = fs::path(path).is_relative() ? cwd / path : fs::path(path);
    for (const auto& file : include_dir_files(line.value, cwd, line.at)) {
      const fs::path full = fs::path(file).is_relative() ? cwd / file : fs::path(file);
      if (!path.empty() && fs::equivalent(full, main_path, ec)) {
        throw ConfigError(line.at.file, line.at.line, "include_dir",
                          line.value + " holds the main configuration file (mosquitto.conf(5) forbids it)");
      }
      const std::string text_of_file = read_whole_file(file, full, line.at);
      conf.included.push_back(file);
      for (auto& included : parse_conf_text(text_of_file, file, false, warnings, seq)) {
        conf.lines.push_back(std::move(included));
      }
    }
  }
  warnings_before(std::numeric_limits<std::size_t>::max());
  return conf;
}

ConfText read_conf_file(const std::string& path, const fs::path& cwd, std::vector<Warning>& warnings) {
  const fs::path full = fs::path(path).is_relative() ? cwd / path : fs::path(path);
  const std::string text = read_whole_file(path, full, Origin{path, 0, 0});
  return read_conf_text(text, path, cwd, warnings);
}

}  // namespace hermod::broker::mosquitto
