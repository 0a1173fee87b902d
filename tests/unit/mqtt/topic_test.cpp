// Topic names, topic filters and matching (section 4.7), shared subscriptions (5.0 section 4.8.2).
#include "mqtt/topic.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace hermod::mqtt {
namespace {

struct Validity {
  std::string text;
  bool valid;
  const char* rule;
};

void PrintTo(const Validity& v, std::ostream* os) { *os << '"' << v.text << '"'; }

class TopicNameValidity : public ::testing::TestWithParam<Validity> {};

INSTANTIATE_TEST_SUITE_P(
    Topic, TopicNameValidity,
    ::testing::Values(Validity{"a", true, "[MQTT-4.7.3-1]"},
                      Validity{"sport/tennis/player1", true, "4.7.1.1"},
                      Validity{"/", true, "4.7.1.1 empty levels are allowed"},
                      Validity{"a//b", true, "4.7.1.1"},
                      Validity{"$SYS/broker/load", true, "4.7.2"},
                      Validity{" spaced name ", true, "4.7.3 spaces are allowed"},
                      Validity{"", false, "[MQTT-4.7.3-1] at least one character"},
                      Validity{"a/+", false, "[MQTT-3.3.2-2] no wildcards in a topic name"},
                      Validity{"a/#", false, "[MQTT-3.3.2-2]"},
                      Validity{"+", false, "[MQTT-3.3.2-2]"},
                      Validity{"a+b", false, "[MQTT-3.3.2-2]"},
                      Validity{std::string(65535, 'x'), true, "[MQTT-4.7.3-3] up to 65535 bytes"},
                      Validity{std::string(65536, 'x'), false, "[MQTT-4.7.3-3] at most 65535 bytes"}));

TEST_P(TopicNameValidity, FollowsTheStandard) {
  EXPECT_EQ(is_valid_topic_name(GetParam().text), GetParam().valid) << GetParam().rule;
}

class TopicFilterValidity : public ::testing::TestWithParam<Validity> {};

INSTANTIATE_TEST_SUITE_P(
    Topic, TopicFilterValidity,
    ::testing::Values(Validity{"sport/tennis/#", true, "[MQTT-4.7.1-2]"},
                      Validity{"#", true, "[MQTT-4.7.1-2] '#' on its own"},
                      Validity{"sport/#", true, "[MQTT-4.7.1-2]"},
                      Validity{"+", true, "[MQTT-4.7.1-3] '+' on its own"},
                      Validity{"+/tennis/#", true, "[MQTT-4.7.1-3]"},
                      Validity{"sport/+/player1", true, "[MQTT-4.7.1-3]"},
                      Validity{"/+", true, "4.7.1.3"},
                      Validity{"+/+", true, "4.7.1.3"},
                      Validity{"a//b", true, "4.7.1.1"},
                      Validity{"/", true, "4.7.1.1"},
                      Validity{"$SYS/#", true, "4.7.2"},
                      Validity{"", false, "[MQTT-4.7.3-1] at least one character"},
                      Validity{"sport/tennis#", false, "[MQTT-4.7.1-2] '#' must be a whole level"},
                      Validity{"sport/tennis/#/ranking", false, "[MQTT-4.7.1-2] '#' must be last"},
                      Validity{"#/", false, "[MQTT-4.7.1-2] '#' must be last"},
                      Validity{"##", false, "[MQTT-4.7.1-2]"},
                      Validity{"sport+", false, "[MQTT-4.7.1-3] '+' must be a whole level"},
                      Validity{"sport/+tennis", false, "[MQTT-4.7.1-3]"},
                      Validity{"++", false, "[MQTT-4.7.1-3]"},
                      Validity{"+#", false, "[MQTT-4.7.1-3]"},
                      Validity{"$share/group/a/+", true, "4.8.2 shared subscription"},
                      Validity{"$share/group/#", true, "4.8.2"},
                      Validity{"$share/g//", true, "4.8.2 filter \"/\""},
                      Validity{"$share/group", false, "[MQTT-4.8.2-2] a filter must follow the group"},
                      Validity{"$share/group/", false, "[MQTT-4.8.2-2] the filter must not be empty"},
                      Validity{"$share//a", false, "[MQTT-4.8.2-1] the group must not be empty"},
                      Validity{"$share/", false, "[MQTT-4.8.2-1]"},
                      Validity{"$share/g+/a", false, "[MQTT-4.8.2-2] no wildcard in the group"},
                      Validity{"$share/#/a", false, "[MQTT-4.8.2-2]"},
                      Validity{"$share/g/a#", false, "[MQTT-4.7.1-2] after the group"},
                      Validity{"$share", true, "not a shared subscription: no '/' after $share"},
                      Validity{"$shared/g/a", true, "not a shared subscription"},
                      Validity{std::string(65536, 'x'), false, "[MQTT-4.7.3-3] at most 65535 bytes"}));

TEST_P(TopicFilterValidity, FollowsTheStandard) {
  EXPECT_EQ(is_valid_topic_filter(GetParam().text), GetParam().valid) << GetParam().rule;
}

struct MatchCase {
  const char* filter;
  const char* name;
  bool matches;
  const char* rule;
};

void PrintTo(const MatchCase& m, std::ostream* os) {
  *os << '"' << m.filter << "\" vs \"" << m.name << '"';
}

class TopicMatching : public ::testing::TestWithParam<MatchCase> {};

INSTANTIATE_TEST_SUITE_P(
    Topic, TopicMatching,
    ::testing::Values(
        MatchCase{"a/b", "a/b", true, "4.7 exact"},
        MatchCase{"a/b", "a/c", false, "4.7 exact"},
        MatchCase{"a/b", "a/b/c", false, "4.7 no implicit children"},
        MatchCase{"a/b", "a", false, "4.7 no implicit parent"},
        MatchCase{"A", "a", false, "[MQTT-4.7.3-4] no normalization: case counts"},
        MatchCase{"a ", "a", false, "[MQTT-4.7.3-4] no normalization: spaces count"},
        MatchCase{"sport/tennis/player1/#", "sport/tennis/player1", true, "4.7.1.2 '#' matches the parent"},
        MatchCase{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true, "4.7.1.2"},
        MatchCase{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true, "4.7.1.2"},
        MatchCase{"sport/#", "sport", true, "4.7.1.2 \"sport/#\" matches \"sport\""},
        MatchCase{"a/#", "a", true, "4.7.1.2"},
        MatchCase{"a/#", "a/", true, "4.7.1.2 an empty child level"},
        MatchCase{"a/#", "ab", false, "4.7.1.2 levels, not prefixes"},
        MatchCase{"a/b/#", "a", false, "4.7.1.2 only the direct parent"},
        MatchCase{"#", "a", true, "4.7.1.2"},
        MatchCase{"#", "a/b/c", true, "4.7.1.2"},
        MatchCase{"#", "/", true, "4.7.1.2"},
        MatchCase{"#", "/a", true, "4.7.1.2"},
        MatchCase{"sport/tennis/+", "sport/tennis/player1", true, "4.7.1.3"},
        MatchCase{"sport/tennis/+", "sport/tennis/player1/ranking", false, "4.7.1.3 exactly one level"},
        MatchCase{"sport/+", "sport", false, "4.7.1.3 \"sport/+\" does not match \"sport\""},
        MatchCase{"sport/+", "sport/", true, "4.7.1.3 \"sport/+\" matches \"sport/\""},
        MatchCase{"a/+", "a/", true, "4.7.1.3"},
        MatchCase{"+", "a", true, "4.7.1.3"},
        MatchCase{"+", "a/b", false, "4.7.1.3"},
        MatchCase{"+", "/", false, "4.7.1.3 \"/\" has two levels"},
        MatchCase{"+/+", "/finance", true, "4.7.1.3 \"+/+\" matches \"/finance\""},
        MatchCase{"/+", "/finance", true, "4.7.1.3"},
        MatchCase{"+", "/finance", false, "4.7.1.3"},
        MatchCase{"+/+", "/", true, "4.7.1.3 two empty levels"},
        MatchCase{"+/tennis/#", "sport/tennis", true, "4.7.1.3 with '#'"},
        MatchCase{"+/tennis/#", "sport/tennis/x/y", true, "4.7.1.3"},
        MatchCase{"+/tennis/#", "sport/golf", false, "4.7.1.3"},
        MatchCase{"+/#", "a", true, "4.7.1.2"},
        MatchCase{"a//b", "a//b", true, "4.7.1.1 empty levels are levels"},
        MatchCase{"a/+/b", "a//b", true, "4.7.1.3 '+' matches an empty level"},
        MatchCase{"a/b/", "a/b", false, "4.7.1.1 trailing empty level"},
        MatchCase{"#", "$SYS/broker", false, "[MQTT-4.7.2-1] '#' does not match '$' topics"},
        MatchCase{"+/monitor/Clients", "$SYS/monitor/Clients", false, "[MQTT-4.7.2-1]"},
        MatchCase{"+", "$SYS", false, "[MQTT-4.7.2-1]"},
        MatchCase{"$SYS/#", "$SYS/broker", true, "4.7.2 explicit '$' filter"},
        MatchCase{"$SYS/monitor/+", "$SYS/monitor/Clients", true, "4.7.2"},
        MatchCase{"$SYS/#", "$SYS", true, "4.7.2 with the parent rule"},
        MatchCase{"a/#", "a/$b", true, "4.7.2 '$' matters only in the first level"},
        MatchCase{"a/+", "a/$b", true, "4.7.2"}));

TEST_P(TopicMatching, FollowsTheStandard) {
  const auto& m = GetParam();
  ASSERT_TRUE(is_valid_topic_filter(m.filter));
  ASSERT_TRUE(is_valid_topic_name(m.name));
  EXPECT_EQ(topic_matches(m.filter, m.name), m.matches) << m.rule;
}

TEST(Topic, SharedFilterSplitsIntoGroupAndFilter) {
  auto s = parse_shared_filter("$share/consumers/sensors/+/temp");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->group, "consumers");
  EXPECT_EQ(s->filter, "sensors/+/temp");
}

