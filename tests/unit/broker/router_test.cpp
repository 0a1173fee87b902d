#include "broker/routing/router.hpp"

#include <algorithm>
#include <gtest/gtest.h>
#include <random>
#include <string>
#include <vector>

#include "mqtt/topic.hpp"

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

TEST(Router, RepeatedTopicSeesEverySubscriptionChange) {
  // The second match of a topic comes from the match cache; subscribing or unsubscribing must
  // show in the very next match, also for topics that share a cache slot.
  Router r;
  r.subscribe("dev/1/cmd", entry(1));
  EXPECT_EQ(sessions_matching(r, "dev/1/cmd"), std::vector<std::uint64_t>{1});
  EXPECT_EQ(sessions_matching(r, "dev/1/cmd"), std::vector<std::uint64_t>{1});
  r.subscribe("dev/+/cmd", entry(2));
  EXPECT_EQ(sessions_matching(r, "dev/1/cmd"), (std::vector<std::uint64_t>{1, 2}));
  r.unsubscribe("dev/1/cmd", {0, 1});
  EXPECT_EQ(sessions_matching(r, "dev/1/cmd"), std::vector<std::uint64_t>{2});
  for (int i = 0; i < 2000; ++i) {  // many more topics than cache slots
    const std::string t = "dev/" + std::to_string(i) + "/cmd";
    ASSERT_EQ(sessions_matching(r, t), std::vector<std::uint64_t>{2}) << t;
    ASSERT_TRUE(sessions_matching(r, "dev/" + std::to_string(i) + "/other").empty()) << t;
  }
  r.unsubscribe("dev/+/cmd", {0, 2});
  EXPECT_TRUE(sessions_matching(r, "dev/7/cmd").empty());
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

namespace hermod::broker {
namespace {

// Every subscription of a reference list, matched the slow way (mqtt::topic_matches): what the
// router must list for `topic`, as sorted (session, filter) pairs. Shared filters excluded.
using Subscriptions = std::vector<std::pair<std::string, std::uint64_t>>;

std::vector<std::uint64_t> expected_sessions(const Subscriptions& subs, std::string_view topic) {
  std::vector<std::uint64_t> ids;
  for (const auto& [filter, session] : subs) {
    if (mqtt::topic_matches(filter, topic)) ids.push_back(session);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST(Router, HotFilterChangesInTheMiddleKeepEveryOtherSubscriber) {
  Router r;
  constexpr std::uint64_t kCount = 1000;
  for (std::uint64_t s = 1; s <= kCount; ++s) ASSERT_TRUE(r.subscribe("news/all", entry(s, 0)));
  // Replace one in the middle: not new, the size stays, the options change.
  EXPECT_FALSE(r.subscribe("news/all", entry(500, 2)));
  EXPECT_EQ(r.size(), kCount);
  std::vector<const RouteEntry*> out;
  r.match("news/all", out);
  ASSERT_EQ(out.size(), kCount);
  for (const auto* e : out) EXPECT_EQ(e->options.qos, e->who.session == 500 ? 2 : 0);
  // Remove every third, from the middle outwards, then check each remaining one is listed once.
  std::vector<std::uint64_t> remaining;
  for (std::uint64_t s = 1; s <= kCount; ++s) {
    if (s % 3 == 0) {
      EXPECT_TRUE(r.unsubscribe("news/all", {0, s}));
      EXPECT_FALSE(r.unsubscribe("news/all", {0, s})) << "already gone";
    } else {
      remaining.push_back(s);
    }
  }
  EXPECT_EQ(sessions_matching(r, "news/all"), remaining);
  EXPECT_EQ(r.size(), remaining.size());
  EXPECT_FALSE(r.subscribe("news/all", entry(1, 1))) << "still found after the list moved entries around";
  for (std::uint64_t s : remaining) EXPECT_TRUE(r.unsubscribe("news/all", {0, s}));
  EXPECT_EQ(r.size(), 0u);
  EXPECT_TRUE(sessions_matching(r, "news/all").empty());
  EXPECT_TRUE(r.subscribe("news/all", entry(7))) << "the filter works again after it emptied";
}

TEST(Router, LargeSharedGroupStillDeliversRoundRobin) {
  Router r;
  constexpr std::uint64_t kMembers = 40;  // enough for the member index
  for (std::uint64_t s = 1; s <= kMembers; ++s) r.subscribe("$share/g/jobs", entry(s));
  for (std::uint64_t s = 10; s <= 20; ++s) EXPECT_TRUE(r.unsubscribe("$share/g/jobs", {0, s}));
  EXPECT_FALSE(r.subscribe("$share/g/jobs", entry(5, 1))) << "a member that stayed is found";
  const std::size_t members = kMembers - 11;
  EXPECT_EQ(r.size(), members);
  std::vector<std::uint64_t> seen;
  for (std::size_t i = 0; i < members; ++i) {
    const auto ids = sessions_matching(r, "jobs");
    ASSERT_EQ(ids.size(), 1u) << "one member per message (MQTT 5 4.8.2)";
    seen.push_back(ids[0]);
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_TRUE(std::adjacent_find(seen.begin(), seen.end()) == seen.end()) << "round robin: each member once per turn";
  EXPECT_EQ(seen.size(), members);
  EXPECT_TRUE(std::none_of(seen.begin(), seen.end(), [](auto s) { return s >= 10 && s <= 20; }));
}

TEST(Router, LongLevelsAreComparedInFull) {
  Router r;
  const std::string stem(300, 'x');
  r.subscribe("dev/" + stem + "a/temp", entry(1));
  r.subscribe("dev/" + stem + "b/temp", entry(2));
  r.subscribe("dev/" + stem + "a/+", entry(3));
  EXPECT_EQ(sessions_matching(r, "dev/" + stem + "a/temp"), (std::vector<std::uint64_t>{1, 3}));
  EXPECT_EQ(sessions_matching(r, "dev/" + stem + "b/temp"), std::vector<std::uint64_t>{2});
  EXPECT_TRUE(sessions_matching(r, "dev/" + stem + "c/temp").empty());
  EXPECT_TRUE(r.unsubscribe("dev/" + stem + "a/temp", {0, 1}));
  EXPECT_EQ(sessions_matching(r, "dev/" + stem + "a/temp"), std::vector<std::uint64_t>{3});
}

TEST(Router, GrowingAndShrinkingKeepsEveryFilterReachable) {
  // 120,000 nodes: the node table outgrows one segment and splits; then everything is removed.
  Router r;
  constexpr std::uint64_t kDevices = 60000;
  auto device = [](std::uint64_t d) { return "dev/" + std::to_string(d) + "/temp"; };
  for (std::uint64_t d = 0; d < kDevices; ++d) r.subscribe(device(d), entry(d));
  r.subscribe("dev/+/temp", entry(kDevices));
  for (std::uint64_t d = 0; d < kDevices; d += 997) {
    EXPECT_EQ(sessions_matching(r, device(d)), (std::vector<std::uint64_t>{d, kDevices}));
  }
  for (std::uint64_t d = 0; d < kDevices; d += 2) ASSERT_TRUE(r.unsubscribe(device(d), {0, d}));
  for (std::uint64_t d = 0; d < 2000; ++d) {
    const auto want = d % 2 ? std::vector<std::uint64_t>{d, kDevices} : std::vector<std::uint64_t>{kDevices};
    ASSERT_EQ(sessions_matching(r, device(d)), want) << d;
  }
  for (std::uint64_t d = 1; d < kDevices; d += 2) ASSERT_TRUE(r.unsubscribe(device(d), {0, d}));
  EXPECT_EQ(r.size(), 1u);
  EXPECT_EQ(sessions_matching(r, "dev/5/temp"), std::vector<std::uint64_t>{kDevices});
}

TEST(Router, AgreesWithTopicMatchesUnderRandomChurn) {
  // Random filters over a small alphabet of levels (wildcards, '$' levels, empty and long levels),
  // random subscribe and unsubscribe; after each step a few random topics are matched by the
  // router and by mqtt::topic_matches over the reference list.
  const std::vector<std::string> levels = {"a", "b", "", "$SYS", "+", "#", std::string(40, 'l'), "temperature"};
  std::mt19937 rng(7);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  auto random_filter = [&] {
    std::string f;
    const std::size_t depth = 1 + pick(4);
    for (std::size_t i = 0; i < depth; ++i) {
      std::string level = levels[pick(levels.size())];
      if (level == "#" && i + 1 < depth) level = "+";
      f += (i ? "/" : "") + level;
      if (level == "#") break;
    }
    return f;
  };
  auto random_topic = [&] {
    std::string t;
    const std::size_t depth = 1 + pick(5);
    for (std::size_t i = 0; i < depth; ++i) {
      std::string level;
      do level = levels[pick(levels.size())]; while (level == "+" || level == "#");
      t += (i ? "/" : "") + level;
    }
    return t;
  };
  Router r;
  Subscriptions subs;  // (filter, session), each at most once
  for (int step = 0; step < 4000; ++step) {
    if (subs.empty() || pick(3) != 0) {
      const std::string f = random_filter();
      const std::uint64_t s = 1 + pick(20);
      const bool fresh = std::find(subs.begin(), subs.end(), std::pair{f, s}) == subs.end();
      ASSERT_EQ(r.subscribe(f, entry(s)), fresh) << f;
      if (fresh) subs.emplace_back(f, s);
    } else {
      const std::size_t i = pick(subs.size());
      ASSERT_TRUE(r.unsubscribe(subs[i].first, {0, subs[i].second})) << subs[i].first;
      subs.erase(subs.begin() + static_cast<std::ptrdiff_t>(i));
      ASSERT_FALSE(r.unsubscribe(random_filter(), {0, 99})) << "no such subscriber";
    }
    ASSERT_EQ(r.size(), subs.size());
    for (int k = 0; k < 3; ++k) {
      const std::string t = random_topic();
      ASSERT_EQ(sessions_matching(r, t), expected_sessions(subs, t)) << t << " after step " << step;
    }
  }
  while (!subs.empty()) {
    ASSERT_TRUE(r.unsubscribe(subs.back().first, {0, subs.back().second}));
    subs.pop_back();
  }
  EXPECT_EQ(r.size(), 0u);
  EXPECT_TRUE(sessions_matching(r, "a/b").empty());
}

}  // namespace
}  // namespace hermod::broker
