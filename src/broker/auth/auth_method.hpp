// MQTT 5 enhanced authentication (section 4.12), method by method. An AuthMethod names a method
// ("SCRAM-SHA-256") and starts exchanges; an AuthExchange is one run of it, fed the client's
// Authentication Data step by step (from CONNECT, then from each AUTH), answering with data for
// the client and whether to continue, succeed or fail. The connection turns steps into AUTH,
// CONNACK or DISCONNECT packets; methods know nothing of MQTT packets.
//
// Methods are immutable and shared by every worker (AuthMethods, built at start-up); an exchange
// belongs to one connection and runs on its worker thread only.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hermod::broker::auth {

class PasswordTable;

struct AuthStep {
  enum class Outcome { continue_auth, success, failure };
  Outcome outcome = Outcome::failure;
  // For the client: the next challenge (continue), final data (success, may be empty) or an
  // error description in the method's own terms (failure, may be empty).
  std::string data;
  // Success: the user the client proved to be. Failure: why, for the log (never a secret).
  std::string detail;

  static AuthStep next(std::string data) { return {Outcome::continue_auth, std::move(data), {}}; }
  static AuthStep success(std::string data, std::string user) {
    return {Outcome::success, std::move(data), std::move(user)};
  }
  static AuthStep failure(std::string why, std::string data = {}) {
    return {Outcome::failure, std::move(data), std::move(why)};
  }
};

class AuthExchange {
 public:
  virtual ~AuthExchange() = default;
  // Consumes the client's next Authentication Data. After success or failure the exchange is over
  // and must not be stepped again.
  virtual AuthStep step(std::string_view client_data) = 0;
};

class AuthMethod {
 public:
  virtual ~AuthMethod() = default;
  // The Authentication Method property's value that selects this method.
  virtual std::string_view name() const = 0;
  // A new exchange checking against `passwords` (a snapshot: a reload during the exchange does
  // not change it). Never null.
  virtual std::unique_ptr<AuthExchange> start(std::shared_ptr<const PasswordTable> passwords) const = 0;
};

// The methods the broker offers, by name. Filled at start-up, read-only afterwards.
class AuthMethods {
 public:
  void add(std::unique_ptr<AuthMethod> method) { methods_.push_back(std::move(method)); }
  // Null for a method the broker does not offer. Names compare exactly (MQTT strings are
  // case-sensitive).
  const AuthMethod* find(std::string_view name) const {
    for (const auto& m : methods_) {
      if (m->name() == name) return m.get();
    }
    return nullptr;
  }

 private:
  std::vector<std::unique_ptr<AuthMethod>> methods_;
};

}  // namespace hermod::broker::auth
