// The reloadable rules as clients meet them: the topic ACL on SUBSCRIBE, PUBLISH, the will and
// every delivery (also after a reload that revokes a grant), and the per-client limits
// (message and byte rates, subscriptions, topic length and depth). Over in-memory streams with
// a manual clock (broker_fixture.hpp), for MQTT 3.1.1 and 5.0.
#include <fstream>

#include "broker_fixture.hpp"

namespace hermod::broker {
namespace {

using mqtt::ProtocolVersion;
using mqtt::ReasonCode;
using testing::FakePeer;

class PolicyTest : public testing_support::BrokerTest {
 protected:
  void SetUp() override { acl_path_ = temp_store() + ".acl"; }
  void TearDown() override {
    BrokerTest::TearDown();
    std::filesystem::remove(acl_path_);
  }
  void write_acl(const std::string& text) { std::ofstream(acl_path_) << text; }
  void make_with_acl(const std::string& text, unsigned workers = 1) {
    write_acl(text);
    make(workers, 10, {}, [this](Config& c) { c.auth.acl_file = acl_path_; });
  }
  mqtt::Connect as_user(const std::string& id, const std::string& user) {
    auto c = connect_packet(id);
    c.username = user;
    return c;
  }
  std::vector<ReasonCode> suback(FakePeer& peer, const std::vector<std::string>& filters, mqtt::PacketId id = 1) {
    mqtt::Subscribe s;
    s.packet_id = id;
    for (const auto& f : filters) s.subscriptions.push_back({f, {1}});
    peer.send(s);
    run();
    const auto acks = only<mqtt::Suback>(peer.packets());
    EXPECT_EQ(acks.size(), 1u);
    return acks.empty() ? std::vector<ReasonCode>{} : acks[0].reasons;
  }
  // The code of the PUBACK for a QoS 1 PUBLISH to `topic`.
  ReasonCode puback(FakePeer& peer, const std::string& topic, mqtt::PacketId id = 7) {
    peer.send(publish_packet(topic, "x", 1, id));
    run();
    const auto acks = only<mqtt::Puback>(peer.packets());
    EXPECT_EQ(acks.size(), 1u) << "a refused QoS 1 PUBLISH is still acknowledged";
    return acks.empty() ? ReasonCode::unspecified_error : acks[0].reason;
  }
  ReasonCode refused() const { return v5() ? ReasonCode::not_authorized : ReasonCode::unspecified_error; }

  std::string acl_path_;
};

INSTANTIATE_TEST_SUITE_P(Versions, PolicyTest, ::testing::Values(ProtocolVersion::v3_1_1, ProtocolVersion::v5),
                         [](const auto& info) { return info.param == ProtocolVersion::v5 ? "v5" : "v311"; });

TEST_P(PolicyTest, SubscribeIsGrantedPerFilter) {
  make_with_acl("user alice\ntopic read a/#\n");
  auto alice = connect(as_user("c1", "alice"));
  const auto codes = suback(*alice, {"a/+", "b/x", "#"});
  ASSERT_EQ(codes.size(), 3u);
  EXPECT_EQ(codes[0], ReasonCode::granted_qos_1);
  EXPECT_EQ(codes[1], refused()) << "SUBACK 0x87 (3.1.1: 0x80) for a filter the ACL does not cover";
  EXPECT_EQ(codes[2], refused()) << "a/# does not cover #";
}

TEST_P(PolicyTest, PublishWithoutWriteAccessIsNotDelivered) {
  make_with_acl("user alice\ntopic readwrite a/#\nuser eve\ntopic read a/#\n");
  auto alice = connect(as_user("c1", "alice"));
  subscribe(*alice, "a/#", 1);
  (void)alice->packets();
  auto eve = connect(as_user("c2", "eve"));
  EXPECT_EQ(puback(*eve, "a/x"), v5() ? ReasonCode::not_authorized : ReasonCode::success)
      << "MQTT 5: PUBACK 0x87; 3.1.1 has no code: acknowledged and dropped";
  EXPECT_TRUE(only<mqtt::Publish>(alice->packets()).empty());
  EXPECT_EQ(puback(*alice, "a/y"), ReasonCode::success) << "alice may write, and reads her own message";
}

TEST_P(PolicyTest, DenyOverlappingAGrantedFilterFiltersDeliveries) {
  make_with_acl("user u\ntopic readwrite a/#\ntopic deny a/secret\n");
  auto sub = connect(as_user("c1", "u"));
  EXPECT_EQ(suback(*sub, {"a/#"})[0], ReasonCode::granted_qos_1);
  auto pub = connect(as_user("c2", "u"));
  pub->send(publish_packet("a/secret", "s", 0));
  pub->send(publish_packet("a/open", "o", 0));
  run();
  const auto got = only<mqtt::Publish>(sub->packets());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].topic, "a/open");
}

TEST_P(PolicyTest, WillTopicNeedsWriteAccess) {
  make_with_acl("user u\ntopic read w/#\n");
  auto c = as_user("c1", "u");
  c.will = mqtt::Will{"w/u", "gone", 0, false, {}};
  mqtt::Connack ack;
  connect(c, 0, &ack);
  EXPECT_EQ(ack.reason, v5() ? ReasonCode::not_authorized : ReasonCode::not_authorized);
}

