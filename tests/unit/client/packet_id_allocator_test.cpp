#include "client/packet_id_allocator.hpp"

#include <gtest/gtest.h>

namespace hermod::client {
namespace {

TEST(PacketIdAllocator, StartsAtOneAndCountsUp) {
  PacketIdAllocator ids;
  EXPECT_EQ(ids.allocate(), 1);
  EXPECT_EQ(ids.allocate(), 2);
  EXPECT_EQ(ids.in_use_count(), 2u);
}

TEST(PacketIdAllocator, NeverHandsOutZero) {
  PacketIdAllocator ids;
  for (int i = 0; i < 70'000; ++i) {
    auto id = ids.allocate();
    ASSERT_TRUE(id);
    ASSERT_NE(*id, 0) << "[MQTT-2.2.1-3] packet identifiers are non-zero";
    ids.release(*id);
  }
}

TEST(PacketIdAllocator, SkipsIdsStillInUseAfterWrapping) {
  PacketIdAllocator ids;
  ASSERT_EQ(ids.allocate(), 1);  // held
  for (int i = 2; i <= 65535; ++i) ids.release(*ids.allocate());
  EXPECT_EQ(ids.allocate(), 2) << "1 is still in use, so the wrap lands on 2";
}

TEST(PacketIdAllocator, DoesNotReuseAJustReleasedId) {
  PacketIdAllocator ids;
  auto a = ids.allocate();
  ids.release(*a);
  EXPECT_NE(ids.allocate(), a);
}

TEST(PacketIdAllocator, ReportsExhaustion) {
  PacketIdAllocator ids;
  for (int i = 0; i < 65535; ++i) ASSERT_TRUE(ids.allocate());
  EXPECT_FALSE(ids.allocate());
  ids.release(777);
  EXPECT_EQ(ids.allocate(), 777);
}

TEST(PacketIdAllocator, ReserveRefusesUsedAndZero) {
  PacketIdAllocator ids;
  EXPECT_TRUE(ids.reserve(5));
  EXPECT_FALSE(ids.reserve(5));
  EXPECT_FALSE(ids.reserve(0));
  EXPECT_TRUE(ids.in_use(5));
  ids.release(5);
  EXPECT_FALSE(ids.in_use(5));
}

}  // namespace
}  // namespace hermod::client
