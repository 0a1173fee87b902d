#include "broker/auth/authenticator.hpp"

#include <stdexcept>

#include "broker/auth/scram.hpp"
#include "base/log.hpp"

namespace hermod::broker::auth {

Authenticator::Authenticator(AuthConfig config) : config_(std::move(config)) {
  if (config_.password_file.empty()) return;
  methods_.add(std::make_unique<ScramSha256>());
  // Start-up (the main thread): what answers for unknown users is made once.
  auto unknown = make_credential("unknown user", kDefaultIterations);
  if (!unknown) throw std::runtime_error("password file: cannot derive credentials (OpenSSL failed)");
  unknown_user_ = std::move(*unknown);
}

void Authenticator::load() {
  if (config_.password_file.empty()) return;
  auto table = std::make_shared<const PasswordTable>(load_password_file(config_.password_file));
  logger("auth")->info("password file {}: {} user{}, anonymous clients {}", config_.password_file, table->size(),
                       table->size() == 1 ? "" : "s", config_.allow_anonymous ? "allowed" : "refused");
  std::lock_guard lock(mutex_);
  table_ = std::move(table);
}

std::string Authenticator::reload() {
  if (config_.password_file.empty()) return {};
  try {
    auto table = std::make_shared<const PasswordTable>(load_password_file(config_.password_file));
    const auto users = table->size();
    {
      std::lock_guard lock(mutex_);
      table_.swap(table);
    }
    // The old table (now in `table`) dies here, or with the last exchange still using it.
    logger("auth")->info("reloaded password file {}: {} user{}", config_.password_file, users, users == 1 ? "" : "s");
    return {};
  } catch (const ConfigError& e) {
    logger("auth")->error("password file not reloaded, keeping the previous one: {}", e.what());
    return e.what();
  }
}

std::shared_ptr<const PasswordTable> Authenticator::passwords() const {
  std::lock_guard lock(mutex_);
  return table_;
}

PasswordCheck Authenticator::check(const std::optional<std::string>& user,
                                   const std::optional<std::string>& password) const {
  const auto table = passwords();
  if (!table) return PasswordCheck::accepted;
  if (!user && !password) return config_.allow_anonymous ? PasswordCheck::anonymous : PasswordCheck::anonymous_denied;
  const ScramCredential* c = user ? table->find(*user) : nullptr;
  const bool ok = verify_password(c ? *c : unknown_user_, password.value_or(""));
  return c && password && ok ? PasswordCheck::accepted : PasswordCheck::bad_credentials;
}

bool Authenticator::check_is_slow(const std::optional<std::string>& user,
                                  const std::optional<std::string>& password) const {
  return (user || password) && passwords() != nullptr;
}

const AuthMethod* Authenticator::method(std::string_view name) const { return methods_.find(name); }

}  // namespace hermod::broker::auth
