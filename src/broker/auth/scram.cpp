#include "broker/auth/scram.hpp"

#include <optional>
#include <stdexcept>
#include <vector>

#include "base/log.hpp"
#include "broker/auth/crypto.hpp"

namespace hermod::broker::auth {

namespace {

constexpr std::size_t kNonceBytes = 18;
constexpr std::size_t kUnknownUserSaltBytes = 16;

// The comma-separated attributes "x=value" of a SCRAM message.
std::vector<std::string_view> attributes(std::string_view message) {
  std::vector<std::string_view> out;
  for (;;) {
    const auto comma = message.find(',');
    out.push_back(message.substr(0, comma));
    if (comma == std::string_view::npos) return out;
    message.remove_prefix(comma + 1);
  }
}

// The value of attribute `a` with name `name`, or nullopt.
std::optional<std::string_view> value_of(std::string_view a, char name) {
  if (a.size() < 2 || a[0] != name || a[1] != '=') return std::nullopt;
  return a.substr(2);
}

// RFC 5802 saslname: ',' and '=' travel as "=2C" and "=3D"; any other '=' is an error.
std::optional<std::string> decode_saslname(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '=') {
      out += s[i];
    } else if (s.substr(i, 3) == "=2C") {
      out += ',';
      i += 2;
    } else if (s.substr(i, 3) == "=3D") {
      out += '=';
      i += 2;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

// A nonce: printable ASCII but ','.
bool valid_nonce(std::string_view n) {
  if (n.empty()) return false;
  for (const char c : n) {
    if (c < 0x21 || c > 0x7E || c == ',') return false;
  }
  return true;
}

}  // namespace

namespace {
std::string random_key() {
  auto key = random_bytes(kSha256Size);
  // Start-up (the main thread): a broker that cannot draw random bytes must not start.
  if (!key) throw std::runtime_error("SCRAM: no random bytes from OpenSSL");
  return std::move(*key);
}
}  // namespace

ScramSha256::ScramSha256() : unknown_user_key_(random_key()) {}

std::unique_ptr<AuthExchange> ScramSha256::start(std::shared_ptr<const PasswordTable> passwords) const {
  // Without random bytes the nonce is empty, and the exchange fails at its first step.
  const auto nonce = random_bytes(kNonceBytes);
  return std::make_unique<ScramServerExchange>(std::move(passwords), nonce ? base64_encode(*nonce) : std::string(),
                                               unknown_user_key_);
}

ScramServerExchange::ScramServerExchange(std::shared_ptr<const PasswordTable> passwords, std::string server_nonce,
                                         std::string unknown_user_key)
    : passwords_(std::move(passwords)),
      server_nonce_(std::move(server_nonce)),
      unknown_user_key_(std::move(unknown_user_key)) {}

AuthStep ScramServerExchange::step(std::string_view client_data) {
  switch (stage_) {
    case Stage::client_first: return on_client_first(client_data);
    case Stage::client_final: return on_client_final(client_data);
    case Stage::done: break;
  }
  return AuthStep::failure("SCRAM exchange already finished");
}

AuthStep ScramServerExchange::on_client_first(std::string_view message) {
  stage_ = Stage::done;  // until this step succeeds
  if (server_nonce_.empty()) return AuthStep::failure("SCRAM: no random bytes for the nonce", "e=other-error");
  // GS2 header: "n" (no channel binding) or "y" (client could, thinks we cannot), no authzid.
  if (message.size() < 3 || (message[0] != 'n' && message[0] != 'y') || message[1] != ',') {
    if (message.starts_with("p=")) {
      return AuthStep::failure("SCRAM channel binding requested", "e=channel-binding-not-supported");
    }
    return AuthStep::failure("malformed SCRAM client-first message", "e=other-error");
  }
  if (message[2] != ',') return AuthStep::failure("SCRAM authorization identity not supported", "e=other-error");
  gs2_header_ = std::string(message.substr(0, 3));
  client_first_bare_ = std::string(message.substr(3));

  const auto attrs = attributes(client_first_bare_);
  if (!attrs.empty() && value_of(attrs[0], 'm')) {
    return AuthStep::failure("SCRAM mandatory extension not supported", "e=extensions-not-supported");
  }
  const auto name = attrs.size() >= 2 ? value_of(attrs[0], 'n') : std::nullopt;
  const auto nonce = attrs.size() >= 2 ? value_of(attrs[1], 'r') : std::nullopt;
  if (!name || !nonce || !valid_nonce(*nonce)) {
    return AuthStep::failure("malformed SCRAM client-first message", "e=other-error");
  }
  auto user = decode_saslname(*name);
  if (!user || user->empty()) return AuthStep::failure("bad SCRAM user name encoding", "e=invalid-username-encoding");
  user_ = std::move(*user);

  const PasswordEntry* entry = passwords_ ? passwords_->find(user_) : nullptr;
  if (const ScramCredential* c = entry ? std::get_if<ScramCredential>(entry) : nullptr) {
    credential_ = *c;
  } else {
    // Answer as for a real user, with a salt that stays the same for this name. A user with a
    // Mosquitto hash has no SCRAM credential either: the same answer, so nothing tells them
    // apart from outside; only the log says why.
    unknown_user_ = true;
    if (entry) {
      const auto& h = std::get<MosquittoHash>(*entry);
      mosquitto_scheme_ = h.scheme;
      logger("auth")->debug("SCRAM-SHA-256 for user \"{}\" will fail: the password file holds a Mosquitto {} hash, "
                            "which checks plain passwords only; `hermod passwd FILE {}` gives the user a SCRAM entry",
                            user_, scheme_tag(h.scheme), user_);
    }
    credential_.iterations = kDefaultIterations;
    const auto salt = hmac_sha256(unknown_user_key_, user_);
    if (!salt) return AuthStep::failure("SCRAM: HMAC failed", "e=other-error");
    credential_.salt = salt->substr(0, kUnknownUserSaltBytes);
  }
  nonce_ = std::string(*nonce) + server_nonce_;
  server_first_ =
      "r=" + nonce_ + ",s=" + base64_encode(credential_.salt) + ",i=" + std::to_string(credential_.iterations);
  stage_ = Stage::client_final;
  return AuthStep::next(server_first_);
}

AuthStep ScramServerExchange::on_client_final(std::string_view message) {
  stage_ = Stage::done;
  // "c=<base64 GS2 header>,r=<nonce>[,extensions],p=<proof>"; the proof signs what precedes it.
  const auto proof_at = message.rfind(",p=");
  if (proof_at == std::string_view::npos) return AuthStep::failure("SCRAM client-final without proof", "e=other-error");
  const std::string_view without_proof = message.substr(0, proof_at);
  const auto proof = base64_decode(message.substr(proof_at + 3));
  const auto attrs = attributes(without_proof);
  const auto binding = value_of(attrs[0], 'c');
  const auto nonce = attrs.size() >= 2 ? value_of(attrs[1], 'r') : std::nullopt;
  if (!binding || !nonce || !proof || proof->size() != kSha256Size) {
    return AuthStep::failure("malformed SCRAM client-final message", "e=other-error");
  }
  if (*binding != base64_encode(gs2_header_)) {
    return AuthStep::failure("SCRAM channel binding data differs from the GS2 header", "e=channel-bindings-dont-match");
  }
  if (*nonce != nonce_) return AuthStep::failure("SCRAM nonce differs from the server-first one", "e=other-error");

  const std::string auth_message = client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
  if (unknown_user_) {
    return AuthStep::failure(mosquitto_scheme_ ? "user \"" + user_ + "\" has a Mosquitto " +
                                                     std::string(scheme_tag(*mosquitto_scheme_)) +
                                                     " password hash, no SCRAM-SHA-256 credential"
                                               : "unknown user \"" + user_ + "\"",
                             "e=invalid-proof");
  }
  const auto signature = hmac_sha256(credential_.stored_key, auth_message);
  const auto client_key_hash = signature ? sha256(xor_bytes(*proof, *signature)) : std::nullopt;
  const auto server_signature = hmac_sha256(credential_.server_key, auth_message);
  if (!client_key_hash || !server_signature) return AuthStep::failure("SCRAM: hashing failed", "e=other-error");
  if (!equal_constant_time(*client_key_hash, credential_.stored_key)) {
    return AuthStep::failure("wrong SCRAM proof for user \"" + user_ + "\"", "e=invalid-proof");
  }
  return AuthStep::success("v=" + base64_encode(*server_signature), user_);
}

}  // namespace hermod::broker::auth
