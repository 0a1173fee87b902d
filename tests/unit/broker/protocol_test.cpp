// The packet handlers and delivery driven over in-memory streams (fake_stream.hpp) and a manual
// clock: a real Broker without threads or listeners, whose workers' io_contexts this test runs
// on its own thread. Each test is one behaviour, for MQTT 3.1.1 and 5.0 where both apply.
#include "broker_fixture.hpp"

namespace hermod::broker {
namespace {

using namespace std::chrono_literals;
using mqtt::ProtocolVersion;
using mqtt::ReasonCode;
using testing::FakePeer;
using testing::FakeStream;
using testing_support::BrokerTest;

INSTANTIATE_TEST_SUITE_P(Versions, BrokerTest, ::testing::Values(ProtocolVersion::v3_1_1, ProtocolVersion::v5),
                         [](const auto& info) { return info.param == ProtocolVersion::v5 ? "v5" : "v311"; });

TEST_P(BrokerTest, NewSessionGetsConnackWithoutSessionPresent) {
  make();
  mqtt::Connack ack;
  connect(connect_packet("c1"), 0, &ack);
  EXPECT_EQ(ack.reason, ReasonCode::success);
  EXPECT_FALSE(ack.session_present) << "[MQTT-3.2.2-2]";
}

TEST_P(BrokerTest, ResumedSessionHasSessionPresentAndItsSubscriptions) {
  make();
  auto a = connect("keeper", false);
  if (v5()) {
    // MQTT 5: the session outlives the connection only with a Session Expiry Interval.
    a->end();
    run();
    auto c = connect_packet("keeper", false);
    c.props.session_expiry_interval = 60;
    a = connect(c);
  }
  subscribe(*a, "t/#", 1);
  a->end();
  run();
  auto c = connect_packet("keeper", false);
  if (v5()) c.props.session_expiry_interval = 60;
  mqtt::Connack ack;
  auto b = connect(c, 0, &ack);
  EXPECT_TRUE(ack.session_present) << "[MQTT-3.2.2-3]";
  auto pub = connect("pub");
  pub->send(publish_packet("t/x", "kept", 0));
  run();
  const auto got = only<mqtt::Publish>(b->packets());
  ASSERT_EQ(got.size(), 1u) << "the resumed session's subscription delivers";
  EXPECT_EQ(got[0].payload, "kept");
}

TEST_P(BrokerTest, ConnectOnAnotherWorkerIsHandedToTheHomeWorker) {
  make(3);
  const std::uint32_t accepting = other_than_home("far");
  auto peer = connect("far", true, accepting);
  EXPECT_EQ(peer->streams, 2) << "the stream moved to the client id's home worker";
  subscribe(*peer, "h/+", 0);
  EXPECT_EQ(only<mqtt::Suback>(peer->packets()).size(), 1u);
  auto pub = connect("pub-far", true, accepting);
  pub->send(publish_packet("h/1", "there", 0));
  run();
  EXPECT_EQ(only<mqtt::Publish>(peer->packets()).size(), 1u);
}

TEST_P(BrokerTest, TakeoverAcrossWorkersClosesTheOldConnection) {
  make(3);
  const auto home = broker_->services().directory.home("twice");
  auto first = connect("twice", true, home);
  auto second = connect("twice", true, other_than_home("twice"));
  EXPECT_TRUE(first->ended_by_broker()) << "[MQTT-3.1.4-2]";
  EXPECT_FALSE(second->ended_by_broker());
  if (v5()) {
    const auto d = only<mqtt::Disconnect>(first->packets());
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].reason, ReasonCode::session_taken_over);
  }
}

TEST_P(BrokerTest, Qos1PublishIsAcknowledgedAndDelivered) {
  make(2);
  auto sub = connect("s1", true, 0);
  subscribe(*sub, "q/1", 1);
  (void)sub->packets();
  auto pub = connect("p1", true, 1);
  pub->send(publish_packet("q/1", "one", 1, 7));
  run();
  const auto acks = only<mqtt::Puback>(pub->packets());
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].packet_id, 7);
  const auto got = only<mqtt::Publish>(sub->packets());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].qos, 1);
  EXPECT_NE(got[0].packet_id, 0);
}

TEST_P(BrokerTest, Qos0PublishReachesEverySubscriberOnEveryWorker) {
  make(3);
  std::vector<std::shared_ptr<FakePeer>> subs;
  for (std::uint32_t w = 0; w < 3; ++w) {
    const std::string id = "s0-" + std::to_string(w);
    subs.push_back(connect(id, true, broker_->services().directory.home(id)));
    subscribe(*subs.back(), "fan/#", 0);
    (void)subs.back()->packets();
  }
  auto pub = connect("p0");
  pub->send(publish_packet("fan/out", "all", 0));
  run();
  EXPECT_TRUE(pub->packets().empty()) << "QoS 0: no acknowledgement";
  for (auto& s : subs) EXPECT_EQ(only<mqtt::Publish>(s->packets()).size(), 1u);
}

