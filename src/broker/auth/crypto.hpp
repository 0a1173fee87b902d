// The few cryptographic primitives authentication needs, over OpenSSL's libcrypto: SHA-256,
// HMAC-SHA-256, PBKDF2-HMAC-SHA-256, random bytes, a constant-time comparison and strict base64;
// SHA-512 and PBKDF2-HMAC-SHA-512 for Mosquitto's password hashes.
// Byte strings travel as std::string. What calls OpenSSL returns nullopt if OpenSSL fails (it
// does not for these inputs, but a worker must not die of it): no exceptions. Any thread; pure
// functions (OpenSSL 3 is thread-safe).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hermod::broker::auth {

// Length of a SHA-256 digest, and so of SCRAM-SHA-256 keys, proofs and signatures.
constexpr std::size_t kSha256Size = 32;
// Length of a SHA-512 digest, and so of Mosquitto's $6$ and $7$ hashes.
constexpr std::size_t kSha512Size = 64;

std::optional<std::string> sha256(std::string_view data);
std::optional<std::string> hmac_sha256(std::string_view key, std::string_view data);
// PBKDF2 with HMAC-SHA-256 and a 32-byte output: RFC 5802's Hi(password, salt, iterations).
std::optional<std::string> pbkdf2_sha256(std::string_view password, std::string_view salt, std::uint32_t iterations);
std::optional<std::string> sha512(std::string_view data);
// PBKDF2 with HMAC-SHA-512 and a 64-byte output (Mosquitto's $7$ hash).
std::optional<std::string> pbkdf2_sha512(std::string_view password, std::string_view salt, std::uint32_t iterations);
// `n` bytes from OpenSSL's CSPRNG.
std::optional<std::string> random_bytes(std::size_t n);
// True if `a` and `b` are equal; for equal lengths the time taken does not depend on the bytes.
bool equal_constant_time(std::string_view a, std::string_view b);
// a XOR b; precondition: equal lengths.
std::string xor_bytes(std::string_view a, std::string_view b);

// Standard base64 (RFC 4648 section 4) with padding, no line breaks.
std::string base64_encode(std::string_view data);
// Strict decoding: the alphabet, padding to a multiple of 4 and nothing else; nullopt otherwise.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace hermod::broker::auth
