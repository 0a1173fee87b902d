// The packet handlers and delivery driven over in-memory streams (fake_stream.hpp) and a manual
// clock: a real Broker without threads or listeners, whose workers' io_contexts this test runs
// on its own thread. Each test is one behaviour, for MQTT 3.1.1 and 5.0 where both apply.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <stdexcept>

#include "base/clock.hpp"
#include "broker/broker.hpp"
#include "fake_stream.hpp"

namespace hermod::broker {
namespace {

using namespace std::chrono_literals;
using mqtt::ProtocolVersion;
using mqtt::ReasonCode;
using testing::FakePeer;
using testing::FakeStream;

// A retained store whose lookups for filters under "boom/" throw: a handler that fails.
class ThrowingRetained final : public RetainedStore {
 public:
  void set(const MessagePtr& m) override { inner_.set(m); }
  void match(std::string_view filter, std::vector<MessagePtr>& out) const override {
    if (filter.starts_with("boom/")) throw std::runtime_error("injected failure");
    inner_.match(filter, out);
  }
  std::size_t size() const override { return inner_.size(); }

 private:
  LocalRetainedStore inner_;
};

class BrokerTest : public ::testing::TestWithParam<ProtocolVersion> {
 protected:
  ProtocolVersion v() const { return GetParam(); }
  bool v5() const { return mqtt::is_v5(v()); }

  void make(unsigned workers = 1, std::uint32_t connect_timeout = 10, const std::string& data_dir = {}) {
    Config c;
    c.workers = workers;
    c.listeners.clear();
    c.sys_interval = 0;
    c.limits.connect_timeout = connect_timeout;
    if (!data_dir.empty()) {
      c.data_dir = data_dir;
      c.store_mode = "wal";
      c.ack_on_delivery_ms = 60'000;  // long: only the manual clock ends a hold
    }
    if (tweak_) tweak_(c);
    broker_ = std::make_unique<Broker>(c, Broker::Overrides{&clock_, &retained_});
    broker_->prepare();
  }

  // A fresh store directory, removed at the end of the test.
  std::string temp_store() {
    auto dir = std::filesystem::temp_directory_path() /
               ("hermod-unit-" + std::to_string(::getpid()) + "-" + std::to_string(++store_counter_));
    std::filesystem::remove_all(dir);
    stores_.push_back(dir);
    return dir.string();
  }
  void TearDown() override {
    if (broker_) {
      // Close every connection as a stop would, so no stream keeps its connection alive.
      for (std::uint32_t i = 0; i < broker_->worker_count(); ++i) broker_->worker(i).shutdown();
      run();
    }
    broker_.reset();
    for (const auto& d : stores_) std::filesystem::remove_all(d);
  }

  // Runs every worker's ready handlers until none is left (bounded).
  void run() {
    for (int round = 0; round < 1000; ++round) {
      std::size_t n = 0;
      for (std::uint32_t i = 0; i < broker_->worker_count(); ++i) {
        auto& io = broker_->worker(i).io();
        io.restart();
        n += io.poll();
      }
      if (n == 0) return;
    }
    FAIL() << "the workers never went idle";
  }

  // A client stream on worker `w` (the accepting worker).
  std::shared_ptr<FakePeer> open(std::uint32_t w = 0, std::optional<ProtocolVersion> version = {}) {
    auto peer = std::make_shared<FakePeer>(version.value_or(v()));
    auto& worker = broker_->worker(w);
    worker.adopt(std::make_unique<FakeStream>(worker.io(), peer), false)->start();
    return peer;
  }

  mqtt::Connect connect_packet(const std::string& id, bool clean = true, std::uint16_t keep_alive = 0) {
    mqtt::Connect c;
    c.version = v();
    c.client_id = id;
    c.clean_start = clean;
    c.keep_alive = keep_alive;
    return c;
  }

