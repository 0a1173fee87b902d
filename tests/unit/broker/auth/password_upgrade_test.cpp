// `hermod passwd -U`'s core, upgrade_password_file(): plain-text lines become SCRAM entries read
// as Mosquitto reads them, every other line stays byte for byte, and what cannot be upgraded
// safely is refused with its line.
#include <gtest/gtest.h>

#include "broker/auth/password_file.hpp"
#include "broker/config/config.hpp"

namespace hermod::broker::auth {
namespace {

// mosquitto_passwd 2.0.11's entry for alice / "secret".
const std::string kMosquittoAlice =
    "alice:$7$101$uDRwLM04SOcwGytn$hFJ6qN0zsMLz/xQYuDtKqT0V7i7iTI8RN0u8VVU9ipL+EAQvSp+aECRJYwGLtkclF/1pQt+2nDblMUnP4L1mKg==\n";

bool logs_in(const PasswordTable& table, const std::string& user, const std::string& password) {
  return table.check(&user, password);
}

std::string error_of(const std::string& text) {
  try {
    upgrade_password_file(text, "pw", kDefaultIterations);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(PasswordUpgrade, PlainTextPasswordsBecomeScramEntries) {
  const auto u = upgrade_password_file("carol:correct horse\ndave:x\n", "pw", kDefaultIterations);
  EXPECT_EQ(u.hashed, (std::vector<std::string>{"carol", "dave"}));
  EXPECT_TRUE(u.mosquitto_hashes.empty());
  EXPECT_EQ(u.text.find("correct horse"), std::string::npos) << "no password left in the file";
  const auto table = parse_password_file(u.text, "pw");
  ASSERT_NE(table.scram("carol"), nullptr) << u.text;
  EXPECT_EQ(table.scram("carol")->iterations, kDefaultIterations);
  EXPECT_TRUE(logs_in(table, "carol", "correct horse"));
  EXPECT_TRUE(logs_in(table, "dave", "x"));
  EXPECT_FALSE(logs_in(table, "dave", "correct horse"));
}

TEST(PasswordUpgrade, IterationsAreTheOnesAsked) {
  const auto u = upgrade_password_file("carol:c\n", "pw", 10'000);
  EXPECT_EQ(parse_password_file(u.text, "pw").scram("carol")->iterations, 10'000u);
}

TEST(PasswordUpgrade, BlanksAroundUserAndPasswordAreDroppedAsMosquittoDoes) {
  // mosquitto_passwd -U reads "  erin : x y  " as user "erin", password "x y".
  const auto u = upgrade_password_file("  erin : x y  \r\n", "pw", kDefaultIterations);
  const auto table = parse_password_file(u.text, "pw");
  EXPECT_TRUE(logs_in(table, "erin", "x y"));
  EXPECT_FALSE(logs_in(table, "erin", " x y  "));
}

TEST(PasswordUpgrade, OtherLinesAreKeptByteForByte) {
  const std::string scram = "bob:" + format_credential(*make_credential("b", 4096)) + "\n";
  const std::string text = "# users\n\n" + kMosquittoAlice + "carol:c\n" + scram + "  # the end\n";
  const auto u = upgrade_password_file(text, "pw", kDefaultIterations);
  EXPECT_EQ(u.hashed, std::vector<std::string>{"carol"});
  EXPECT_EQ(u.mosquitto_hashes, std::vector<std::string>{"alice"});
  EXPECT_TRUE(u.text.starts_with("# users\n\n" + kMosquittoAlice + "carol:$scram-sha-256$4096$")) << u.text;
  EXPECT_TRUE(u.text.ends_with(scram + "  # the end\n")) << u.text;
  const auto table = parse_password_file(u.text, "pw");
  EXPECT_TRUE(logs_in(table, "alice", "secret"));
  EXPECT_TRUE(logs_in(table, "bob", "b"));
  EXPECT_TRUE(logs_in(table, "carol", "c"));
}

TEST(PasswordUpgrade, AFileWithoutPlainTextIsLeftAsItIs) {
  const auto u = upgrade_password_file("# x\n" + kMosquittoAlice, "pw", kDefaultIterations);
  EXPECT_TRUE(u.hashed.empty());
  EXPECT_EQ(u.text, "# x\n" + kMosquittoAlice);
}

TEST(PasswordUpgrade, WhatCannotBeUpgradedSafelyIsRefusedWithItsLine) {
  EXPECT_EQ(error_of("a:x\nbob:\n"), "pw:2: user \"bob\" has an empty plain-text password");
  // mosquitto cut "a:b" off at the ':' (password "a"): which one the user meant is not known.
  EXPECT_EQ(error_of("dave:a:b\n"),
            "pw:1: user \"dave\": the plain-text password holds ':', where Mosquitto cut it off; set the password "
            "meant with `hermod passwd pw dave`");
  EXPECT_EQ(error_of("carol:c\ncarol:d\n"), "pw:2: user \"carol\" is already defined on line 1");
  EXPECT_EQ(error_of(kMosquittoAlice + "alice:again\n"), "pw:2: user \"alice\" is already defined on line 1");
  EXPECT_EQ(error_of("frank\n"),
            "pw:1: expected user:<hash>, a $scram-sha-256$ entry from hermod passwd or a $7$ or $6$ one from "
            "mosquitto_passwd");
  EXPECT_EQ(error_of("carol:c\nbob:$7$101$AAAA\n"),
            "pw:2: user \"bob\": a $7$ entry is $7$<iterations>$<salt>$<hash>, this one has 2 fields after $7$");
  EXPECT_EQ(error_of("bob:$2y$10$abc\n").substr(0, 27), "pw:1: user \"bob\": \"$2y$\" is") << "bcrypt is no plain text";
}

}  // namespace
}  // namespace hermod::broker::auth
