#include "broker/auth/password_file.hpp"

#include <charconv>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
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

constexpr std::string_view kExpected =
    "expected user:<hash>, a $scram-sha-256$ entry from hermod passwd or a $7$ or $6$ one from mosquitto_passwd";

// The credential after "user:$scram-sha-256$", or the reason it is not one.
std::optional<ScramCredential> parse_credential(std::string_view s, std::string& error) {
  const auto f = split(s, '$');
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

// A value that starts with '$' names a hash scheme; anything else is a plain-text password.
// (A plain-text password that starts with '$' is taken for a hash: safer than the reverse.)
bool is_plain_text(std::string_view value) { return value.empty() || value.front() != '$'; }

// The entry after "user:" (not plain text), or the reason it is not one.
std::optional<PasswordEntry> parse_entry(std::string_view value, std::string& error) {
  if (value.starts_with("$" + std::string(kScheme) + "$")) {
    auto c = parse_credential(value, error);
    if (c) return PasswordEntry(std::move(*c));
    return std::nullopt;
  }
  if (is_mosquitto_scheme(value)) {
    auto h = parse_mosquitto_hash(value, error);
    if (h) return PasswordEntry(std::move(*h));
    return std::nullopt;
  }
  const auto end = value.find('$', 1);
  error = "\"" + std::string(value.substr(0, end == std::string_view::npos ? 1 : end + 1)) +
          "\" is no hash scheme Hermod reads ($scram-sha-256$ from hermod passwd, $7$ and $6$ from mosquitto_passwd)";
  return std::nullopt;
}

// One entry line of a password file, split.
struct Line {
  std::string user;
  std::string_view value;  // after the first ':'
  bool plain_text = false;
};

// The user name of an entry line: what precedes the first ':', without blanks around it (as
// Mosquitto reads it).
std::string_view user_of(std::string_view line) { return trim(line.substr(0, line.find(':'))); }

// Splits an entry line (trimmed, not a comment); throws ConfigError for a line without ':' or
// with a bad user name. Blanks around the user name and the value are not part of them.
Line split_line(std::string_view line, const std::string& source, std::size_t number) {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) throw ConfigError(source, number, "", std::string(kExpected));
  Line l;
  l.value = trim(line.substr(colon + 1));
  l.plain_text = is_plain_text(l.value);
  l.user = std::string(user_of(line));
  if (auto problem = username_problem(l.user); !problem.empty()) throw ConfigError(source, number, "", problem);
  return l;
}

// Refuses a user defined on an earlier line; remembers this one's.
void note_user(std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>>& lines,
               const std::string& user, const std::string& source, std::size_t number) {
  if (auto it = lines.find(user); it != lines.end()) {
    throw ConfigError(source, number, "",
                      "user \"" + user + "\" is already defined on line " + std::to_string(it->second));
  }
  lines.emplace(user, number);
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
  if (trim(user).size() != user.size()) return "a user name cannot begin or end with a blank";
  if (user.size() > 65535) return "the user name is longer than 65535 bytes";
  if (!mqtt::is_valid_mqtt_utf8(user)) return "the user name is not valid UTF-8";
  for (const unsigned char ch : user) {
    if (ch == ':') return "a user name cannot contain ':'";
    if (ch < 0x20 || ch == 0x7F) return "a user name cannot contain control characters";
  }
  return {};
}

const PasswordEntry* PasswordTable::find(std::string_view user) const {
  const auto it = users_.find(user);
  return it == users_.end() ? nullptr : &it->second;
}

const ScramCredential* PasswordTable::scram(std::string_view user) const {
  const PasswordEntry* e = find(user);
  return e ? std::get_if<ScramCredential>(e) : nullptr;
}

bool PasswordTable::add(std::string user, PasswordEntry entry) {
  const Kind kind = kind_of(entry);
  const std::uint32_t iterations = iterations_of(entry);
  if (!users_.emplace(std::move(user), std::move(entry)).second) return false;
  if (kind != kScram) ++mosquitto_users_;
  // Counts only grow, so the most common count so far stays the most common unless this one
  // overtakes it.
  KindStats& k = kinds_[kind];
  const std::size_t n = ++k.users_by_iterations[iterations];
  if (n > k.decoy_users || (n == k.decoy_users && iterations > k.decoy_iterations)) {
    k.decoy_users = n;
    k.decoy_iterations = iterations;
  }
  return true;
}

PasswordTable::Kind PasswordTable::kind_of(const PasswordEntry& e) {
  if (std::holds_alternative<ScramCredential>(e)) return kScram;
  return std::get<MosquittoHash>(e).scheme == MosquittoHash::Scheme::sha512 ? kSha512 : kPbkdf2Sha512;
}

