// Who may connect: the `[auth]` configuration, the current password table and the enhanced
// authentication methods. One per broker, shared by every worker.
//
// The password table is an immutable snapshot behind a mutex: a CONNECT takes the current
// shared_ptr (a few nanoseconds under the lock, once per connection, never per message) and
// checks against it; SIGHUP's reload() parses the file on the main thread and swaps the pointer,
// so connections already open are untouched and a check in progress keeps the old table alive.
// load() and reload() on the main thread; everything else from any thread.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "broker/auth/auth_method.hpp"
#include "broker/auth/password_file.hpp"
#include "broker/config/config.hpp"

namespace hermod::broker::auth {

enum class PasswordCheck {
  accepted,          // right user name and password, or no password file at all
  anonymous,         // no user name, and anonymous clients are allowed
  bad_credentials,   // unknown user, wrong password, or a password without a user name
  anonymous_denied,  // no user name, and allow_anonymous is false
};

class Authenticator {
 public:
  explicit Authenticator(AuthConfig config);

  // Reads the password file, if one is configured. Throws ConfigError ("file:line: message").
  void load();
  // Reads the password file again. On success the new table serves every later CONNECT; on
  // failure the old one stays and the error is returned (and logged). Empty string: reloaded,
  // or no password file configured.
  std::string reload();

  // The current table; null when no password file is configured.
  std::shared_ptr<const PasswordTable> passwords() const;
  // Checks a CONNECT's User Name and Password against the current table. Whenever a user name or
  // password is given and a file is set it costs one PBKDF2 run per kind of entry in the table,
  // whoever the user is (PasswordTable::check).
  PasswordCheck check(const std::optional<std::string>& user, const std::optional<std::string>& password) const;
  // True when check() would run PBKDF2 (a password file is set and a user name or password
  // given): the caller then runs it off its worker thread (CheckPool).
  bool check_is_slow(const std::optional<std::string>& user, const std::optional<std::string>& password) const;
  // The enhanced authentication method called `name`, or null. Methods check against the
  // password file, so there are none without one.
  const AuthMethod* method(std::string_view name) const;

  const AuthConfig& config() const { return config_; }

 private:
  AuthConfig config_;
  AuthMethods methods_;
  mutable std::mutex mutex_;  // guards table_ (the pointer, not the table)
  std::shared_ptr<const PasswordTable> table_;
};

}  // namespace hermod::broker::auth
