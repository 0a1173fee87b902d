#include "broker/router.hpp"

#include <algorithm>
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace hermod::broker {
namespace {

RouteEntry entry(std::uint64_t session, std::uint8_t qos = 0) {
  RouteEntry e;
  e.who = {0, session};
  e.options.qos = qos;
  return e;
}

std::vector<std::uint64_t> sessions_matching(Router& r, std::string_view topic) {
  std::vector<const RouteEntry*> out;
  r.match(topic, out);
  std::vector<std::uint64_t> ids;
  for (const auto* e : out) ids.push_back(e->who.session);
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST(Router, ExactFilterMatchesOnlyItsTopic) {
  Router r;
  r.subscribe("a/b", entry(1));
  EXPECT_EQ(sessions_matching(r, "a/b"), std::vector<std::uint64_t>{1});
  EXPECT_TRUE(sessions_matching(r, "a/b/c").empty());
  EXPECT_TRUE(sessions_matching(r, "a").empty());
}

TEST(Router, PlusMatchesExactlyOneLevel) {
  Router r;
  r.subscribe("a/+/c", entry(1));
  EXPECT_EQ(sessions_matching(r, "a/b/c").size(), 1u);
  EXPECT_EQ(sessions_matching(r, "a//c").size(), 1u) << "an empty level is a level [MQTT-4.7.1-3]";
  EXPECT_TRUE(sessions_matching(r, "a/b/d/c").empty());
  EXPECT_TRUE(sessions_matching(r, "a/c").empty());
}

TEST(Router, HashMatchesParentAndAllDescendants) {
  Router r;
  r.subscribe("a/#", entry(1));
  EXPECT_EQ(sessions_matching(r, "a").size(), 1u) << "[MQTT-4.7.1-2] a/# matches a";
  EXPECT_EQ(sessions_matching(r, "a/b").size(), 1u);
  EXPECT_EQ(sessions_matching(r, "a/b/c/d").size(), 1u);
  EXPECT_TRUE(sessions_matching(r, "b").empty());
}

TEST(Router, LeadingWildcardsDoNotMatchDollarTopics) {
  Router r;
  r.subscribe("#", entry(1));
  r.subscribe("+/broker/uptime", entry(2));
  r.subscribe("$SYS/#", entry(3));
  EXPECT_EQ(sessions_matching(r, "$SYS/broker/uptime"), std::vector<std::uint64_t>{3}) << "[MQTT-4.7.2-1]";
  EXPECT_EQ(sessions_matching(r, "x/broker/uptime"), (std::vector<std::uint64_t>{1, 2}));
}

TEST(Router, OverlappingFiltersEachReportTheirEntry) {
  Router r;
  r.subscribe("a/+", entry(1, 0));
  r.subscribe("a/#", entry(1, 2));
  EXPECT_EQ(sessions_matching(r, "a/b"), (std::vector<std::uint64_t>{1, 1}));
}

TEST(Router, ResubscribingReplacesOptions) {
  Router r;
  EXPECT_TRUE(r.subscribe("a", entry(1, 0)));
  EXPECT_FALSE(r.subscribe("a", entry(1, 2)));
  EXPECT_EQ(r.size(), 1u);
  std::vector<const RouteEntry*> out;
  r.match("a", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]->options.qos, 2);
}

TEST(Router, UnsubscribeRemovesOnlyThatSubscriber) {
  Router r;
  r.subscribe("a/+", entry(1));
  r.subscribe("a/+", entry(2));
  EXPECT_TRUE(r.unsubscribe("a/+", {0, 1}));
  EXPECT_FALSE(r.unsubscribe("a/+", {0, 1}));
  EXPECT_FALSE(r.unsubscribe("x/y", {0, 2}));
  EXPECT_EQ(sessions_matching(r, "a/b"), std::vector<std::uint64_t>{2});
  EXPECT_TRUE(r.unsubscribe("a/+", {0, 2}));
  EXPECT_EQ(r.size(), 0u);
  EXPECT_TRUE(sessions_matching(r, "a/b").empty());
}

TEST(Router, SurvivesVeryDeepFilters) {
  Router r;
  std::string deep(60000, '/');
  r.subscribe(deep, entry(1));
  EXPECT_EQ(sessions_matching(r, deep).size(), 1u);
  // Destruction of a 60,000-level trie must not overflow the stack.
}

TEST(Router, ManySubscriptionsMatchByTopicNotByCount) {
  Router r;
  for (std::uint64_t i = 0; i < 10000; ++i) r.subscribe("dev/" + std::to_string(i) + "/temp", entry(i));
  r.subscribe("dev/+/temp", entry(99999));
  EXPECT_EQ(sessions_matching(r, "dev/42/temp"), (std::vector<std::uint64_t>{42, 99999}));
}

}  // namespace
}  // namespace hermod::broker

namespace hermod::broker {
namespace {

TEST(Router, SharedGroupDeliversToOneMemberInTurn) {
  Router r;
  r.subscribe("$share/g/a/+", entry(1));
  r.subscribe("$share/g/a/+", entry(2));
  r.subscribe("a/+", entry(3));
  std::vector<std::uint64_t> shared;
  for (int i = 0; i < 4; ++i) {
    auto ids = sessions_matching(r, "a/x");
    ASSERT_EQ(ids.size(), 2u) << "one group member plus the plain subscriber (MQTT 5 4.8.2)";
    shared.push_back(ids[0] == 3 ? ids[1] : ids[0]);
  }
  EXPECT_EQ(shared, (std::vector<std::uint64_t>{1, 2, 1, 2})) << "round robin";
}

TEST(Router, PickSharedSkipsTheDepartingMember) {
  Router r;
  r.subscribe("$share/g/t", entry(1));
  r.subscribe("$share/g/t", entry(2));
  for (int i = 0; i < 3; ++i) {
    const RouteEntry* e = r.pick_shared("$share/g/t", {0, 1});
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->who.session, 2u);
  }
  EXPECT_TRUE(r.unsubscribe("$share/g/t", {0, 2}));
  EXPECT_EQ(r.pick_shared("$share/g/t", {0, 1}), nullptr) << "no other member left";
  EXPECT_TRUE(r.unsubscribe("$share/g/t", {0, 1}));
  EXPECT_EQ(r.size(), 0u);
}

}  // namespace
}  // namespace hermod::broker
