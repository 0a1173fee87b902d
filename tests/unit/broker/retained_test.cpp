#include "broker/routing/retained.hpp"

#include <algorithm>
#include <gtest/gtest.h>

namespace hermod::broker {
namespace {

MessagePtr msg(std::string topic, std::string payload) {
  auto m = make_message(topic, payload);
  m->retain = true;
  return m;
}

std::vector<std::string> topics(const LocalRetainedStore& s, std::string_view filter) {
  std::vector<MessagePtr> out;
  s.match(filter, out);
  std::vector<std::string> t;
  for (auto& m : out) t.emplace_back(m->topic());
  std::sort(t.begin(), t.end());
  return t;
}

TEST(LocalRetainedStore, KeepsTheLastMessagePerTopic) {
  LocalRetainedStore s;
  s.set(msg("a/b", "1"));
  s.set(msg("a/b", "2"));
  std::vector<MessagePtr> out;
  s.match("a/b", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]->payload(), "2");
  EXPECT_EQ(s.size(), 1u);
}

TEST(LocalRetainedStore, EmptyPayloadDeletes) {
  LocalRetainedStore s;
  s.set(msg("a/b", "1"));
  s.set(msg("a/b", ""));
  EXPECT_TRUE(topics(s, "a/b").empty()) << "[MQTT-3.3.1-10]";
  EXPECT_EQ(s.size(), 0u);
  s.set(msg("never/stored", ""));
  EXPECT_EQ(s.size(), 0u);
}

TEST(LocalRetainedStore, WildcardFiltersFindMatchingTopics) {
  LocalRetainedStore s;
  for (auto t : {"a", "a/b", "a/c", "a/b/c", "b/b", "$SYS/x"}) s.set(msg(t, "x"));
  EXPECT_EQ(topics(s, "a/+"), (std::vector<std::string>{"a/b", "a/c"}));
  EXPECT_EQ(topics(s, "a/#"), (std::vector<std::string>{"a", "a/b", "a/b/c", "a/c"}));
  EXPECT_EQ(topics(s, "+/b"), (std::vector<std::string>{"a/b", "b/b"}));
  EXPECT_EQ(topics(s, "#"), (std::vector<std::string>{"a", "a/b", "a/b/c", "a/c", "b/b"})) << "[MQTT-4.7.2-1]";
  EXPECT_EQ(topics(s, "$SYS/#"), (std::vector<std::string>{"$SYS/x"}));
}

}  // namespace
}  // namespace hermod::broker
