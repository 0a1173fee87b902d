#include "broker/auth/password_file.hpp"

#include <charconv>
#include <fstream>
#include <functional>
#include <sstream>
#include <vector>

#include "broker/auth/crypto.hpp"
#include "broker/config/config.hpp"
#include "mqtt/utf8.hpp"

namespace hermod::broker::auth {

namespace {

constexpr std::string_view kScheme = "scram-sha-256";
constexpr std::size_t kSaltSize = 16;

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

bool is_entry(std::string_view line) { return !line.empty() && line.front() != '#'; }

// Calls f(line number, line without its newline) for every line of `text`.
void for_each_line(std::string_view text, const std::function<void(std::size_t, std::string_view)>& f) {
  std::size_t number = 0;
  while (!text.empty()) {
    const auto end = text.find('\n');
    f(++number, text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (;;) {
    const auto pos = s.find(sep);
    parts.push_back(s.substr(0, pos));
    if (pos == std::string_view::npos) return parts;
    s.remove_prefix(pos + 1);
  }
}

// The credential after "user:", or the reason it is not one.
std::optional<ScramCredential> parse_credential(std::string_view s, std::string& error) {
  const auto f = split(s, '$');
  if (f.size() < 2 || !f[0].empty() || f[1] != kScheme) {
    error = "expected user:$scram-sha-256$<iterations>$<salt>$<StoredKey>$<ServerKey>";
    return std::nullopt;
  }
  if (f.size() != 6) {
    error = "a $scram-sha-256$ entry has 4 fields after the scheme, this one has " + std::to_string(f.size() - 2);
    return std::nullopt;
  }
  ScramCredential c;
  const auto [end, ec] = std::from_chars(f[2].data(), f[2].data() + f[2].size(), c.iterations);
  if (ec != std::errc() || end != f[2].data() + f[2].size() || c.iterations < kMinIterations ||
      c.iterations > kMaxIterations) {
    error = "iterations must be a number from " + std::to_string(kMinIterations) + " to " +
            std::to_string(kMaxIterations);
    return std::nullopt;
  }
  auto salt = base64_decode(f[3]);
  auto stored = base64_decode(f[4]);
  auto server = base64_decode(f[5]);
  if (!salt || salt->empty()) {
    error = "the salt is not base64";
  } else if (!stored || stored->size() != kSha256Size) {
    error = "StoredKey is not 32 bytes in base64";
  } else if (!server || server->size() != kSha256Size) {
    error = "ServerKey is not 32 bytes in base64";
  } else {
    c.salt = std::move(*salt);
    c.stored_key = std::move(*stored);
    c.server_key = std::move(*server);
    return c;
  }
  return std::nullopt;
}

}  // namespace

namespace {
// RFC 5802's StoredKey = H(HMAC(SaltedPassword, "Client Key")).
std::optional<std::string> stored_key_of(const std::string& salted) {
  const auto client_key = hmac_sha256(salted, "Client Key");
  return client_key ? sha256(*client_key) : std::nullopt;
}
}  // namespace

std::optional<ScramCredential> make_credential(std::string_view password, std::uint32_t iterations,
                                               std::string salt) {
  ScramCredential c;
  c.iterations = iterations;
  if (salt.empty()) {
    auto fresh = random_bytes(kSaltSize);
    if (!fresh) return std::nullopt;
    salt = std::move(*fresh);
  }
  c.salt = std::move(salt);
  const auto salted = pbkdf2_sha256(password, c.salt, iterations);
  if (!salted) return std::nullopt;
  auto stored = stored_key_of(*salted);
  auto server = hmac_sha256(*salted, "Server Key");
  if (!stored || !server) return std::nullopt;
  c.stored_key = std::move(*stored);
  c.server_key = std::move(*server);
  return c;
}

bool verify_password(const ScramCredential& c, std::string_view password) {
  const auto salted = pbkdf2_sha256(password, c.salt, c.iterations);
  const auto stored = salted ? stored_key_of(*salted) : std::nullopt;
  return stored && equal_constant_time(*stored, c.stored_key);
}

std::string format_credential(const ScramCredential& c) {
  return "$" + std::string(kScheme) + "$" + std::to_string(c.iterations) + "$" + base64_encode(c.salt) + "$" +
         base64_encode(c.stored_key) + "$" + base64_encode(c.server_key);
}

std::string username_problem(std::string_view user) {
  if (user.empty()) return "the user name is empty";
  if (user.size() > 65535) return "the user name is longer than 65535 bytes";
  if (!mqtt::is_valid_mqtt_utf8(user)) return "the user name is not valid UTF-8";
  for (const unsigned char ch : user) {
    if (ch == ':') return "a user name cannot contain ':'";
    if (ch < 0x20 || ch == 0x7F) return "a user name cannot contain control characters";
  }
  return {};
}

const ScramCredential* PasswordTable::find(std::string_view user) const {
  const auto it = users_.find(user);
  return it == users_.end() ? nullptr : &it->second;
}

bool PasswordTable::add(std::string user, ScramCredential credential) {
  return users_.emplace(std::move(user), std::move(credential)).second;
}

PasswordTable parse_password_file(std::string_view text, const std::string& source) {
  PasswordTable table;
  std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>> lines;  // user → line
  for_each_line(text, [&](std::size_t number, std::string_view raw) {
    const auto line = trim(raw);
    if (!is_entry(line)) return;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      throw ConfigError(source, number, "", "expected user:$scram-sha-256$<iterations>$<salt>$<StoredKey>$<ServerKey>");
    }
    std::string user(line.substr(0, colon));
    if (auto problem = username_problem(user); !problem.empty()) throw ConfigError(source, number, "", problem);
    std::string error;
    auto credential = parse_credential(line.substr(colon + 1), error);
    if (!credential) throw ConfigError(source, number, "", "user \"" + user + "\": " + error);
    if (auto it = lines.find(user); it != lines.end()) {
      throw ConfigError(source, number, "",
                        "user \"" + user + "\" is already defined on line " + std::to_string(it->second));
    }
    lines.emplace(user, number);
    table.add(std::move(user), std::move(*credential));
  });
  return table;
}

PasswordTable load_password_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path, 0, "", "cannot open password file");
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw ConfigError(path, 0, "", "cannot read password file");
  return parse_password_file(buf.str(), path);
}

std::string edit_password_file(std::string_view text, const std::string& source, std::string_view user,
                               const std::optional<ScramCredential>& credential, bool& found) {
  parse_password_file(text, source);  // refuse to rewrite a file that is already wrong
  found = false;
  std::string out;
  for_each_line(text, [&](std::size_t, std::string_view raw) {
    const auto line = trim(raw);
    if (is_entry(line) && line.substr(0, line.find(':')) == user) {
      found = true;
      if (credential) out += std::string(user) + ":" + format_credential(*credential) + "\n";
      return;
    }
    out += raw;
    out += '\n';
  });
  if (!found && credential) out += std::string(user) + ":" + format_credential(*credential) + "\n";
  return out;
}

}  // namespace hermod::broker::auth
