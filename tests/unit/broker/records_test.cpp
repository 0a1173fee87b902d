// The store's record encodings (broker/store/records.hpp): round trips, the inline body of a
// message with one stored recipient, and records of the previous format still decoding.
#include <gtest/gtest.h>

#include "broker/store/records.hpp"
#include "mqtt/wire.hpp"

namespace hermod::broker::store {
namespace {

BodyRecord sample_body() {
  BodyRecord b;
  b.topic = "fleet/group7/cmd";
  b.payload = std::string("\x00\x01payload", 9);
  b.qos = 2;
  b.retain = true;
  b.expires_at_ms = 1'800'000'000'000;
  b.props.content_type = "text/plain";
  b.props.user_properties.emplace_back("k", "v");
  return b;
}

TEST(QueueRecord, RoundTripsWithABodyReference) {
  QueueRecord q;
  q.body_id = 0x0102030405060708;
  q.qos = 1;
  q.packet_id = 513;
  q.state = 1;
  q.subscription_ids = {7, 9};
  q.shared_filter = "$share/g/a/#";
  auto d = decode_queue(encode(q));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->body_id, q.body_id);
  EXPECT_EQ(d->packet_id, 513);
  EXPECT_EQ(d->state, 1);
  EXPECT_EQ(d->subscription_ids, q.subscription_ids);
  EXPECT_EQ(d->shared_filter, q.shared_filter);
  EXPECT_FALSE(d->body);
}

TEST(QueueRecord, CarriesAnInlineBody) {
  QueueRecord q;
  q.body_id = 0;
  q.qos = 2;
  q.body = sample_body();
  auto d = decode_queue(encode(q));
  ASSERT_TRUE(d);
  ASSERT_TRUE(d->body);
  EXPECT_EQ(d->body->topic, q.body->topic);
  EXPECT_EQ(d->body->payload, q.body->payload);
  EXPECT_EQ(d->body->qos, 2);
  EXPECT_TRUE(d->body->retain);
  EXPECT_EQ(d->body->expires_at_ms, q.body->expires_at_ms);
  EXPECT_EQ(d->body->props, q.body->props);
}

TEST(QueueRecord, RejectsNeitherReferenceNorBodyAndTruncation) {
  QueueRecord q;
  q.body_id = 0;  // no body either
  EXPECT_FALSE(decode_queue(encode(q)));
  q.body = sample_body();
  const auto whole = encode(q);
  for (std::size_t n = 0; n < whole.size(); ++n) {
    EXPECT_FALSE(decode_queue(std::string_view(whole).substr(0, n))) << "prefix of " << n << " bytes decoded";
  }
}

TEST(QueueRecord, DecodesTheFirstFormat) {
  // hermod-store-1 wrote: body id, QoS, retain, packet id, state, ids, shared filter; no body.
  std::string v;
  for (int i = 0; i < 7; ++i) mqtt::append_u8(v, 0);
  mqtt::append_u8(v, 42);  // body id 42
  mqtt::append_u8(v, 1);   // QoS
  mqtt::append_u8(v, 0);   // retain
  mqtt::append_u16(v, 0);  // packet id
  mqtt::append_u8(v, 0);   // state
  mqtt::append_u16(v, 0);  // no subscription ids
  mqtt::append_string(v, "");
  auto d = decode_queue(v);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->body_id, 42u);
  EXPECT_FALSE(d->body);
}

}  // namespace
}  // namespace hermod::broker::store