  // Opens a stream, sends `c` and returns the peer once its CONNACK arrived.
  std::shared_ptr<FakePeer> connect(mqtt::Connect c, std::uint32_t w = 0, mqtt::Connack* ack_out = nullptr) {
    auto peer = open(w, c.version);
    peer->send(c);
    run();
    auto packets = peer->packets();
    EXPECT_EQ(packets.size(), 1u) << "CONNACK expected";
    if (packets.empty()) return peer;
    const auto* ack = std::get_if<mqtt::Connack>(&packets[0]);
    EXPECT_NE(ack, nullptr);
    if (ack && ack_out) *ack_out = *ack;
    return peer;
  }
  std::shared_ptr<FakePeer> connect(const std::string& id, bool clean = true, std::uint32_t w = 0) {
    return connect(connect_packet(id, clean), w);
  }

  void subscribe(FakePeer& peer, const std::string& filter, std::uint8_t qos, mqtt::PacketId id = 1) {
    mqtt::Subscribe s;
    s.packet_id = id;
    s.subscriptions.push_back({filter, {qos}});
    peer.send(s);
    run();
  }

  mqtt::Publish publish_packet(const std::string& topic, const std::string& payload, std::uint8_t qos,
                               mqtt::PacketId id = 0, bool retain = false) {
    mqtt::Publish p;
    p.topic = topic;
    p.payload = payload;
    p.qos = qos;
    p.packet_id = id;
    p.retain = retain;
    return p;
  }

  // Packets of type T among `packets`.
  template <typename T>
  static std::vector<T> only(const std::vector<mqtt::Packet>& packets) {
    std::vector<T> out;
    for (const auto& p : packets) {
      if (const auto* t = std::get_if<T>(&p)) out.push_back(*t);
    }
    return out;
  }

  // A watcher of presence/#, and a persistent client "lamp" with a 5 s delayed will whose
  // connection was just lost. Returns the watcher, its earlier packets consumed.
  std::shared_ptr<FakePeer> lose_lamp_with_delayed_will() {
    make();
    auto watcher = connect("watcher");
    subscribe(*watcher, "presence/#", 0);
    (void)watcher->packets();
    auto c = connect_packet("lamp", false);
    c.props.session_expiry_interval = 300;
    c.will = mqtt::Will{"presence/lamp", "offline", 0, false, {}};
    c.will->props.will_delay_interval = 5;
    auto lamp = connect(c);
    lamp->end();
    run();
    return watcher;
  }

  std::uint32_t other_than_home(const std::string& id) {
    const auto home = broker_->services().directory.home(id);
    return (home + 1) % broker_->worker_count();
  }

  // A client id whose session lives on worker `w`.
  std::string id_on(std::uint32_t w, const std::string& prefix) {
    for (int n = 0;; ++n) {
      auto id = prefix + std::to_string(n);
      if (broker_->services().directory.home(id) == w) return id;
    }
  }
  // Every worker's count for the memory budget, summed.
  MemoryUse memory_use() {
    MemoryUse sum;
    for (std::uint32_t i = 0; i < broker_->worker_count(); ++i) {
      const auto& u = broker_->worker(i).memory().use();
      sum.write_buffers += u.write_buffers;
      sum.session_queues += u.session_queues;
      sum.partial_packets += u.partial_packets;
      sum.outboxes += u.outboxes;
      sum.batches_posted += u.batches_posted;
      sum.batches_taken += u.batches_taken;
    }
    return sum;
  }

