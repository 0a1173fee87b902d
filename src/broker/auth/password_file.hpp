// The password file: one line per user, blank lines and `#` comments allowed. Hermod's own entries
// are `user:$scram-sha-256$<iterations>$<salt>$<StoredKey>$<ServerKey>` (salt and keys in base64):
// RFC 5802's SCRAM credentials, never the password, which check a CONNECT's plain password
// (PBKDF2 again, then compare) and drive SCRAM-SHA-256 enhanced authentication alike. Entries
// written by Mosquitto's mosquitto_passwd (`$7$`, `$6$`, mosquitto_hash.hpp) are read too, and
// check plain passwords only. A plain-text `user:password` line (which Mosquitto reads until
// `mosquitto_passwd -U`) is an error: upgrade_password_file() hashes those. Format and tool:
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
#include <variant>
#include <vector>

#include "base/string_hash.hpp"
#include "broker/auth/mosquitto_hash.hpp"
#include "broker/config/config.hpp"

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

// One user's line: Hermod's SCRAM credential or a Mosquitto hash.
using PasswordEntry = std::variant<ScramCredential, MosquittoHash>;

class PasswordTable {
 public:
  // Null if there is no such user.
  const PasswordEntry* find(std::string_view user) const;
  // The user's SCRAM credential; null for an unknown user and for one with a Mosquitto hash.
  const ScramCredential* scram(std::string_view user) const;
  std::size_t size() const { return users_.size(); }
  // How many users have a Mosquitto hash (the rest have SCRAM credentials).
  std::size_t mosquitto_users() const { return mosquitto_users_; }
  // False if `user` is already there.
  bool add(std::string user, PasswordEntry entry);

  // True if `user` is in the table and `password` is theirs (no user: false, after the same
  // work). The work does not depend on whether the user exists, nor on which kind of entry it
  // has: a check runs one hash for each kind of entry the table holds (SCRAM, $7$, $6$), the
  // user's own and decoys for the others, each decoy at the most common iteration count of its
  // kind; an empty table costs one SCRAM hash at kDefaultIterations. So an unknown user takes as
  // long as a known one whose iteration count is its kind's most common one. Comparisons are in
  // constant time.
  bool check(const std::string* user, std::string_view password) const;

 private:
  // The kinds of entry, indexing kinds_.
  enum Kind : std::size_t { kScram, kPbkdf2Sha512, kSha512, kKinds };
  struct KindStats {
    std::unordered_map<std::uint32_t, std::size_t> users_by_iterations;
    std::uint32_t decoy_iterations = 0;  // the most common count (on a tie the larger)
    std::size_t decoy_users = 0;         // 0: no entry of this kind
  };
  static Kind kind_of(const PasswordEntry& e);
  static std::uint32_t iterations_of(const PasswordEntry& e);
  static bool verify(const PasswordEntry& e, std::string_view password);
  PasswordEntry decoy(Kind kind) const;

  std::unordered_map<std::string, PasswordEntry, StringHash, std::equal_to<>> users_;
  KindStats kinds_[kKinds];
  std::size_t mosquitto_users_ = 0;
};

// The error for a plain-text `user:password` line, which `hermod passwd -U` would hash (so that
// `hermod convert-config` can tell it from other errors).
class PlainTextPasswordError : public ConfigError {
 public:
  using ConfigError::ConfigError;
};

// Parses a password file's text; `source` names it in errors. Throws ConfigError
// ("source:line: message") at the first bad line, PlainTextPasswordError if that is a
// plain-text one.
PasswordTable parse_password_file(std::string_view text, const std::string& source);
// Reads and parses `path`. Throws ConfigError, also when the file cannot be read.
PasswordTable load_password_file(const std::string& path);

// `text` (a valid password file, else ConfigError) with `user`'s line replaced by `credential`,
// or removed when it is nullopt; a new user's line is appended. Every other line is kept as it
// was. `found` tells whether `user` had a line.
std::string edit_password_file(std::string_view text, const std::string& source, std::string_view user,
                               const std::optional<ScramCredential>& credential, bool& found);

// What upgrade_password_file() did.
struct PasswordFileUpgrade {
  std::string text;                           // the upgraded file
  std::vector<std::string> hashed;            // users whose plain-text password became SCRAM
  std::vector<std::string> mosquitto_hashes;  // users left with $7$ or $6$ entries
};
// `text` with every plain-text `user:password` line replaced by a SCRAM entry of `iterations`
// (fresh salt); SCRAM and Mosquitto entries, comments and blank lines are kept as they are. A
// plain-text line is read as Mosquitto reads it: blanks around the user name and the password
// are not part of them. Throws ConfigError ("source:line: message") at a line that is neither
// plain text nor a valid entry, at a plain-text password that is empty or holds ':' (Mosquitto
// cut it off there: which one was meant is not known), and at a user defined twice;
// std::runtime_error if OpenSSL failed.
PasswordFileUpgrade upgrade_password_file(std::string_view text, const std::string& source, std::uint32_t iterations);

}  // namespace hermod::broker::auth
