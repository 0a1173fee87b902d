// SyncClient over the in-memory transport, with a scripted broker that acknowledges everything
// and echoes each PUBLISH back (as if the client had subscribed to everything).
#include "client/sync_client.hpp"

#include <gtest/gtest.h>

#include "fake_transport.hpp"

namespace hermod::client {
namespace {

using mqtt::ReasonCode;
using testing::FakeNetwork;
using testing::FakeTransport;
using namespace std::chrono_literals;

constexpr auto kVersion = mqtt::ProtocolVersion::v3_1_1;

// Everything runs on the SyncClient's io thread, so the fake needs no locking.
void echo_broker(FakeTransport& t, const mqtt::Packet& packet) {
  if (std::holds_alternative<mqtt::Connect>(packet)) {
    t.inject(mqtt::Connack{}, kVersion);
  } else if (auto* p = std::get_if<mqtt::Publish>(&packet)) {
    if (p->qos == 1) t.inject(mqtt::Puback{p->packet_id, ReasonCode::success, {}}, kVersion);
    if (p->qos == 2) t.inject(mqtt::Pubrec{p->packet_id, ReasonCode::success, {}}, kVersion);
    if (p->topic != "silent") t.inject(mqtt::Publish{p->topic, p->payload, 0, false, false, 0, {}}, kVersion);
  } else if (auto* r = std::get_if<mqtt::Pubrel>(&packet)) {
    t.inject(mqtt::Pubcomp{r->packet_id, ReasonCode::success, {}}, kVersion);
  } else if (auto* s = std::get_if<mqtt::Subscribe>(&packet)) {
    mqtt::Suback ack{s->packet_id, {}, {}};
    for (const auto& sub : s->subscriptions) {
      ack.reasons.push_back(sub.filter == "forbidden" ? ReasonCode::unspecified_error
                                                      : static_cast<ReasonCode>(sub.options.qos));
    }
    t.inject(ack, kVersion);
  } else if (auto* u = std::get_if<mqtt::Unsubscribe>(&packet)) {
    t.inject(mqtt::Unsuback{u->packet_id, {}, {}}, kVersion);
  }
}

struct SyncHarness {
  SyncHarness() { net.responder = echo_broker; }
  ClientOptions options() {
    ClientOptions o;
    o.client_id = "sync";
    o.keep_alive = 0;
    return o;
  }
  FakeNetwork net;
};

TEST(SyncClient, ConnectPublishReceiveDisconnect) {
  SyncHarness h;
  SyncClient c(h.options(), h.net.factory());
  EXPECT_FALSE(c.connect().session_present);
  EXPECT_EQ(c.subscribe("a/#", 1).reasons, std::vector<ReasonCode>{ReasonCode::granted_qos_1});
  const auto r = c.publish("a/b", "hello", 2);
  EXPECT_NE(r.packet_id, 0);
  auto m = c.receive(2s);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->topic, "a/b");
  EXPECT_EQ(m->payload, "hello");
  EXPECT_EQ(c.unsubscribe({"a/#"}).reasons, std::vector<ReasonCode>{ReasonCode::success});
  c.disconnect();
}

TEST(SyncClient, ReceiveReturnsNothingAfterItsTimeout) {
  SyncHarness h;
  SyncClient c(h.options(), h.net.factory());
  c.connect();
  c.publish("silent", "x", 1);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(c.receive(50ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
}

TEST(SyncClient, RefusedSubscriptionIsReportedPerFilter) {
  SyncHarness h;
  SyncClient c(h.options(), h.net.factory());
  c.connect();
  const auto r = c.subscribe({{"ok", {1}}, {"forbidden", {1}}});
  EXPECT_EQ(r.reasons, (std::vector<ReasonCode>{ReasonCode::granted_qos_1, ReasonCode::unspecified_error}));
}

TEST(SyncClient, ConnectFailureThrowsClientErrorNamingTheCause) {
  SyncHarness h;
  h.net.refuse_next = 1;
  SyncClient c(h.options(), h.net.factory());
  try {
    c.connect();
    FAIL() << "connect should throw";
  } catch (const ClientError& e) {
    EXPECT_NE(std::string(e.what()).find("refused"), std::string::npos) << e.what();
  }
}

TEST(SyncClient, UnansweredOperationTimesOut) {
  SyncHarness h;
  h.net.responder = [](FakeTransport& t, const mqtt::Packet& p) {
    if (std::holds_alternative<mqtt::Connect>(p)) t.inject(mqtt::Connack{}, kVersion);  // and nothing else
  };
  SyncClient c(h.options(), h.net.factory());
  c.connect();
  try {
    c.publish("t", "x", 1, false, {}, 50ms);
    FAIL() << "publish should time out";
  } catch (const ClientError& e) {
    EXPECT_EQ(e.code(), std::error_code(Errc::timeout));
  }
}

}  // namespace
}  // namespace hermod::client
