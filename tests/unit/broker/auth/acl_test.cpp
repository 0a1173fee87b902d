// The topic ACL: Mosquitto's acl_file format, rule sets, %u/%c patterns, deny over grant, filter
// coverage for SUBSCRIBE and the '$' rules.
#include "broker/auth/acl.hpp"

#include <gtest/gtest.h>

#include "broker/auth/acl_file.hpp"
#include "broker/config/config.hpp"

namespace hermod::broker::auth {
namespace {

std::shared_ptr<const Acl> parse(const std::string& text) { return parse_acl_file(text, "acl"); }

AclSubject user(std::string_view name, std::string_view client = "c1") { return {name, client}; }
AclSubject anonymous(std::string_view client = "c1") { return {std::nullopt, client}; }

TEST(Acl, WhatNoRuleGrantsIsDenied) {
  const auto acl = parse("user alice\ntopic read a/b\n");
  EXPECT_TRUE(acl->may_receive("a/b", user("alice")));
  EXPECT_FALSE(acl->may_publish("a/b", user("alice")));
  EXPECT_FALSE(acl->may_receive("a/c", user("alice")));
  EXPECT_FALSE(acl->may_receive("a/b", user("bob")));
  EXPECT_FALSE(acl->may_receive("a/b", anonymous()));
}

TEST(Acl, AccessWordsAndTheirDefault) {
  const auto acl = parse("user u\ntopic read r\ntopic write w\ntopic readwrite rw\ntopic both\n");
  const auto u = user("u");
  EXPECT_TRUE(acl->may_receive("r", u));
  EXPECT_FALSE(acl->may_publish("r", u));
  EXPECT_TRUE(acl->may_publish("w", u));
  EXPECT_FALSE(acl->may_receive("w", u));
  EXPECT_TRUE(acl->may_publish("rw", u) && acl->may_receive("rw", u));
  EXPECT_TRUE(acl->may_publish("both", u) && acl->may_receive("both", u));
}

TEST(Acl, TopicLinesBeforeTheFirstUserAreForAnonymousClientsOnly) {
  const auto acl = parse("topic read public/#\nuser alice\ntopic read alice/#\n");
  EXPECT_TRUE(acl->may_receive("public/x", anonymous()));
  EXPECT_FALSE(acl->may_receive("public/x", user("alice")));
  EXPECT_FALSE(acl->may_receive("alice/x", anonymous()));
  EXPECT_TRUE(acl->may_receive("alice/x", user("alice")));
}

TEST(Acl, ClientSectionsApplyByClientId) {
  const auto acl = parse("client sensor-1\ntopic write sensors/1/#\n");
  EXPECT_TRUE(acl->may_publish("sensors/1/t", user("anyone", "sensor-1")));
  EXPECT_TRUE(acl->may_publish("sensors/1/t", anonymous("sensor-1")));
  EXPECT_FALSE(acl->may_publish("sensors/1/t", user("anyone", "sensor-2")));
}

TEST(Acl, PatternsSubstituteUserAndClientIdAsWholeLevels) {
  const auto acl = parse("pattern readwrite users/%u/#\npattern write devices/%c/up\n");
  EXPECT_TRUE(acl->may_publish("users/alice/x", user("alice")));
  EXPECT_FALSE(acl->may_publish("users/bob/x", user("alice")));
  EXPECT_FALSE(acl->may_publish("users/alice/x", anonymous()));  // no user name: %u never matches
  EXPECT_TRUE(acl->may_publish("devices/c7/up", user("x", "c7")));
  EXPECT_TRUE(acl->may_publish("devices/c7/up", anonymous("c7")));
  EXPECT_FALSE(acl->may_publish("devices/c8/up", anonymous("c7")));
  // A user name that is a wildcard is still one name, not a wildcard.
  EXPECT_FALSE(acl->may_subscribe("users/+/x", user("+")));
  EXPECT_FALSE(acl->may_subscribe("users/#", user("#")));
}

TEST(Acl, DenyWinsOverGrant) {
  const auto acl = parse("user u\ntopic readwrite a/#\ntopic deny a/secret\npattern deny a/%u\n");
  EXPECT_TRUE(acl->may_publish("a/x", user("u")));
  EXPECT_FALSE(acl->may_publish("a/secret", user("u")));
  EXPECT_FALSE(acl->may_receive("a/secret", user("u")));
  EXPECT_FALSE(acl->may_receive("a/u", user("u")));
  // A deny rule that only overlaps a filter leaves the subscription; delivery filters.
  EXPECT_TRUE(acl->may_subscribe("a/#", user("u")));
  EXPECT_FALSE(acl->may_subscribe("a/secret", user("u")));
}

TEST(Acl, WildcardRulesMatchAsMqttFiltersDo) {
  const auto acl = parse("user u\ntopic read s/+/t\ntopic read h/#\n");
  const auto u = user("u");
  EXPECT_TRUE(acl->may_receive("s/1/t", u));
  EXPECT_FALSE(acl->may_receive("s/1/2/t", u));
  EXPECT_TRUE(acl->may_receive("h", u));  // "h/#" matches its parent level
  EXPECT_TRUE(acl->may_receive("h/1/2", u));
  EXPECT_TRUE(acl->may_receive("s//t", u));  // an empty level is a level
}

TEST(Acl, SubscribeNeedsARuleThatCoversTheWholeFilter) {
  const auto acl = parse("user u\ntopic read a/#\ntopic read b/+\ntopic read c/x\n");
  const auto u = user("u");
  EXPECT_TRUE(acl->may_subscribe("a/#", u));
  EXPECT_TRUE(acl->may_subscribe("a/+/b", u));
  EXPECT_TRUE(acl->may_subscribe("a", u));
  EXPECT_TRUE(acl->may_subscribe("b/+", u));
  EXPECT_TRUE(acl->may_subscribe("b/x", u));
  EXPECT_FALSE(acl->may_subscribe("b/#", u));
  EXPECT_FALSE(acl->may_subscribe("c/+", u));
  EXPECT_FALSE(acl->may_subscribe("#", u));
  EXPECT_TRUE(acl->may_subscribe("$share/g/a/x", u));  // checked as its filter
  EXPECT_FALSE(acl->may_subscribe("$share/g/c/+", u));
}

TEST(Acl, DollarTopicsNeedRulesOfTheirOwn) {
  const auto acl = parse("user u\ntopic readwrite #\ntopic read +/broker/#\n"
                         "user admin\ntopic read $SYS/#\ntopic readwrite $app/#\ntopic write $SYS/x\n");
  EXPECT_FALSE(acl->may_receive("$SYS/broker/uptime", user("u"))) << "[MQTT-4.7.2-1]";
  EXPECT_FALSE(acl->may_subscribe("$SYS/#", user("u")));
  EXPECT_TRUE(acl->may_receive("$SYS/broker/uptime", user("admin")));
  EXPECT_TRUE(acl->may_subscribe("$SYS/broker/+", user("admin")));
  EXPECT_TRUE(acl->may_publish("$app/x", user("admin")));
  EXPECT_FALSE(acl->may_publish("$app/x", user("u")));
  EXPECT_FALSE(acl->may_publish("$SYS/x", user("admin")));  // no rule lets a client write $SYS
  EXPECT_FALSE(acl->may_publish("$SYS", user("admin")));
}

TEST(AclFile, CommentsBlankLinesAndSpacesAreAllowed) {
  const auto acl = parse("# header\n\n  user   alice  \r\n\ttopic   read   a/b c  \n");
  EXPECT_TRUE(acl->may_receive("a/b c", user("alice")));  // the filter is the rest of the line
  EXPECT_EQ(acl->rule_count(), 1u);
}

TEST(AclFile, AnAccessWordAloneIsTheTopic) {
  // As Mosquitto reads it: "topic read" is readwrite access to the topic "read".
  const auto acl = parse("user u\ntopic read\n");
  EXPECT_TRUE(acl->may_publish("read", user("u")));
  EXPECT_TRUE(acl->may_receive("read", user("u")));
}

TEST(AclFile, AUserNameIsTheRestOfTheLine) {
  const auto acl = parse("user john smith\ntopic read x\n");
  EXPECT_TRUE(acl->may_receive("x", user("john smith")));
}

TEST(AclFile, ErrorsNameTheLine) {
  const auto error = [](const std::string& text) {
    try {
      parse(text);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error("user a\nfoo bar\n"), "acl:2: unknown keyword \"foo\" (expected user, client, topic or pattern)");
  EXPECT_EQ(error("topic read a/#/b\n"), "acl:1: topic: \"a/#/b\" is not a valid topic filter");
  EXPECT_EQ(error("user\n"), "acl:1: user needs a name");
  EXPECT_EQ(error("\n\npattern read a/x%u\n"),
            "acl:3: pattern: %u and %c must be a whole topic level (\"a/%u/b\"), not part of \"x%u\"");
  EXPECT_EQ(error("topic\n"), "acl:1: topic: a topic filter is missing");
  EXPECT_EQ(error("topic readonly a/b\n"),
            "acl:1: topic: unknown access \"readonly\" (expected read, write, readwrite or deny)");
  EXPECT_EQ(error("topic a b\n"), "acl:1: topic: unknown access \"a\" (expected read, write, readwrite or deny)");
}

TEST(AclFile, AMissingFileIsAnError) {
  EXPECT_THROW(load_acl_file("/nonexistent/acl"), ConfigError);
}

TEST(AclCache, RemembersTheLastTopicUntilTheAclChanges) {
  const auto first = parse_acl_file("user u\ntopic read a\n", "acl", 1);
  const auto second = parse_acl_file("user u\n", "acl", 2);
  AclCache cache(std::string("u"), "c1");
  EXPECT_TRUE(cache.may_receive(*first, "a"));
  EXPECT_TRUE(cache.may_receive(*first, "a"));
  EXPECT_FALSE(cache.may_receive(*second, "a"));  // a reload that revoked the grant
  EXPECT_FALSE(cache.may_publish(*first, "a"));
}

}  // namespace
}  // namespace hermod::broker::auth
