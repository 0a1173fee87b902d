// SCRAM-SHA-256 (RFC 5802, RFC 7677) as an MQTT 5 enhanced authentication method, server side,
// without channel binding (GS2 header "n,," or "y,,"). Over MQTT the messages travel as
// Authentication Data: client-first in CONNECT (or AUTH 0x19 to re-authenticate), server-first in
// AUTH 0x18, client-final in AUTH 0x18, server-final ("v=...") in CONNACK (or AUTH 0x00).
// User names are compared as the bytes they are (no SASLprep), after undoing SCRAM's =2C/=3D.
//
// An unknown user gets a server-first like any other (a salt derived from the name with a
// per-process key, the default iteration count) and fails only at the proof, so the exchange
// does not tell which users exist. A user whose entry is a Mosquitto hash (no SCRAM credential)
// goes the unknown user's way exactly; the log says why at debug level. Thread rules as in
// auth_method.hpp.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "broker/auth/auth_method.hpp"
#include "broker/auth/password_file.hpp"

namespace hermod::broker::auth {

class ScramSha256 final : public AuthMethod {
 public:
  static constexpr std::string_view kName = "SCRAM-SHA-256";
  ScramSha256();
  std::string_view name() const override { return kName; }
  std::unique_ptr<AuthExchange> start(std::shared_ptr<const PasswordTable> passwords) const override;

 private:
  std::string unknown_user_key_;  // random, keys the made-up salts of unknown users
};

// One server-side exchange. The constructor takes the server's nonce part so tests can replay
// RFC 7677's example; ScramSha256::start() passes 18 random bytes in base64.
class ScramServerExchange final : public AuthExchange {
 public:
  ScramServerExchange(std::shared_ptr<const PasswordTable> passwords, std::string server_nonce,
                      std::string unknown_user_key);
  AuthStep step(std::string_view client_data) override;

 private:
  AuthStep on_client_first(std::string_view message);
  AuthStep on_client_final(std::string_view message);

  enum class Stage { client_first, client_final, done };
  Stage stage_ = Stage::client_first;
  std::shared_ptr<const PasswordTable> passwords_;
  std::string server_nonce_;
  std::string unknown_user_key_;
  std::string user_;
  ScramCredential credential_;  // the user's, or a made-up one when unknown_user_
  bool unknown_user_ = false;    // no SCRAM credential: unknown, or a Mosquitto hash
  std::optional<MosquittoHash::Scheme> mosquitto_scheme_;  // set: a known user with a Mosquitto hash
  std::string gs2_header_;         // "n,," or "y,,"
  std::string client_first_bare_;  // "n=...,r=..."
  std::string server_first_;       // "r=...,s=...,i=..."
  std::string nonce_;              // client nonce + server nonce
};

}  // namespace hermod::broker::auth
