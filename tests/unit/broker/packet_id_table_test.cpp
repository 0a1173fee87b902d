#include "broker/session/packet_id_table.hpp"

#include <map>
#include <memory>
#include <random>

#include <gtest/gtest.h>

namespace hermod::broker {
namespace {

using Table = PacketIdTable<std::shared_ptr<int>>;

// Every entry of `oracle` is found with its value, and nothing else is.
void expect_same(Table& t, const std::map<mqtt::PacketId, int>& oracle) {
  ASSERT_EQ(t.size(), oracle.size());
  for (const auto& [id, v] : oracle) {
    auto* found = t.find(id);
    ASSERT_NE(found, nullptr) << "id " << id;
    EXPECT_EQ(**found, v) << "id " << id;
  }
  std::size_t seen = 0;
  t.for_each([&](mqtt::PacketId id, std::shared_ptr<int>& v) {
    ++seen;
    auto it = oracle.find(id);
    ASSERT_NE(it, oracle.end()) << "unexpected id " << id;
    EXPECT_EQ(*v, it->second);
  });
  EXPECT_EQ(seen, oracle.size());
}

TEST(PacketIdTable, FindsInsertsAndErases) {
  Table t;
  EXPECT_EQ(t.find(1), nullptr) << "an empty table holds no slots and finds nothing";
  EXPECT_FALSE(t.erase(1));
  t.insert(7, std::make_shared<int>(70));
  t.insert(8, std::make_shared<int>(80));
  EXPECT_TRUE(t.contains(7));
  EXPECT_FALSE(t.contains(9));
  EXPECT_FALSE(t.contains(0)) << "0 is never a packet id";
  EXPECT_TRUE(t.erase(7));
  EXPECT_FALSE(t.contains(7));
  ASSERT_NE(t.find(8), nullptr);
  EXPECT_EQ(**t.find(8), 80);
}

TEST(PacketIdTable, EraseDestroysTheValueAtOnce) {
  // The in-flight window relies on it: erasing a delivery releases its message and opens its
  // publisher's acknowledgement gate then, not later.
  Table t;
  auto value = std::make_shared<int>(1);
  t.insert(3, std::shared_ptr<int>(value));
  EXPECT_EQ(value.use_count(), 2);
  t.erase(3);
  EXPECT_EQ(value.use_count(), 1);
}

TEST(PacketIdTable, CollidingIdsSurviveErasesInTheMiddleOfARun) {
  // 16 initial slots: 5, 21, 37 share home slot 5; 6 and 22 share 6; 15, 31 wrap to slot 0.
  Table t;
  std::map<mqtt::PacketId, int> oracle;
  for (mqtt::PacketId id : {5, 21, 6, 37, 22, 15, 31}) {
    t.insert(id, std::make_shared<int>(id * 10));
    oracle[id] = id * 10;
  }
  expect_same(t, oracle);
  for (mqtt::PacketId id : {21, 15, 5, 22}) {
    ASSERT_TRUE(t.erase(id));
    oracle.erase(id);
    expect_same(t, oracle);
  }
}

TEST(PacketIdTable, MatchesAMapUnderRandomWindows) {
  // Like a session's window: ids handed out in sequence (wrapping after 65535), acknowledged
  // mostly in order with some stragglers, so runs of ids wrap around the table and collide.
  std::mt19937 rng(42);
  Table t;
  std::map<mqtt::PacketId, int> oracle;
  mqtt::PacketId next = 65000;
  for (int step = 0; step < 200000; ++step) {
    const bool add = oracle.size() < 3 || (oracle.size() < 700 && rng() % 100 < 52);
    if (add) {
      do next = static_cast<mqtt::PacketId>(next == 65535 ? 1 : next + 1);
      while (oracle.count(next));
      const int v = static_cast<int>(rng());
      t.insert(next, std::make_shared<int>(v));
      oracle[next] = v;
    } else {
      // The oldest most of the time, any one sometimes.
      auto it = oracle.begin();
      if (rng() % 4 == 0) std::advance(it, rng() % oracle.size());
      ASSERT_TRUE(t.erase(it->first));
      oracle.erase(it);
    }
    if (step % 997 == 0) expect_same(t, oracle);
  }
  expect_same(t, oracle);
}

TEST(PacketIdTable, IdsInOrderFollowTheKey) {
  PacketIdTable<int> t;
  t.insert(40, 3);
  t.insert(2, 1);
  t.insert(18, 2);
  EXPECT_EQ(t.ids_in_order([](int v) { return v; }), (std::vector<mqtt::PacketId>{2, 18, 40}));
}

TEST(PacketIdTable, EmptyTableGivesItsSlotsBack) {
  PacketIdTable<int> t;
  t.insert(1, 1);
  t.release_if_empty();
  EXPECT_TRUE(t.contains(1)) << "a table in use keeps its slots";
  t.erase(1);
  t.release_if_empty();
  EXPECT_TRUE(t.empty());
  t.insert(2, 2);
  EXPECT_TRUE(t.contains(2)) << "usable again after giving its slots back";
}

}  // namespace
}  // namespace hermod::broker
