// Password files: parsing with errors that name the line, PBKDF2 verification of plain
// passwords, editing one user's line, base64, and the Authenticator's reload.
#include "broker/auth/password_file.hpp"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "broker/auth/authenticator.hpp"
#include "broker/auth/crypto.hpp"
#include "broker/config/config.hpp"

namespace hermod::broker::auth {
namespace {

std::string entry(const std::string& user, const std::string& password) {
  return user + ":" + format_credential(*make_credential(password, kDefaultIterations)) + "\n";
}

std::string error_of(const std::string& text) {
  try {
    parse_password_file(text, "pw");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(PasswordFile, ParsesEntriesCommentsAndBlankLines) {
  const auto table = parse_password_file("# users\n\n" + entry("alice", "a") + "  # indented comment\r\n" +
                                             entry("bob", "b"),
                                         "pw");
  EXPECT_EQ(table.size(), 2u);
  ASSERT_NE(table.find("alice"), nullptr);
  EXPECT_EQ(table.find("alice")->iterations, kDefaultIterations);
  EXPECT_EQ(table.find("carol"), nullptr);
}

TEST(PasswordFile, VerifiesRightAndWrongPasswords) {
  const auto table = parse_password_file(entry("alice", "correct horse"), "pw");
  const auto* c = table.find("alice");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(verify_password(*c, "correct horse"));
  EXPECT_FALSE(verify_password(*c, "correct horse "));
  EXPECT_FALSE(verify_password(*c, ""));
}

TEST(PasswordFile, StoresNoPassword) {
  const std::string line = entry("alice", "hunter2-secret");
  EXPECT_EQ(line.find("hunter2-secret"), std::string::npos);
  EXPECT_TRUE(line.starts_with("alice:$scram-sha-256$4096$")) << line;
}

TEST(PasswordFile, CredentialsFollowRfc5802) {
  // RFC 7677's user: with its salt and iterations, "pencil" gives the keys behind its example.
  const auto c = *make_credential("pencil", 4096, *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ=="));
  const auto salted = *pbkdf2_sha256("pencil", c.salt, 4096);
  EXPECT_EQ(c.stored_key, *sha256(*hmac_sha256(salted, "Client Key")));
  EXPECT_EQ(c.server_key, *hmac_sha256(salted, "Server Key"));
  EXPECT_EQ(salted.size(), 32u);
}

TEST(PasswordFile, ErrorsNameTheLine) {
  const std::string good = entry("alice", "a");
  EXPECT_EQ(error_of(good + "\nbob\n"),
            "pw:3: expected user:$scram-sha-256$<iterations>$<salt>$<StoredKey>$<ServerKey>");
  EXPECT_EQ(error_of("# x\nbob:plaintext\n"),
            "pw:2: user \"bob\": expected user:$scram-sha-256$<iterations>$<salt>$<StoredKey>$<ServerKey>");
  EXPECT_EQ(error_of(":$scram-sha-256$4096$AAAA$AAAA$AAAA\n"), "pw:1: the user name is empty");
  EXPECT_EQ(error_of("bob:$scram-sha-256$4096$AAAA$AAAA\n"),
            "pw:1: user \"bob\": a $scram-sha-256$ entry has 4 fields after the scheme, this one has 3");
  EXPECT_EQ(error_of(good + good), "pw:2: user \"alice\" is already defined on line 1");
}

TEST(PasswordFile, ErrorsNameTheBadField) {
  std::string line = entry("bob", "b");
  auto with_field = [&](int index, const std::string& value) {
    std::string s = line.substr(0, line.size() - 1);
    std::size_t pos = 0;
    for (int i = 0; i < index; ++i) pos = s.find('$', pos) + 1;
    const auto end = s.find('$', pos);
    s.replace(pos, end == std::string::npos ? std::string::npos : end - pos, value);
    return error_of(s + "\n");
  };
  EXPECT_EQ(with_field(2, "100"), "pw:1: user \"bob\": iterations must be a number from 4096 to 10000000");
  EXPECT_EQ(with_field(2, "4096x"), "pw:1: user \"bob\": iterations must be a number from 4096 to 10000000");
  EXPECT_EQ(with_field(3, "not*base64"), "pw:1: user \"bob\": the salt is not base64");
  EXPECT_EQ(with_field(4, "AAAA"), "pw:1: user \"bob\": StoredKey is not 32 bytes in base64");
  EXPECT_EQ(with_field(5, "AAAA"), "pw:1: user \"bob\": ServerKey is not 32 bytes in base64");
  EXPECT_EQ(error_of("bob:$sha512$x$y$z$w\n"),
            "pw:1: user \"bob\": expected user:$scram-sha-256$<iterations>$<salt>$<StoredKey>$<ServerKey>");
}

TEST(PasswordFile, MissingFileIsAnError) {
  try {
    load_password_file("/nonexistent/hermod-pw");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/hermod-pw: cannot open password file");
  }
}

TEST(PasswordFile, UserNamesWithColonOrControlCharactersAreRefused) {
  EXPECT_EQ(username_problem("alice"), "");
  EXPECT_NE(username_problem("a:b"), "");
  EXPECT_NE(username_problem("a\nb"), "");
  EXPECT_NE(username_problem(""), "");
  EXPECT_NE(username_problem("\xff"), "");
}

TEST(PasswordFile, EditReplacesOneLineAndKeepsTheRest) {
  const std::string text = "# header\n" + entry("alice", "a") + "\n" + entry("bob", "b");
  bool found = false;
  const auto updated = edit_password_file(text, "pw", "alice", make_credential("new", 4096), found);
  EXPECT_TRUE(found);
  EXPECT_TRUE(updated.starts_with("# header\nalice:$scram-sha-256$")) << updated;
  EXPECT_NE(updated.find("\n\n" + entry("bob", "b").substr(0, 4)), std::string::npos) << updated;
  const auto table = parse_password_file(updated, "pw");
  EXPECT_TRUE(verify_password(*table.find("alice"), "new"));
  EXPECT_TRUE(verify_password(*table.find("bob"), "b"));

  const auto added = edit_password_file(text, "pw", "carol", make_credential("c", 4096), found);
  EXPECT_FALSE(found);
  EXPECT_TRUE(added.starts_with(text)) << "a new user is appended";
  EXPECT_EQ(parse_password_file(added, "pw").size(), 3u);

  const auto removed = edit_password_file(text, "pw", "alice", std::nullopt, found);
  EXPECT_TRUE(found);
  EXPECT_EQ(parse_password_file(removed, "pw").find("alice"), nullptr);
  EXPECT_TRUE(removed.starts_with("# header\n\nbob:")) << removed;
}

TEST(PasswordFile, EditRefusesABrokenFile) {
  bool found = false;
  EXPECT_THROW(edit_password_file("junk\n", "pw", "alice", make_credential("a", 4096), found), ConfigError);
}

TEST(Base64, EncodesAndDecodesRfc4648Vectors) {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},         {"f", "Zg=="},        {"fo", "Zm8="},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, coded] : vectors) {
    EXPECT_EQ(base64_encode(plain), coded);
    EXPECT_EQ(base64_decode(coded), plain) << coded;
  }
}

TEST(Base64, RejectsWhatIsNotBase64) {
  for (std::string_view s : {"Zg=", "Z===", "Zg==Zg==", "Zm9v!", "Zm=v", "====", "Zm9vYg=A"}) {
    EXPECT_FALSE(base64_decode(s).has_value()) << s;
  }
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("hermod-pw-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override { std::filesystem::remove(path_); }
  void write(const std::string& text) { std::ofstream(path_) << text; }
  AuthConfig config(bool anonymous) { return AuthConfig{path_.string(), anonymous}; }

  std::filesystem::path path_;
};

TEST_F(AuthenticatorTest, ChecksUserNameAndPassword) {
  write(entry("alice", "a"));
  Authenticator auth(config(false));
  auth.load();
  EXPECT_EQ(auth.check("alice", "a"), PasswordCheck::accepted);
  EXPECT_EQ(auth.check("alice", "b"), PasswordCheck::bad_credentials);
  EXPECT_EQ(auth.check("alice", std::nullopt), PasswordCheck::bad_credentials);
  EXPECT_EQ(auth.check("mallory", "a"), PasswordCheck::bad_credentials);
  EXPECT_EQ(auth.check(std::nullopt, "a"), PasswordCheck::bad_credentials);
  EXPECT_EQ(auth.check(std::nullopt, std::nullopt), PasswordCheck::anonymous_denied);
  EXPECT_NE(auth.method("SCRAM-SHA-256"), nullptr);
  EXPECT_EQ(auth.method("scram-sha-256"), nullptr) << "method names are case-sensitive";
}

TEST_F(AuthenticatorTest, AnonymousAllowedWhenConfigured) {
  write(entry("alice", "a"));
  Authenticator auth(config(true));
  auth.load();
  EXPECT_EQ(auth.check(std::nullopt, std::nullopt), PasswordCheck::anonymous);
  EXPECT_EQ(auth.check("alice", "b"), PasswordCheck::bad_credentials) << "a wrong password is not anonymous";
}

TEST_F(AuthenticatorTest, WithoutPasswordFileEveryoneIsAcceptedAndNoMethodOffered) {
  Authenticator auth(AuthConfig{});
  auth.load();
  EXPECT_EQ(auth.check("anyone", "anything"), PasswordCheck::accepted);
  EXPECT_EQ(auth.passwords(), nullptr);
  EXPECT_EQ(auth.method("SCRAM-SHA-256"), nullptr);
}

TEST_F(AuthenticatorTest, ReloadSwapsTheTableAndKeepsItOnError) {
  write(entry("alice", "a"));
  Authenticator auth(config(false));
  auth.load();
  const auto before = auth.passwords();
  write(entry("bob", "b"));
  EXPECT_EQ(auth.reload(), "");
  EXPECT_EQ(auth.check("bob", "b"), PasswordCheck::accepted);
  EXPECT_EQ(auth.check("alice", "a"), PasswordCheck::bad_credentials);
  EXPECT_NE(before->find("alice"), nullptr) << "a snapshot taken before the reload is unchanged";

  write(entry("carol", "c") + "broken line\n");
  const auto error = auth.reload();
  EXPECT_NE(error.find(":2: expected user:"), std::string::npos) << error;
  EXPECT_EQ(auth.check("bob", "b"), PasswordCheck::accepted) << "a bad file keeps the previous table";
  EXPECT_EQ(auth.check("carol", "c"), PasswordCheck::bad_credentials);
}

TEST_F(AuthenticatorTest, LoadFailsOnABadFile) {
  write("\n\nalice\n");
  Authenticator auth(config(false));
  try {
    auth.load();
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              path_.string() + ":3: expected user:$scram-sha-256$<iterations>$<salt>$<StoredKey>$<ServerKey>");
  }
}

}  // namespace
}  // namespace hermod::broker::auth
