#include "broker/session/session.hpp"

#include <gtest/gtest.h>

namespace hermod::broker {
namespace {

OutboundMessage out(std::string payload, std::uint8_t qos = 1) {
  auto m = make_message("t", payload);
  m->qos = qos;
  return OutboundMessage{m, qos, false};
}

TEST(Session, PacketIdsSkipThoseInFlightAndWrap) {
  Session s("c", 1, Session::kNeverExpires);
  auto first = s.next_packet_id();
  ASSERT_TRUE(first);
  EXPECT_NE(*first, 0) << "[MQTT-2.3.1-1] packet identifiers are non-zero";
  s.inflight().insert(2, InflightMessage{out("x"), 1, InflightMessage::State::awaiting_puback});
  EXPECT_EQ(*s.next_packet_id(), 3) << "an id in flight is skipped";
  for (int i = 4; i <= 65535; ++i) (void)s.next_packet_id();  // 4 .. 65535
  EXPECT_EQ(*s.next_packet_id(), 1) << "ids wrap after 65535 and skip 0";
}

TEST(Session, QueueDropsNewestWhenCountLimitReached) {
  Session s("c", 1, Session::kNeverExpires);
  Limits limits;
  limits.max_queued_messages = 2;
  { auto m = out("1"); EXPECT_TRUE(s.enqueue(m, limits)); }
  { auto m = out("2"); EXPECT_TRUE(s.enqueue(m, limits)); }
  { auto m = out("3"); EXPECT_FALSE(s.enqueue(m, limits)); }
  EXPECT_EQ(s.dequeue().message->payload(), "1");
  EXPECT_EQ(s.dequeue().message->payload(), "2");
  EXPECT_TRUE(s.queue_empty());
}

TEST(Session, QueueRespectsByteLimit) {
  Session s("c", 1, Session::kNeverExpires);
  Limits limits;
  limits.max_queued_bytes = 5;
  { auto m = out("abc"); EXPECT_TRUE(s.enqueue(m, limits)); }
  { auto m = out("abc"); EXPECT_FALSE(s.enqueue(m, limits)); }
  { auto m = out("ab"); EXPECT_TRUE(s.enqueue(m, limits)); }
  (void)s.dequeue();
  { auto m = out("abc"); EXPECT_TRUE(s.enqueue(m, limits)) << "dequeued bytes are freed"; }
}

TEST(Session, InflightInOrderFollowsSendSequence) {
  Session s("c", 1, Session::kNeverExpires);
  s.inflight().insert(9, InflightMessage{out("a"), s.next_sequence(), InflightMessage::State::awaiting_puback});
  s.inflight().insert(3, InflightMessage{out("b"), s.next_sequence(), InflightMessage::State::awaiting_pubrec});
  s.inflight().insert(5, InflightMessage{out("c"), s.next_sequence(), InflightMessage::State::awaiting_pubcomp});
  EXPECT_EQ(s.inflight_in_order(), (std::vector<mqtt::PacketId>{9, 3, 5}));
}

}  // namespace
}  // namespace hermod::broker
