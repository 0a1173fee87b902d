// Mosquitto's hashed passwords, as mosquitto_passwd writes them after "user:" in a password file,
// so that a Mosquitto password file serves Hermod as it is:
//
//   $7$<iterations>$<salt>$<hash>   hash = PBKDF2-HMAC-SHA-512(password, salt, iterations), 64 bytes
//                                   (Mosquitto 2.x's default: 101 iterations, a 12-byte salt)
//   $6$<salt>$<hash>                hash = SHA-512(password followed by salt), 64 bytes
//                                   (Mosquitto 1.x's, and 2.x's with `-H sha512`)
//
// Salt and hash are standard base64 with padding. Such a hash checks a CONNECT's plain password
// only: SCRAM-SHA-256 needs keys derived with PBKDF2-HMAC-SHA-256, which cannot be computed
// from it without the password.
//
// Values and pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hermod::broker::auth {

struct MosquittoHash {
  enum class Scheme { sha512, pbkdf2_sha512 };
  Scheme scheme = Scheme::pbkdf2_sha512;
  std::uint32_t iterations = 0;  // pbkdf2_sha512 only; 0 for sha512
  std::string salt;              // binary, not base64
  std::string hash;              // 64 bytes, binary
};

// The range of $7$ iteration counts accepted (mosquitto_passwd writes 101).
constexpr std::uint32_t kMinMosquittoIterations = 1;
constexpr std::uint32_t kMaxMosquittoIterations = 10'000'000;

// True if `value` (what follows "user:") is in one of Mosquitto's schemes: starts "$6$" or "$7$".
bool is_mosquitto_scheme(std::string_view value);
// Parses what follows "user:"; nullopt with `error` set to why (no secret in it) otherwise.
std::optional<MosquittoHash> parse_mosquitto_hash(std::string_view value, std::string& error);
// "$7$<iterations>$<salt>$<hash>" or "$6$<salt>$<hash>", as mosquitto_passwd writes it.
std::string format_mosquitto_hash(const MosquittoHash& h);
// The hash of `password` with h's scheme, salt and iterations; nullopt if OpenSSL failed.
std::optional<std::string> mosquitto_hash_of(const MosquittoHash& h, std::string_view password);
// True if `password` hashes to h.hash, compared in constant time. False too if OpenSSL failed.
bool verify_mosquitto_hash(const MosquittoHash& h, std::string_view password);
// "$7$" or "$6$".
std::string_view scheme_tag(MosquittoHash::Scheme scheme);

}  // namespace hermod::broker::auth