TEST(Topic, SharedFilterKeepsLeadingSlashOfTheFilter) {
  auto s = parse_shared_filter("$share/g//x");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->group, "g");
  EXPECT_EQ(s->filter, "/x");
}

TEST(Topic, PlainFiltersAreNotShared) {
  EXPECT_FALSE(parse_shared_filter("sensors/#").has_value());
  EXPECT_FALSE(parse_shared_filter("$share").has_value());
  EXPECT_FALSE(parse_shared_filter("$SHARE/g/x").has_value()) << "the prefix is case sensitive";
  EXPECT_FALSE(parse_shared_filter("a/$share/g/x").has_value());
}

TEST(Topic, SharedFilterWithoutFilterPartHasEmptyFilter) {
  auto s = parse_shared_filter("$share/g");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->group, "g");
  EXPECT_TRUE(s->filter.empty());
}

TEST(Topic, SharedFilterPartMatchesLikeAPlainFilter) {
  auto s = parse_shared_filter("$share/g/a/+");
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(topic_matches(s->filter, "a/b"));
  EXPECT_FALSE(topic_matches(s->filter, "a/b/c"));
}

TEST(Topic, HasWildcardFindsPlusAndHash) {
  EXPECT_TRUE(has_wildcard("a/+"));
  EXPECT_TRUE(has_wildcard("#"));
  EXPECT_TRUE(has_wildcard("$share/g/a/#"));
  EXPECT_FALSE(has_wildcard("a/b"));
  EXPECT_FALSE(has_wildcard("$SYS/x"));
}

TEST(Topic, EveryValidNameMatchesItselfAsAFilter) {
  for (std::string_view name : {"a", "/", "a//b", "$SYS/x", "a/b/c/", "//"}) {
    ASSERT_TRUE(is_valid_topic_filter(name));
    EXPECT_TRUE(topic_matches(name, name)) << name;
  }
}

}  // namespace
}  // namespace hermod::mqtt
