#include "broker/auth/mosquitto_hash.hpp"

#include <charconv>
#include <vector>

#include "broker/auth/crypto.hpp"

namespace hermod::broker::auth {

namespace {

std::vector<std::string_view> fields_of(std::string_view s) {
  std::vector<std::string_view> parts;
  for (;;) {
    const auto pos = s.find('$');
    parts.push_back(s.substr(0, pos));
    if (pos == std::string_view::npos) return parts;
    s.remove_prefix(pos + 1);
  }
}

// Salt and hash, the last two fields of either scheme.
bool decode_salt_and_hash(std::string_view salt, std::string_view hash, MosquittoHash& h, std::string& error) {
  auto s = base64_decode(salt);
  auto d = base64_decode(hash);
  if (!s || s->empty()) {
    error = "the salt is not base64";
  } else if (!d || d->size() != kSha512Size) {
    error = "the hash is not 64 bytes in base64";
  } else {
    h.salt = std::move(*s);
    h.hash = std::move(*d);
    return true;
  }
  return false;
}

}  // namespace

bool is_mosquitto_scheme(std::string_view value) { return value.starts_with("$6$") || value.starts_with("$7$"); }

std::optional<MosquittoHash> parse_mosquitto_hash(std::string_view value, std::string& error) {
  const auto f = fields_of(value);
  MosquittoHash h;
  if (value.starts_with("$6$")) {
    h.scheme = MosquittoHash::Scheme::sha512;
    if (f.size() != 4) {
      error = "a $6$ entry is $6$<salt>$<hash>, this one has " + std::to_string(f.size() - 2) + " fields after $6$";
      return std::nullopt;
    }
    if (!decode_salt_and_hash(f[2], f[3], h, error)) return std::nullopt;
    return h;
  }
  if (!value.starts_with("$7$")) {
    error = "expected $7$<iterations>$<salt>$<hash> or $6$<salt>$<hash>";
    return std::nullopt;
  }
  if (f.size() != 5) {
    error = "a $7$ entry is $7$<iterations>$<salt>$<hash>, this one has " + std::to_string(f.size() - 2) +
            " fields after $7$";
    return std::nullopt;
  }
  const auto [end, ec] = std::from_chars(f[2].data(), f[2].data() + f[2].size(), h.iterations);
  if (ec != std::errc() || end != f[2].data() + f[2].size() || h.iterations < kMinMosquittoIterations ||
      h.iterations > kMaxMosquittoIterations) {
    error = "iterations must be a number from " + std::to_string(kMinMosquittoIterations) + " to " +
            std::to_string(kMaxMosquittoIterations);
    return std::nullopt;
  }
  if (!decode_salt_and_hash(f[3], f[4], h, error)) return std::nullopt;
  return h;
}

std::string format_mosquitto_hash(const MosquittoHash& h) {
  std::string out(scheme_tag(h.scheme));
  if (h.scheme == MosquittoHash::Scheme::pbkdf2_sha512) out += std::to_string(h.iterations) + "$";
  return out + base64_encode(h.salt) + "$" + base64_encode(h.hash);
}

std::optional<std::string> mosquitto_hash_of(const MosquittoHash& h, std::string_view password) {
  if (h.scheme == MosquittoHash::Scheme::pbkdf2_sha512) return pbkdf2_sha512(password, h.salt, h.iterations);
  std::string input(password);
  input += h.salt;
  return sha512(input);
}

bool verify_mosquitto_hash(const MosquittoHash& h, std::string_view password) {
  const auto hash = mosquitto_hash_of(h, password);
  return hash && equal_constant_time(*hash, h.hash);
}

std::string_view scheme_tag(MosquittoHash::Scheme scheme) {
  return scheme == MosquittoHash::Scheme::sha512 ? "$6$" : "$7$";
}

}  // namespace hermod::broker::auth