std::uint32_t PasswordTable::iterations_of(const PasswordEntry& e) {
  if (const auto* c = std::get_if<ScramCredential>(&e)) return c->iterations;
  return std::get<MosquittoHash>(e).iterations;
}

bool PasswordTable::verify(const PasswordEntry& e, std::string_view password) {
  if (const auto* c = std::get_if<ScramCredential>(&e)) return verify_password(*c, password);
  return verify_mosquitto_hash(std::get<MosquittoHash>(e), password);
}

PasswordEntry PasswordTable::decoy(Kind kind) const {
  // Salts of the usual sizes and keys no password derives (all zero): the same work as a real
  // entry of that kind, and never a match.
  const std::uint32_t iterations = kinds_[kind].decoy_users ? kinds_[kind].decoy_iterations : kDefaultIterations;
  if (kind == kScram) {
    return ScramCredential{iterations, std::string(kSaltSize, '\0'), std::string(kSha256Size, '\0'),
                           std::string(kSha256Size, '\0')};
  }
  MosquittoHash h;
  h.scheme = kind == kSha512 ? MosquittoHash::Scheme::sha512 : MosquittoHash::Scheme::pbkdf2_sha512;
  h.iterations = kind == kSha512 ? 0 : iterations;
  h.salt = std::string(12, '\0');
  h.hash = std::string(kSha512Size, '\0');
  return h;
}

bool PasswordTable::check(const std::string* user, std::string_view password) const {
  const PasswordEntry* entry = user ? find(*user) : nullptr;
  const Kind own = entry ? kind_of(*entry) : kKinds;
  bool ok = false;
  for (std::size_t k = 0; k < kKinds; ++k) {
    const bool present = kinds_[k].decoy_users > 0 || (k == kScram && users_.empty());
    if (!present) continue;
    if (k == own) {
      ok = verify(*entry, password);
    } else {
      // The result is thrown away; the work is what counts. OpenSSL's calls cannot be elided.
      (void)verify(decoy(static_cast<Kind>(k)), password);
    }
  }
  return entry != nullptr && ok;
}

PasswordTable parse_password_file(std::string_view text, const std::string& source) {
  PasswordTable table;
  std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>> lines;  // user → line
  for_each_line(text, [&](std::size_t number, std::string_view raw) {
    const auto line = trim(raw);
    if (!is_entry(line)) return;
    Line l = split_line(line, source, number);
    if (l.plain_text) {
      // Never the password itself in the message.
      throw PlainTextPasswordError(source, number, "",
                        "user \"" + l.user + "\" has a plain-text password; run `hermod passwd -U " + source +
                            "` to hash the file's plain-text passwords");
    }
    std::string error;
    auto entry = parse_entry(l.value, error);
    if (!entry) throw ConfigError(source, number, "", "user \"" + l.user + "\": " + error);
    note_user(lines, l.user, source, number);
    table.add(std::move(l.user), std::move(*entry));
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
    if (is_entry(line) && user_of(line) == user) {
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

namespace hermod::broker::auth {

PasswordFileUpgrade upgrade_password_file(std::string_view text, const std::string& source, std::uint32_t iterations) {
  PasswordFileUpgrade result;
  std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>> lines;  // user → line
  for_each_line(text, [&](std::size_t number, std::string_view raw) {
    const auto line = trim(raw);
    const auto keep = [&] {
      result.text += raw;
      result.text += '\n';
    };
    if (!is_entry(line)) return keep();
    Line l = split_line(line, source, number);
    note_user(lines, l.user, source, number);
    if (!l.plain_text) {
      std::string error;
      auto entry = parse_entry(l.value, error);
      if (!entry) throw ConfigError(source, number, "", "user \"" + l.user + "\": " + error);
      if (std::holds_alternative<MosquittoHash>(*entry)) result.mosquitto_hashes.push_back(l.user);
      return keep();
    }
    const auto password = l.value;
    if (password.empty()) {
      throw ConfigError(source, number, "", "user \"" + l.user + "\" has an empty plain-text password");
    }
    if (password.find(':') != std::string_view::npos) {
      throw ConfigError(source, number, "",
                        "user \"" + l.user + "\": the plain-text password holds ':', where Mosquitto cut it off; "
                        "set the password meant with `hermod passwd " + source + " " + l.user + "`");
    }
    const auto credential = make_credential(password, iterations);
    if (!credential) throw std::runtime_error("cannot derive a credential: OpenSSL failed");
    result.text += l.user + ":" + format_credential(*credential) + "\n";
    result.hashed.push_back(std::move(l.user));
  });
  // What was read line by line must now load as a whole.
  parse_password_file(result.text, source);
  return result;
}

}  // namespace hermod::broker::auth