  std::function<void(Config&)> tweak_;  // applied to the configuration by make()
  ManualClock clock_;
  ThrowingRetained retained_;
  std::unique_ptr<Broker> broker_;
  std::vector<std::filesystem::path> stores_;
  int store_counter_ = 0;
};

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

// ---------------------------------------------------------------------------------- memory budget

TEST_P(BrokerTest, MemoryBudgetParksAHeavyPublisherAndDropsQos0ToAStalledSubscriber) {
  // The budget binds before the per-connection write buffer limit does.
  tweak_ = [](Config& c) {
    c.limits.memory_budget = 128 << 10;
    c.limits.max_write_buffer = 16 << 20;
  };
  make(2);
  const auto sub_id = id_on(1, "stalled");
  auto sub = connect(sub_id, true, 1);
  subscribe(*sub, "flood", 0);
  (void)sub->packets();
  sub->stall_writes = true;
  auto healthy = connect(id_on(1, "healthy"), true, 1);
  subscribe(*healthy, "flood", 0);
  (void)healthy->packets();
  auto pub = connect(connect_packet(id_on(0, "flooder"), true, /*keep_alive=*/2), 0);
  // 2 MiB of 1 KiB QoS 0 messages in one go: the broker's reads fill its scratch buffer.
  const std::string payload(1024, 'x');
  std::string bytes;
  for (int i = 0; i < 2048; ++i) bytes += mqtt::encode(publish_packet("flood", payload, 0), v());
  pub->send_bytes(bytes);
  run();

  auto& w0 = broker_->worker(0).stats();
  auto& w1 = broker_->worker(1).stats();
  EXPECT_GE(w0.memory_exceeded.get() + w1.memory_exceeded.get(), 1u);
  EXPECT_GE(w0.memory_reads_paused.get(), 1u) << "the publisher's reading is paused (TCP back-pressure)";
  EXPECT_FALSE(pub->input.empty()) << "the broker stopped reading the publisher";
  // Its packets wait in the socket: the time it is not read does not count against its keepalive.
  clock_.advance(10s);
  broker_->worker(0).sweep();
  run();
  EXPECT_FALSE(pub->ended_by_broker()) << "a publisher paused for the budget is not timed out [MQTT-3.1.2-24]";
  // A light publisher is still read; its message reaches the healthy subscriber, not the
  // stalled one.
  auto light = connect(id_on(0, "light"), true, 0);
  const auto dropped_before = w1.memory_dropped.get();
  (void)healthy->packets();
  light->send(publish_packet("flood", "light one", 0));
  run();
  EXPECT_EQ(w1.memory_dropped.get(), dropped_before + 1) << "QoS 0 to the stalled subscriber is dropped";
  const auto got = only<mqtt::Publish>(healthy->packets());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "light one");
  const auto held = memory_use();
  EXPECT_GT(held.write_buffers, 0u);
  EXPECT_LE(held.write_buffers, (128u << 10) + (512u << 10)) << "at most the budget and a turn's reads beyond it";
  EXPECT_EQ(held.outboxes, 0u);
  EXPECT_EQ(held.batches_posted, held.batches_taken) << "every batch posted was taken";

  // The stalled subscriber leaves: its write buffer is freed, the publisher is read again.
  sub->end();
  run();
  EXPECT_TRUE(pub->input.empty()) << "below the low-water mark the publisher is read again";
  const auto after = memory_use();
  EXPECT_EQ(after.write_buffers, 0u);
  EXPECT_EQ(after.partial_packets, 0u);
  EXPECT_EQ(after.batches_posted, after.batches_taken);
}

TEST_P(BrokerTest, MemoryBudgetCountsSessionQueuesAndIncompletePackets) {
  make(1);
  auto c = connect_packet("offline", false);
  if (v5()) c.props.session_expiry_interval = 300;
  auto sub = connect(c);
  subscribe(*sub, "q", 1);
  sub->end();
  run();
  auto pub = connect("pub");
  for (int i = 0; i < 3; ++i) pub->send(publish_packet("q", std::string(100, 'm'), 1, static_cast<mqtt::PacketId>(i + 1)));
  run();
  auto& use = broker_->worker(0).memory().use();
  EXPECT_EQ(use.session_queues, 3 * queued_cost(1, 100)) << "three messages wait for the offline session";
  // Half a PUBLISH: its bytes are kept until the rest arrives.
  const auto half = mqtt::encode(publish_packet("q", std::string(100, 'h'), 0), v()).substr(0, 50);
  pub->send_bytes(half);
  run();
  EXPECT_EQ(use.partial_packets, 50u);
  pub->end();
  run();
  EXPECT_EQ(use.partial_packets, 0u) << "freed with its connection";
  auto back = open(0, c.version);  // the session resumes: its queue goes into the in-flight window
  back->send(c);
  run();
  EXPECT_EQ(only<mqtt::Publish>(back->packets()).size(), 3u);
  EXPECT_EQ(use.session_queues, 0u);
}

}  // namespace
}  // namespace hermod::broker