TEST_P(PolicyTest, ReloadRevokingReadStopsLiveAndQueuedDeliveries) {
  make_with_acl("pattern readwrite t/#\n");
  // A persistent subscriber that goes offline with messages queued, and a live one.
  auto c = connect_packet("offline", false);
  if (v5()) c.props.session_expiry_interval = 300;
  auto offline = connect(c);
  subscribe(*offline, "t/#", 1);
  offline->end();
  run();
  auto live = connect("live");
  subscribe(*live, "t/#", 0);
  (void)live->packets();
  auto pub = connect("pub");
  pub->send(publish_packet("t/1", "before", 1, 1));
  run();
  EXPECT_EQ(only<mqtt::Publish>(live->packets()).size(), 1u);

  write_acl("pattern write t/#\n");  // read revoked
  broker_->reload();
  run();
  pub->send(publish_packet("t/2", "after", 1, 2));
  run();
  EXPECT_TRUE(only<mqtt::Publish>(live->packets()).empty()) << "a revoked grant stops a live subscription";
  auto back = connect(c);
  run();
  EXPECT_TRUE(only<mqtt::Publish>(back->packets()).empty()) << "and what was queued for an offline session";
}

TEST_P(PolicyTest, ABrokenAclFileKeepsThePreviousRules) {
  make_with_acl("pattern readwrite t/#\n");
  write_acl("pattern readwrite t/#\nbogus line\n");
  broker_->reload();
  run();
  auto sub = connect("s");
  EXPECT_EQ(suback(*sub, {"t/x"})[0], ReasonCode::granted_qos_1) << "never fail open, never fail closed";
  EXPECT_EQ(suback(*sub, {"u/x"}, 2)[0], refused());
}

TEST_P(PolicyTest, NoClientMayPublishToSys) {
  make_with_acl("pattern readwrite #\npattern readwrite $SYS/#\n");
  auto c = connect("c");
  EXPECT_EQ(puback(*c, "$SYS/broker/uptime"), v5() ? ReasonCode::not_authorized : ReasonCode::success);
}

TEST_P(PolicyTest, MessageRateRefusesMqtt5Qos1BeyondTheBurst) {
  make(1, 10, {}, [](Config& c) { c.limits.message_rate = 2; });
  auto pub = connect("p");
  std::string bytes;
  for (mqtt::PacketId id = 1; id <= 3; ++id) bytes += mqtt::encode(publish_packet("r", "x", 1, id), v());
  pub->send_bytes(bytes);
  run();
  const auto acks = only<mqtt::Puback>(pub->packets());
  ASSERT_EQ(acks.size(), 3u);
  EXPECT_EQ(acks[1].reason, v5() ? ReasonCode::no_matching_subscribers : ReasonCode::success);
  // MQTT 5 refuses the third with 0x97: 0x96 Message rate too high is not a PUBACK code (MQTT 5
  // 3.4.2.1). 3.1.1 takes it and stops reading for a while instead.
  EXPECT_EQ(acks[2].reason, v5() ? ReasonCode::quota_exceeded : ReasonCode::success);
}

TEST_P(PolicyTest, ByteRateRefusesMqtt5Qos1WithQuotaExceeded) {
  make(1, 10, {}, [](Config& c) { c.limits.byte_rate = 100; });
  auto pub = connect("p");
  std::string bytes;
  for (mqtt::PacketId id = 1; id <= 2; ++id) bytes += mqtt::encode(publish_packet("r", std::string(60, 'x'), 1, id), v());
  pub->send_bytes(bytes);
  run();
  const auto acks = only<mqtt::Puback>(pub->packets());
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(acks[1].reason, v5() ? ReasonCode::quota_exceeded : ReasonCode::success);
}

TEST_P(PolicyTest, MaxSubscriptionsRefusesOneMore) {
  make(1, 10, {}, [](Config& c) { c.limits.max_subscriptions = 2; });
  auto c = connect("c");
  const auto codes = suback(*c, {"a", "b", "c", "a"});
  ASSERT_EQ(codes.size(), 4u);
  EXPECT_EQ(codes[1], ReasonCode::granted_qos_1);
  EXPECT_EQ(codes[2], v5() ? ReasonCode::quota_exceeded : ReasonCode::unspecified_error);
  EXPECT_EQ(codes[3], ReasonCode::granted_qos_1) << "replacing a subscription is not one more";
}

TEST_P(PolicyTest, TopicLengthAndDepthLimits) {
  make(1, 10, {}, [](Config& c) {
    c.limits.max_topic_length = 8;
    c.limits.max_topic_depth = 3;
  });
  auto c = connect("c");
  const auto codes = suback(*c, {"a/b/c", "a/b/c/d", "abcdefghi"});
  ASSERT_EQ(codes.size(), 3u);
  EXPECT_EQ(codes[0], ReasonCode::granted_qos_1);
  const auto invalid = v5() ? ReasonCode::topic_filter_invalid : ReasonCode::unspecified_error;
  EXPECT_EQ(codes[1], invalid);
  EXPECT_EQ(codes[2], invalid);
  EXPECT_EQ(puback(*c, "a/b/c/d"), v5() ? ReasonCode::topic_name_invalid : ReasonCode::success);
}

}  // namespace
}  // namespace hermod::broker