TEST_P(BrokerTest, Qos1AcknowledgementWaitsForThePersistentSubscribersPuback) {
  make(1, 10, temp_store());
  auto c = connect_packet("durable", false);
  if (v5()) c.props.session_expiry_interval = 600;
  auto sub = connect(c);
  subscribe(*sub, "d/#", 1);
  (void)sub->packets();
  auto pub = connect("d-pub");
  pub->send(publish_packet("d/1", "kept", 1, 5));
  run();
  EXPECT_TRUE(only<mqtt::Puback>(pub->packets()).empty())
      << "acknowledgement on delivery: the PUBACK waits for the subscriber or the store";
  const auto got = only<mqtt::Publish>(sub->packets());
  ASSERT_EQ(got.size(), 1u);
  sub->send(mqtt::Puback{got[0].packet_id});
  run();
  EXPECT_EQ(only<mqtt::Puback>(pub->packets()).size(), 1u) << "delivered: nothing left to lose";
}

TEST_P(BrokerTest, Qos1AcknowledgementGoesOnceTheHeldDeliveryIsStored) {
  make(1, 10, temp_store());
  auto c = connect_packet("slow", false);
  if (v5()) c.props.session_expiry_interval = 600;
  auto sub = connect(c);
  subscribe(*sub, "d/#", 1);
  (void)sub->packets();
  auto pub = connect("d-pub");
  pub->send(publish_packet("d/1", "kept", 1, 5));
  run();
  EXPECT_TRUE(only<mqtt::Puback>(pub->packets()).empty());
  clock_.advance(61s);
  broker_->worker(0).sweep();
  run();
  EXPECT_EQ(only<mqtt::Puback>(pub->packets()).size(), 1u) << "the hold ran out: written, then acknowledged";
}

TEST_P(BrokerTest, Qos2ExchangeDeliversOnce) {
  make();
  auto sub = connect("s2");
  subscribe(*sub, "q/2", 2);
  (void)sub->packets();
  auto pub = connect("p2");
  pub->send(publish_packet("q/2", "two", 2, 9));
  pub->send(publish_packet("q/2", "two", 2, 9));  // resent before PUBREL: not routed again [MQTT-4.3.3-9]
  run();
  EXPECT_EQ(only<mqtt::Pubrec>(pub->packets()).size(), 2u);
  pub->send(mqtt::Pubrel{9});
  run();
  EXPECT_EQ(only<mqtt::Pubcomp>(pub->packets()).size(), 1u);
  const auto got = only<mqtt::Publish>(sub->packets());
  ASSERT_EQ(got.size(), 1u) << "exactly once";
  sub->send(mqtt::Pubrec{got[0].packet_id});
  run();
  EXPECT_EQ(only<mqtt::Pubrel>(sub->packets()).size(), 1u);
}

TEST_P(BrokerTest, SubscribeGetsRetainedMessageAfterSuback) {
  make();
  auto pub = connect("r-pub");
  pub->send(publish_packet("status/door", "open", 1, 1, true));
  run();
  auto sub = connect("r-sub");
  subscribe(*sub, "status/+", 1);
  const auto packets = sub->packets();
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<mqtt::Suback>(packets[0])) << "SUBACK first";
  const auto* p = std::get_if<mqtt::Publish>(&packets[1]);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->retain) << "[MQTT-3.3.1-8]";
  EXPECT_EQ(p->payload, "open");
}

TEST_P(BrokerTest, WillIsPublishedWhenTheConnectionIsLost) {
  make();
  auto watcher = connect("watcher");
  subscribe(*watcher, "presence/#", 0);
  (void)watcher->packets();
  auto c = connect_packet("lamp");
  c.will = mqtt::Will{"presence/lamp", "offline", 0, false, {}};
  auto lamp = connect(c);
  lamp->end();
  run();
  const auto got = only<mqtt::Publish>(watcher->packets());
  ASSERT_EQ(got.size(), 1u) << "[MQTT-3.1.2-8]";
  EXPECT_EQ(got[0].payload, "offline");
}

