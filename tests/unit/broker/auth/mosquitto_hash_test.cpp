// Mosquitto's password hashes: entries written by Debian's mosquitto_passwd 2.0.11 verify with
// their passwords and no other, the schemes follow their definitions ($6$: SHA-512 of password
// then salt; $7$: PBKDF2-HMAC-SHA-512), and malformed entries say which field is wrong.
#include "broker/auth/mosquitto_hash.hpp"

#include <gtest/gtest.h>

#include "broker/auth/crypto.hpp"

namespace hermod::broker::auth {
namespace {

// `mosquitto_passwd -b -c FILE alice secret` (the default, sha512-pbkdf2) and
// `mosquitto_passwd -H sha512 -b FILE bob hunter2`, Debian 12's mosquitto 2.0.11.
constexpr std::string_view kAlice =
    "$7$101$uDRwLM04SOcwGytn$hFJ6qN0zsMLz/xQYuDtKqT0V7i7iTI8RN0u8VVU9ipL+EAQvSp+aECRJYwGLtkclF/1pQt+2nDblMUnP4L1mKg==";
constexpr std::string_view kBob =
    "$6$zHn1ojo2/gekY/W6$0h+D3OccdOiUcXYvuLde943uQ8cthOKfTWfCWJhfSxkrzdN+HL1dWvcX551OFagM3NKLwytKMoGhLVY7oDI+nQ==";

MosquittoHash parsed(std::string_view value) {
  std::string error;
  auto h = parse_mosquitto_hash(value, error);
  EXPECT_TRUE(h.has_value()) << error;
  return h.value_or(MosquittoHash{});
}

std::string error_of(std::string_view value) {
  std::string error;
  EXPECT_FALSE(parse_mosquitto_hash(value, error).has_value()) << value;
  return error;
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

TEST(MosquittoHash, Pbkdf2EntryFromMosquittoPasswdVerifiesItsPasswordOnly) {
  const auto h = parsed(kAlice);
  EXPECT_EQ(h.scheme, MosquittoHash::Scheme::pbkdf2_sha512);
  EXPECT_EQ(h.iterations, 101u);
  EXPECT_EQ(h.salt.size(), 12u) << "mosquitto_passwd draws 12 bytes of salt";
  EXPECT_EQ(h.hash.size(), 64u);
  EXPECT_TRUE(verify_mosquitto_hash(h, "secret"));
  EXPECT_FALSE(verify_mosquitto_hash(h, "secret "));
  EXPECT_FALSE(verify_mosquitto_hash(h, "Secret"));
  EXPECT_FALSE(verify_mosquitto_hash(h, ""));
}

TEST(MosquittoHash, Sha512EntryFromMosquittoPasswdVerifiesItsPasswordOnly) {
  const auto h = parsed(kBob);
  EXPECT_EQ(h.scheme, MosquittoHash::Scheme::sha512);
  EXPECT_EQ(h.iterations, 0u);
  EXPECT_TRUE(verify_mosquitto_hash(h, "hunter2"));
  EXPECT_FALSE(verify_mosquitto_hash(h, "hunter3"));
}

TEST(MosquittoHash, Sha512IsThePasswordFollowedByTheSalt) {
  const auto h = parsed(kBob);
  EXPECT_EQ(h.hash, *sha512("hunter2" + h.salt));
  EXPECT_NE(h.hash, *sha512(h.salt + "hunter2"));
}

TEST(MosquittoHash, Pbkdf2IsHmacSha512) {
  // The PBKDF2-HMAC-SHA-512 vector published beside RFC 6070's SHA-1 ones: "password", "salt", 1.
  MosquittoHash h;
  h.iterations = 1;
  h.salt = "salt";
  EXPECT_EQ(hex(*mosquitto_hash_of(h, "password")),
            "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252"
            "c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce");
}

TEST(MosquittoHash, FormatWritesWhatMosquittoPasswdWrites) {
  EXPECT_EQ(format_mosquitto_hash(parsed(kAlice)), kAlice);
  EXPECT_EQ(format_mosquitto_hash(parsed(kBob)), kBob);
}

TEST(MosquittoHash, SchemesAreRecognisedByTheirTag) {
  EXPECT_TRUE(is_mosquitto_scheme(kAlice));
  EXPECT_TRUE(is_mosquitto_scheme(kBob));
  EXPECT_FALSE(is_mosquitto_scheme("$scram-sha-256$4096$a$b$c"));
  EXPECT_FALSE(is_mosquitto_scheme("$5$abc$def"));
  EXPECT_FALSE(is_mosquitto_scheme("7$101$a$b"));
}

TEST(MosquittoHash, ErrorsNameTheBadField) {
  const std::string salt = "uDRwLM04SOcwGytn";
  const std::string hash(kAlice.substr(kAlice.rfind('$') + 1));
  EXPECT_EQ(error_of("$7$101$" + salt), "a $7$ entry is $7$<iterations>$<salt>$<hash>, this one has 2 fields after $7$");
  EXPECT_EQ(error_of("$6$" + salt + "$" + hash + "$x"),
            "a $6$ entry is $6$<salt>$<hash>, this one has 3 fields after $6$");
  for (const std::string bad : {"0", "x", "101x", "-1", "10000001", ""}) {
    EXPECT_EQ(error_of("$7$" + bad + "$" + salt + "$" + hash), "iterations must be a number from 1 to 10000000")
        << bad;
  }
  EXPECT_EQ(error_of("$7$101$not*base64$" + hash), "the salt is not base64");
  EXPECT_EQ(error_of("$7$101$$" + hash), "the salt is not base64");
  EXPECT_EQ(error_of("$7$101$" + salt + "$" + base64_encode(std::string(32, 'x'))), "the hash is not 64 bytes in base64");
  EXPECT_EQ(error_of("$6$" + salt + "$" + hash.substr(0, 86)), "the hash is not 64 bytes in base64");
}

}  // namespace
}  // namespace hermod::broker::auth
