// SCRAM-SHA-256 server exchanges: RFC 7677's example replayed byte for byte, then the ways a
// client can fail (wrong proof, unknown user, tampered nonce or channel binding).
#include "broker/auth/scram.hpp"

#include <gtest/gtest.h>

#include "broker/auth/crypto.hpp"

namespace hermod::broker::auth {
namespace {

// RFC 7677 section 3: user "user", password "pencil".
constexpr std::string_view kClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view kServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

std::shared_ptr<const PasswordTable> rfc_table() {
  auto table = std::make_shared<PasswordTable>();
  table->add("user", *make_credential("pencil", 4096, *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==")));
  return table;
}

ScramServerExchange rfc_exchange() { return ScramServerExchange(rfc_table(), std::string(kServerNonce), "key"); }

using Outcome = AuthStep::Outcome;

TEST(Scram, Rfc7677ExampleServerFirstMatches) {
  auto ex = rfc_exchange();
  const auto step = ex.step(kClientFirst);
  EXPECT_EQ(step.outcome, Outcome::continue_auth);
  EXPECT_EQ(step.data, kServerFirst);
}

TEST(Scram, Rfc7677ExampleSucceedsWithServerSignature) {
  auto ex = rfc_exchange();
  ex.step(kClientFirst);
  const auto step = ex.step(kClientFinal);
  ASSERT_EQ(step.outcome, Outcome::success) << step.detail;
  EXPECT_EQ(step.data, kServerFinal);
  EXPECT_EQ(step.detail, "user");
}

TEST(Scram, WrongProofFails) {
  auto ex = rfc_exchange();
  ex.step(kClientFirst);
  std::string final_message(kClientFinal);
  final_message[final_message.size() - 5] ^= 1;  // still base64, another proof
  const auto step = ex.step(final_message);
  EXPECT_EQ(step.outcome, Outcome::failure);
  EXPECT_EQ(step.data, "e=invalid-proof");
}

TEST(Scram, ProofForAnotherPasswordFails) {
  auto table = std::make_shared<PasswordTable>();
  table->add("user", *make_credential("not pencil", 4096, *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==")));
  ScramServerExchange ex(table, std::string(kServerNonce), "key");
  EXPECT_EQ(ex.step(kClientFirst).data, kServerFirst);  // same salt and iterations
  EXPECT_EQ(ex.step(kClientFinal).outcome, Outcome::failure);
}

TEST(Scram, UnknownUserGetsAStableSaltAndFailsOnlyAtTheProof) {
  ScramServerExchange a(rfc_table(), "nonce", "key");
  ScramServerExchange b(rfc_table(), "nonce", "key");
  const auto first = a.step("n,,n=mallory,r=abc");
  ASSERT_EQ(first.outcome, Outcome::continue_auth) << "an unknown user is not revealed at the first step";
  EXPECT_EQ(first.data, b.step("n,,n=mallory,r=abc").data) << "the made-up salt does not change between tries";
  EXPECT_NE(first.data.find(",i=4096"), std::string::npos) << first.data;
  const auto last = a.step("c=biws,r=abcnonce,p=" + base64_encode(std::string(32, 'x')));
  EXPECT_EQ(last.outcome, Outcome::failure);
  EXPECT_EQ(last.data, "e=invalid-proof");
}

TEST(Scram, UserWithAMosquittoHashFailsExactlyLikeAnUnknownUser) {
  // "user" has a $7$ entry (mosquitto_passwd's, password "secret"): no SCRAM credential.
  auto table = std::make_shared<PasswordTable>();
  std::string error;
  table->add("user", *parse_mosquitto_hash("$7$101$uDRwLM04SOcwGytn$hFJ6qN0zsMLz/xQYuDtKqT0V7i7iTI8RN0u8VVU9ipL+EAQvSp+"
                                           "aECRJYwGLtkclF/1pQt+2nDblMUnP4L1mKg==",
                                           error));
  ScramServerExchange mosquitto_user(table, "nonce", "key");
  ScramServerExchange unknown_user(std::make_shared<PasswordTable>(), "nonce", "key");
  const auto first = mosquitto_user.step("n,,n=user,r=abc");
  ASSERT_EQ(first.outcome, Outcome::continue_auth);
  EXPECT_EQ(first.data, unknown_user.step("n,,n=user,r=abc").data)
      << "the same made-up salt and iterations as if \"user\" were unknown";
  EXPECT_EQ(first.data.find("uDRwLM04SOcwGytn"), std::string::npos) << "not the Mosquitto salt";
  const std::string final_message = "c=biws,r=abcnonce,p=" + base64_encode(std::string(32, 'x'));
  const auto last = mosquitto_user.step(final_message);
  const auto unknown_last = unknown_user.step(final_message);
  EXPECT_EQ(last.outcome, Outcome::failure);
  EXPECT_EQ(last.data, unknown_last.data) << "the client is told nothing more";
  EXPECT_EQ(last.data, "e=invalid-proof");
  EXPECT_EQ(last.detail, "user \"user\" has a Mosquitto $7$ password hash, no SCRAM-SHA-256 credential");
  EXPECT_EQ(unknown_last.detail, "unknown user \"user\"");
}

TEST(Scram, NonceMustBeTheCombinedOne) {
  auto ex = rfc_exchange();
  ex.step(kClientFirst);
  std::string final_message(kClientFinal);
  final_message.replace(final_message.find("k0,p="), 2, "k1");
  EXPECT_EQ(ex.step(final_message).outcome, Outcome::failure);
}

TEST(Scram, ChannelBindingDataMustMatchTheGs2Header) {
  auto ex = rfc_exchange();
  ex.step(kClientFirst);
  std::string final_message(kClientFinal);
  final_message.replace(0, 6, "c=eSws");  // "y,," although the client sent "n,,"
  const auto step = ex.step(final_message);
  EXPECT_EQ(step.outcome, Outcome::failure);
  EXPECT_EQ(step.data, "e=channel-bindings-dont-match");
}

TEST(Scram, ChannelBindingAndAuthzidAreRefused) {
  EXPECT_EQ(rfc_exchange().step("p=tls-unique,,n=user,r=abc").outcome, Outcome::failure);
  EXPECT_EQ(rfc_exchange().step("n,a=admin,n=user,r=abc").outcome, Outcome::failure);
  EXPECT_EQ(rfc_exchange().step("y,,n=user,r=abc").outcome, Outcome::continue_auth)
      << "y: the client supports channel binding but thinks the server does not; fine without it";
}

TEST(Scram, MalformedClientFirstFails) {
  for (std::string_view m : {"", "n,,", "n,,r=abc,n=user", "n,,n=user", "n,,n=user,r=", "n,,n=us=er,r=abc",
                             "n,,m=ext,n=user,r=abc", "x,,n=user,r=abc"}) {
    EXPECT_EQ(rfc_exchange().step(m).outcome, Outcome::failure) << m;
  }
}

TEST(Scram, EscapedUserNameIsDecoded) {
  auto table = std::make_shared<PasswordTable>();
  table->add("a,b=c", *make_credential("pw", 4096, "salt"));
  ScramServerExchange ex(table, "n", "key");
  const auto step = ex.step("n,,n=a=2Cb=3Dc,r=x");
  ASSERT_EQ(step.outcome, Outcome::continue_auth);
  EXPECT_EQ(step.data, "r=xn,s=" + base64_encode("salt") + ",i=4096") << "the stored user's salt, not a made-up one";
}

TEST(Scram, NoStepAfterTheEnd) {
  auto ex = rfc_exchange();
  ex.step(kClientFirst);
  ex.step(kClientFinal);
  EXPECT_EQ(ex.step(kClientFinal).outcome, Outcome::failure);
}

TEST(Scram, MethodStartsExchangesWithFreshNonces) {
  ScramSha256 method;
  EXPECT_EQ(method.name(), "SCRAM-SHA-256");
  const auto a = method.start(rfc_table())->step(kClientFirst).data;
  const auto b = method.start(rfc_table())->step(kClientFirst).data;
  EXPECT_TRUE(a.starts_with("r=rOprNGfwEbeRWgbNEkqO")) << a;
  EXPECT_NE(a, b) << "each exchange has its own server nonce";
}

}  // namespace
}  // namespace hermod::broker::auth
