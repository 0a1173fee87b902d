// The password file: one line per user, `user:$scram-sha-256$<iterations>$<salt>$<StoredKey>$<ServerKey>`
// (salt and keys in base64), blank lines and `#` comments allowed. What is stored are RFC 5802's
// SCRAM credentials, never the password: they check a CONNECT's plain password (PBKDF2 again,
// then compare) and drive SCRAM-SHA-256 enhanced authentication alike. Format and tool:
// docs/security.md.
//
// A PasswordTable is immutable once parsed; workers share it as shared_ptr<const PasswordTable>
// and a reload swaps in a new one (see Authenticator). Any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/string_hash.hpp"

namespace hermod::broker::auth {

// PBKDF2 iterations of new entries. RFC 7677 asks for at least 4096; more is stronger against an
// attacker holding the file, and costs every CONNECT that much more of a worker's time.
constexpr std::uint32_t kDefaultIterations = 4096;
constexpr std::uint32_t kMinIterations = 4096;
constexpr std::uint32_t kMaxIterations = 10'000'000;

// RFC 5802 stored credentials for one user (binary, not base64).
struct ScramCredential {
  std::uint32_t iterations = kDefaultIterations;
  std::string salt;
  std::string stored_key;  // SHA-256(HMAC(SaltedPassword, "Client Key"))
  std::string server_key;  // HMAC(SaltedPassword, "Server Key")
};

// Credentials for `password`; an empty `salt` means 16 fresh random bytes. Nullopt if the
// cryptography failed (crypto.hpp).
std::optional<ScramCredential> make_credential(std::string_view password, std::uint32_t iterations,
                                               std::string salt = {});
// True if `password` derives `c.stored_key` (PBKDF2 with c's salt and iterations, then a
// constant-time comparison). False too if the cryptography failed: nothing is proven then.
bool verify_password(const ScramCredential& c, std::string_view password);
// "$scram-sha-256$<iterations>$<salt>$<StoredKey>$<ServerKey>", the part after "user:".
std::string format_credential(const ScramCredential& c);
// Why `user` cannot be in a password file (empty, ':' or a control character, not UTF-8), or
// an empty string if it can.
std::string username_problem(std::string_view user);

class PasswordTable {
 public:
  // Null if there is no such user.
  const ScramCredential* find(std::string_view user) const;
  std::size_t size() const { return users_.size(); }
  // False if `user` is already there.
  bool add(std::string user, ScramCredential credential);

 private:
  std::unordered_map<std::string, ScramCredential, StringHash, std::equal_to<>> users_;
};

// Parses a password file's text; `source` names it in errors. Throws ConfigError
// ("source:line: message") at the first bad line.
PasswordTable parse_password_file(std::string_view text, const std::string& source);
// Reads and parses `path`. Throws ConfigError, also when the file cannot be read.
PasswordTable load_password_file(const std::string& path);

// `text` (a valid password file, else ConfigError) with `user`'s line replaced by `credential`,
// or removed when it is nullopt; a new user's line is appended. Every other line is kept as it
// was. `found` tells whether `user` had a line.
std::string edit_password_file(std::string_view text, const std::string& source, std::string_view user,
                               const std::optional<ScramCredential>& credential, bool& found);

}  // namespace hermod::broker::auth
