#include "broker/auth/authenticator.hpp"

#include "broker/auth/scram.hpp"
#include "base/log.hpp"

namespace hermod::broker::auth {

Authenticator::Authenticator(AuthConfig config) : config_(std::move(config)) {
  if (config_.password_file.empty()) return;
  methods_.add(std::make_unique<ScramSha256>());
}

namespace {
// "3 users" or "3 users (1 with a Mosquitto hash: ...)", for the log.
std::string describe(const PasswordTable& table) {
  std::string out = std::to_string(table.size()) + (table.size() == 1 ? " user" : " users");
  if (const auto m = table.mosquitto_users(); m > 0) {
    out += " (" + std::to_string(m) + " with Mosquitto password hashes: plain-password logins only, no SCRAM-SHA-256)";
  }
  return out;
}
}  // namespace

void Authenticator::load() {
  if (config_.password_file.empty()) return;
  auto table = std::make_shared<const PasswordTable>(load_password_file(config_.password_file));
  logger("auth")->info("password file {}: {}, anonymous clients {}", config_.password_file, describe(*table),
                       config_.allow_anonymous ? "allowed" : "refused");
  std::lock_guard lock(mutex_);
  table_ = std::move(table);
}

std::string Authenticator::reload() {
  if (config_.password_file.empty()) return {};
  try {
    auto table = std::make_shared<const PasswordTable>(load_password_file(config_.password_file));
    const std::string users = describe(*table);
    {
      std::lock_guard lock(mutex_);
      table_.swap(table);
    }
    // The old table (now in `table`) dies here, or with the last exchange still using it.
    logger("auth")->info("reloaded password file {}: {}", config_.password_file, users);
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
  // The same work whoever the user is, known or not (PasswordTable::check).
  const bool ok = table->check(user ? &*user : nullptr, password.value_or(""));
  return ok && password ? PasswordCheck::accepted : PasswordCheck::bad_credentials;
}

bool Authenticator::check_is_slow(const std::optional<std::string>& user,
                                  const std::optional<std::string>& password) const {
  return (user || password) && passwords() != nullptr;
}

const AuthMethod* Authenticator::method(std::string_view name) const { return methods_.find(name); }

}  // namespace hermod::broker::auth