TEST_P(BrokerTest, DelayedWillWaitsForItsDelay) {
  if (!v5()) GTEST_SKIP() << "will delay is MQTT 5";
  auto watcher = lose_lamp_with_delayed_will();
  broker_->worker(0).sweep();
  run();
  EXPECT_TRUE(only<mqtt::Publish>(watcher->packets()).empty()) << "not before the delay [MQTT-3.1.3-9]";
  clock_.advance(5s);
  broker_->worker(0).sweep();
  run();
  EXPECT_EQ(only<mqtt::Publish>(watcher->packets()).size(), 1u) << "published once the delay passed";
}

TEST_P(BrokerTest, ReconnectWithinWillDelayCancelsTheWill) {
  if (!v5()) GTEST_SKIP() << "will delay is MQTT 5";
  auto watcher = lose_lamp_with_delayed_will();
  clock_.advance(2s);
  auto again = connect_packet("lamp", false);
  again.props.session_expiry_interval = 300;
  connect(again);
  clock_.advance(10s);
  broker_->worker(0).sweep();
  run();
  EXPECT_TRUE(only<mqtt::Publish>(watcher->packets()).empty()) << "[MQTT-3.1.2-8]";
}

TEST_P(BrokerTest, KeepaliveTimeoutClosesAfterOneAndAHalfIntervals) {
  make();
  auto c = connect(connect_packet("sleepy", true, 10));
  clock_.advance(14s);
  broker_->worker(0).sweep();
  run();
  EXPECT_FALSE(c->ended_by_broker()) << "within 1.5 x keepalive";
  clock_.advance(2s);
  broker_->worker(0).sweep();
  run();
  EXPECT_TRUE(c->ended_by_broker()) << "[MQTT-3.1.2-24]";
  if (v5()) {
    const auto d = only<mqtt::Disconnect>(c->packets());
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].reason, ReasonCode::keep_alive_timeout);
  }
}

TEST_P(BrokerTest, ConnectTimeoutClosesASilentConnection) {
  make(1, 3);
  auto peer = open();
  clock_.advance(4s);
  broker_->worker(0).sweep();
  run();
  EXPECT_TRUE(peer->ended_by_broker());
}

TEST_P(BrokerTest, SessionExpiresAfterItsInterval) {
  if (!v5()) GTEST_SKIP() << "session expiry intervals are MQTT 5";
  make();
  auto c = connect_packet("brief", false);
  c.props.session_expiry_interval = 10;
  connect(c)->end();
  run();
  clock_.advance(11s);
  broker_->worker(0).sweep();
  run();
  mqtt::Connack ack;
  connect(c, 0, &ack);
  EXPECT_FALSE(ack.session_present) << "[MQTT-3.1.2-23]: the session ended after its expiry interval";
}

TEST_P(BrokerTest, HandlerThatThrowsClosesOnlyItsClient) {
  make();
  auto victim = connect("victim");
  auto bystander = connect("bystander");
  subscribe(*bystander, "ok/#", 1);
  (void)bystander->packets();
  subscribe(*victim, "boom/#", 0);  // the retained lookup after SUBACK throws
  EXPECT_TRUE(victim->ended_by_broker());
  if (v5()) {
    const auto d = only<mqtt::Disconnect>(victim->packets());
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].reason, ReasonCode::implementation_specific_error);
  }
  bystander->send(publish_packet("ok/1", "still here", 1, 3));
  run();
  const auto packets = bystander->packets();
  EXPECT_EQ(only<mqtt::Puback>(packets).size(), 1u) << "the worker still serves its other clients";
  EXPECT_EQ(only<mqtt::Publish>(packets).size(), 1u);
}

TEST_P(BrokerTest, PacketsAfterConnectInTheSameReadAreServed) {
  make(2);
  auto peer = open(other_than_home("eager"));
  std::string bytes = mqtt::encode(connect_packet("eager"), v());
  mqtt::Subscribe s;
  s.packet_id = 4;
  s.subscriptions.push_back({"e/#", {0}});
  bytes += mqtt::encode(s, v());
  bytes += mqtt::encode(mqtt::Pingreq{}, v());
  peer->send_bytes(bytes);
  run();
  const auto packets = peer->packets();
  ASSERT_EQ(packets.size(), 3u) << "CONNACK, SUBACK, PINGRESP: the bytes after CONNECT travel with the hand-off";
  EXPECT_TRUE(std::holds_alternative<mqtt::Connack>(packets[0])) << "CONNACK first [MQTT-3.2.0-1]";
  // SUBACK waits until every worker's replica has the subscription; PINGRESP need not.
  EXPECT_EQ(only<mqtt::Suback>(packets).size(), 1u);
  EXPECT_EQ(only<mqtt::Pingresp>(packets).size(), 1u);
}

}  // namespace
}  // namespace hermod::broker
