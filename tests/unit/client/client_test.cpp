// Client driven through an in-memory transport: the test plays the broker (fake_transport.hpp).
#include "client/client.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "fake_transport.hpp"

namespace hermod::client {
namespace {

using mqtt::ProtocolVersion;
using mqtt::ReasonCode;
using testing::FakeNetwork;
using testing::FakeTransport;
using namespace std::chrono_literals;

struct Harness {
  explicit Harness(ClientOptions o = defaults()) : options(o) {
    client = Client::create(io.get_executor(), options, net.factory());
    client->set_message_handler([this](const Message& m) { messages.push_back(m); });
    client->set_disconnected_handler([this](const DisconnectInfo& d) { disconnects.push_back(d); });
    client->set_connected_handler([this](const ConnectResult& r) { connacks.push_back(r); });
  }

  static ClientOptions defaults() {
    ClientOptions o;
    o.client_id = "test-client";
    o.keep_alive = 0;
    o.reconnect.backoff.initial_delay = 1ms;
    o.reconnect.backoff.max_delay = 5ms;
    return o;
  }

  // Runs handlers until `pred` holds; false after 3 s of waiting (a failing test, never a hang).
  template <typename Pred>
  bool run_until(Pred pred, std::chrono::milliseconds limit = 3s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      if (io.stopped()) io.restart();
      io.run_one_for(5ms);
    }
    return true;
  }
  void settle() {
    if (io.stopped()) io.restart();
    io.poll();
  }

  FakeTransport& conn() { return *net.connections.back(); }
  ProtocolVersion v() const { return options.version; }

  // Waits for the CONNECT on a new connection and answers it.
  void accept(bool session_present = false, mqtt::Properties props = {}) {
    const std::size_t n = net.connections.size();
    ASSERT_TRUE(run_until([&] {
      return net.connections.size() > 0 && !conn().sent<mqtt::Connect>().empty() &&
             (n == 0 || net.connections.size() >= n);
    }));
    conn().inject(mqtt::Connack{session_present, ReasonCode::success, std::move(props)}, v());
    ASSERT_TRUE(run_until([&] { return client->connected(); }));
  }

  void connect(bool session_present = false, mqtt::Properties props = {}) {
    client->async_connect([this](std::error_code ec, const ConnectResult&) { connect_ec = ec; connected_once = true; });
    accept(session_present, std::move(props));
    ASSERT_FALSE(connect_ec);
  }

  // Drops the connection and waits for the client's next CONNECT on a fresh one.
  void drop_and_wait_for_reconnect() {
    const std::size_t before = net.connections.size();
    conn().drop();
    ASSERT_TRUE(run_until([&] {
      return net.connections.size() > before && !conn().sent<mqtt::Connect>().empty();
    }));
  }

  ClientOptions options;
  boost::asio::io_context io;
  FakeNetwork net;
  std::shared_ptr<Client> client;
  std::vector<Message> messages;
  std::vector<DisconnectInfo> disconnects;
  std::vector<ConnectResult> connacks;
  std::error_code connect_ec;
  bool connected_once = false;
};

struct PublishOutcome {
  bool done = false;
  std::error_code ec;
  PublishResult result;
};

PublishHandler record(PublishOutcome& o) {
  return [&o](std::error_code ec, const PublishResult& r) {
    o.done = true;
    o.ec = ec;
    o.result = r;
  };
}

Message msg(std::string topic, std::uint8_t qos, std::string payload = "p") {
  Message m;
  m.topic = std::move(topic);
  m.payload = std::move(payload);
  m.qos = qos;
  return m;
}

// ---- connecting ----

TEST(ClientConnect, SendsEveryConnectOptionV5) {
  auto o = Harness::defaults();
  o.version = ProtocolVersion::v5;
  o.client_id = "dev-1";
  o.clean_start = false;
  o.keep_alive = 30;
  o.username = "user";
  o.password = "secret";
  o.will = mqtt::Will{"status/dev-1", "offline", 1, true, {}};
  o.will->props.will_delay_interval = 5;
  o.connect_props.session_expiry_interval = 3600;
  Harness h(o);
  h.connect();
  const auto c = h.conn().sent<mqtt::Connect>().at(0);
  EXPECT_EQ(c.version, ProtocolVersion::v5);
  EXPECT_EQ(c.client_id, "dev-1");
  EXPECT_FALSE(c.clean_start);
  EXPECT_EQ(c.keep_alive, 30);
  EXPECT_EQ(c.username, "user");
  EXPECT_EQ(c.password, "secret");
  ASSERT_TRUE(c.will);
  EXPECT_EQ(c.will->topic, "status/dev-1");
  EXPECT_EQ(c.will->payload, "offline");
  EXPECT_EQ(c.will->qos, 1);
  EXPECT_TRUE(c.will->retain);
  EXPECT_EQ(c.will->props.will_delay_interval, 5u);
  EXPECT_EQ(c.props.session_expiry_interval, 3600u);
}

TEST(ClientConnect, Mqtt31UsesItsOwnProtocolName) {
  auto o = Harness::defaults();
  o.version = ProtocolVersion::v3_1;
  Harness h(o);
  h.connect();
  EXPECT_EQ(h.conn().sent<mqtt::Connect>().at(0).version, ProtocolVersion::v3_1);
  EXPECT_EQ(h.conn().written_bytes.substr(4, 6), "MQIsdp");
}

TEST(ClientConnect, RefusalCompletesWithTheReasonCodeAndDoesNotRetry) {
  Harness h;
  std::error_code ec;
  bool done = false;
  h.client->async_connect([&](std::error_code e, const ConnectResult&) { ec = e; done = true; });
  ASSERT_TRUE(h.run_until([&] { return !h.net.connections.empty() && !h.conn().sent<mqtt::Connect>().empty(); }));
  h.conn().inject(mqtt::Connack{false, ReasonCode::not_authorized, {}}, h.v());
  ASSERT_TRUE(h.run_until([&] { return done; }));
  EXPECT_EQ(reason_of(ec), ReasonCode::not_authorized);
  EXPECT_EQ(ec.message(), "not authorized");
  h.run_until([] { return false; }, 30ms);
  EXPECT_EQ(h.net.connections.size(), 1u);
}

TEST(ClientConnect, TransportFailureOfTheFirstAttemptIsReported) {
  Harness h;
  h.net.refuse_next = 1;
  std::error_code ec;
  bool done = false;
  h.client->async_connect([&](std::error_code e, const ConnectResult&) { ec = e; done = true; });
  ASSERT_TRUE(h.run_until([&] { return done; }));
  EXPECT_TRUE(ec);
  EXPECT_EQ(h.net.connections.size(), 1u) << "like mosquitto_sub: the first failure is final by default";
}

TEST(ClientConnect, RetryFirstConnectKeepsTrying) {
  auto o = Harness::defaults();
  o.reconnect.retry_first_connect = true;
  Harness h(o);
  h.net.refuse_next = 3;
  h.client->async_connect([](std::error_code, const ConnectResult&) {});
  ASSERT_TRUE(h.run_until([&] { return h.net.connections.size() == 4 && !h.conn().sent<mqtt::Connect>().empty(); }));
  h.conn().inject(mqtt::Connack{}, h.v());
  EXPECT_TRUE(h.run_until([&] { return h.client->connected(); }));
}

TEST(ClientConnect, TimesOutWithoutConnack) {
  auto o = Harness::defaults();
  o.connect_timeout = 50ms;
  Harness h(o);
  std::error_code ec;
  bool done = false;
  h.client->async_connect([&](std::error_code e, const ConnectResult&) { ec = e; done = true; });
  ASSERT_TRUE(h.run_until([&] { return done; }));
  EXPECT_EQ(ec, std::error_code(Errc::connect_timeout));
}

TEST(ClientConnect, SecondConnectIsRefused) {
  Harness h;
  h.connect();
  std::error_code ec;
  h.client->async_connect([&](std::error_code e, const ConnectResult&) { ec = e; });
  ASSERT_TRUE(h.run_until([&] { return bool(ec); }));
  EXPECT_EQ(ec, std::error_code(Errc::already_connecting));
}

TEST(ClientConnect, AssignedClientIdIsUsedOnReconnect) {
  auto o = Harness::defaults();
  o.version = ProtocolVersion::v5;
  o.client_id = "";
  Harness h(o);
  mqtt::Properties props;
  props.assigned_client_identifier = "auto-123";
  h.connect(false, props);
  EXPECT_EQ(h.client->client_id(), "auto-123");
  h.drop_and_wait_for_reconnect();
  EXPECT_EQ(h.conn().sent<mqtt::Connect>().at(0).client_id, "auto-123");
}

// ---- publishing ----

TEST(ClientPublish, QoS1CompletesOnPubackWithTheReasonCode) {
  auto o = Harness::defaults();
  o.version = ProtocolVersion::v5;
  Harness h(o);
  h.connect();
  PublishOutcome out;
  h.client->async_publish(msg("a/b", 1), record(out));
  ASSERT_TRUE(h.run_until([&] { return !h.conn().sent<mqtt::Publish>().empty(); }));
  const auto p = h.conn().sent<mqtt::Publish>().at(0);
  EXPECT_EQ(p.qos, 1);
  EXPECT_FALSE(out.done);
  h.conn().inject(mqtt::Puback{p.packet_id, ReasonCode::no_matching_subscribers, {}}, h.v());
  ASSERT_TRUE(h.run_until([&] { return out.done; }));
  EXPECT_FALSE(out.ec);
  EXPECT_EQ(out.result.reason, ReasonCode::no_matching_subscribers);
}

TEST(ClientPublish, QoS2RunsTheFullHandshake) {
  Harness h;
  h.connect();
  PublishOutcome out;
  h.client->async_publish(msg("a", 2), record(out));
  ASSERT_TRUE(h.run_until([&] { return !h.conn().sent<mqtt::Publish>().empty(); }));
  const auto id = h.conn().sent<mqtt::Publish>().at(0).packet_id;
  h.conn().inject(mqtt::Pubrec{id, ReasonCode::success, {}}, h.v());
  ASSERT_TRUE(h.run_until([&] { return !h.conn().sent<mqtt::Pubrel>().empty(); }));
  EXPECT_EQ(h.conn().sent<mqtt::Pubrel>().at(0).packet_id, id);
  EXPECT_FALSE(out.done);
  h.conn().inject(mqtt::Pubcomp{id, ReasonCode::success, {}}, h.v());
  ASSERT_TRUE(h.run_until([&] { return out.done; }));
  EXPECT_FALSE(out.ec);
}

TEST(ClientPublish, InvalidTopicIsRefusedWithoutSending) {
  Harness h;
  h.connect();
  PublishOutcome out;
  h.client->async_publish(msg("a/+", 0), record(out));
  ASSERT_TRUE(h.run_until([&] { return out.done; }));
  EXPECT_EQ(out.ec, std::error_code(Errc::invalid_argument));
  EXPECT_TRUE(h.conn().sent<mqtt::Publish>().empty());
}

TEST(ClientPublish, ReceiveMaximumLimitsMessagesInFlight) {
  auto o = Harness::defaults();
  o.version = ProtocolVersion::v5;
  Harness h(o);
  mqtt::Properties props;
  props.receive_maximum = 1;
  h.connect(false, props);
  for (int i = 0; i < 3; ++i) h.client->async_publish(msg("t", 1));
  ASSERT_TRUE(h.run_until([&] { return !h.conn().sent<mqtt::Publish>().empty(); }));
  h.settle();
  ASSERT_EQ(h.conn().sent<mqtt::Publish>().size(), 1u);
  h.conn().inject(mqtt::Puback{h.conn().sent<mqtt::Publish>()[0].packet_id, ReasonCode::success, {}}, h.v());
  EXPECT_TRUE(h.run_until([&] { return h.conn().sent<mqtt::Publish>().size() == 2; }));
}

TEST(ClientPublish, PublishesMadeBeforeConnectingAreSentAfterConnack) {
  Harness h;
  PublishOutcome out;
  h.client->async_publish(msg("early", 1), record(out));
  h.connect();
  ASSERT_TRUE(h.run_until([&] { return !h.conn().sent<mqtt::Publish>().empty(); }));
  EXPECT_TRUE(std::holds_alternative<mqtt::Connect>(h.conn().received.at(0)));
  EXPECT_EQ(h.conn().sent<mqtt::Publish>().at(0).topic, "early");
}

TEST(ClientPublish, OfflineBufferLimitIsReportedToTheCaller) {
  auto o = Harness::defaults();
  o.offline_buffer.max_messages = 2;
  Harness h(o);
  h.connect();
  h.conn().drop();
  ASSERT_TRUE(h.run_until([&] { return !h.client->connected(); }));
  h.net.refuse_next = 1000;  // stay offline
  PublishOutcome a, b, c;
  h.client->async_publish(msg("t", 1), record(a));
  h.client->async_publish(msg("t", 1), record(b));
  h.client->async_publish(msg("t", 1), record(c));
  ASSERT_TRUE(h.run_until([&] { return c.done; }));
  EXPECT_EQ(c.ec, std::error_code(Errc::offline_buffer_full));
  EXPECT_FALSE(a.done);
  EXPECT_EQ(h.client->session().queued_messages(), 2u);
}

// ---- reliability across reconnects ----

TEST(ClientReconnect, InFlightMessagesAreResentWithDupAndTheirIds) {
  Harness h;
  h.connect();
  PublishOutcome q1, q2;
  h.client->async_publish(msg("one", 1), record(q1));
  h.client->async_publish(msg("two", 2), record(q2));
  ASSERT_TRUE(h.run_until([&] { return h.conn().sent<mqtt::Publish>().size() == 2; }));
  const auto first = h.conn().sent<mqtt::Publish>();
  h.conn().inject(mqtt::Pubrec{first[1].packet_id, ReasonCode::success, {}}, h.v());
  ASSERT_TRUE(h.run_until([&] { return !h.conn().sent<mqtt::Pubrel>().empty(); }));

  h.drop_and_wait_for_reconnect();
  ASSERT_EQ(h.disconnects.size(), 1u);
  EXPECT_TRUE(h.disconnects[0].will_reconnect);
  h.accept(true);
  ASSERT_TRUE(h.run_until([&] { return h.conn().received.size() >= 3; }));
  const auto resent = h.conn().sent<mqtt::Publish>();
  ASSERT_EQ(resent.size(), 1u);
  EXPECT_TRUE(resent[0].dup) << "[MQTT-3.3.1-1]";
  EXPECT_EQ(resent[0].packet_id, first[0].packet_id) << "[MQTT-4.4.0-1] original packet id";
  EXPECT_EQ(resent[0].topic, "one");
  ASSERT_EQ(h.conn().sent<mqtt::Pubrel>().size(), 1u);
  EXPECT_EQ(h.conn().sent<mqtt::Pubrel>()[0].packet_id, first[1].packet_id);

  h.conn().inject(mqtt::Puback{first[0].packet_id, ReasonCode::success, {}}, h.v());
  h.conn().inject(mqtt::Pubcomp{first[1].packet_id, ReasonCode::success, {}}, h.v());
  ASSERT_TRUE(h.run_until([&] { return q1.done && q2.done; }));
  EXPECT_FALSE(q1.ec);
  EXPECT_FALSE(q2.ec);
}

TEST(ClientReconnect, ResubscribesWhenTheBrokerHasNoSession) {
  Harness h;
  h.connect();
  bool subscribed = false;
  h.client->async_subscribe("sensors/#", 1, [&](std::error_code, const SubscribeResult&) { subscribed = true; });
  ASSERT_TRUE(h.run_until([&] { return !h.conn().sent<mqtt::Subscribe>().empty(); }));
  h.conn().inject(mqtt::Suback{h.conn().sent<mqtt::Subscribe>()[0].packet_id, {ReasonCode::granted_qos_1}, {}}, h.v());
  ASSERT_TRUE(h.run_until([&] { return subscribed; }));

  h.drop_and_wait_for_reconnect();
  h.accept(false);
  ASSERT_TRUE(h.run_until([&] { return !h.conn().sent<mqtt::Subscribe>().empty(); }));
  const auto again = h.conn().sent<mqtt::Subscribe>()[0];
  ASSERT_EQ(again.subscriptions.size(), 1u);
  EXPECT_EQ(again.subscriptions[0].filter, "sensors/#");
  EXPECT_EQ(again.subscriptions[0].options.qos, 1);
}

TEST(ClientReconnect, NoResubscriptionWhenTheSessionIsPresent) {
  Harness h;
  h.connect();
  h.client->async_subscribe("a", 0, [](std::error_code, const SubscribeResult&) {});
  ASSERT_TRUE(h.run_until([&] { return !h.conn().sent<mqtt::Subscribe>().empty(); }));
  h.conn().inject(mqtt::Suback{h.conn().sent<mqtt::Subscribe>()[0].packet_id, {ReasonCode::success}, {}}, h.v());
  h.settle();
  h.drop_and_wait_for_reconnect();
  h.accept(true);
  h.settle();
  EXPECT_TRUE(h.conn().sent<mqtt::Subscribe>().empty());
}

TEST(ClientReconnect, DisabledReconnectFailsWhatIsPending) {
  auto o = Harness::defaults();
  o.reconnect.enabled = false;
  Harness h(o);
  h.connect();
  PublishOutcome q1, later;
  h.client->async_publish(msg("t", 1), record(q1));
  ASSERT_TRUE(h.run_until([&] { return !h.conn().sent<mqtt::Publish>().empty(); }));
  h.conn().drop();
  ASSERT_TRUE(h.run_until([&] { return q1.done; }));
  EXPECT_EQ(q1.ec, std::error_code(Errc::connection_lost));
  ASSERT_EQ(h.disconnects.size(), 1u);
  EXPECT_FALSE(h.disconnects[0].will_reconnect);
  h.client->async_publish(msg("t", 1), record(later));
  ASSERT_TRUE(h.run_until([&] { return later.done; }));
  EXPECT_EQ(later.ec, std::error_code(Errc::not_connected));
}

// ---- receiving ----

TEST(ClientReceive, QoS1IsDeliveredAndAcknowledged) {
  Harness h;
  h.connect();
  h.conn().inject(mqtt::Publish{"a/b", "hello", 1, true, false, 9, {}}, h.v());
  ASSERT_TRUE(h.run_until([&] { return !h.conn().sent<mqtt::Puback>().empty(); }));
  ASSERT_EQ(h.messages.size(), 1u);
  EXPECT_EQ(h.messages[0].topic, "a/b");
  EXPECT_EQ(h.messages[0].payload, "hello");
  EXPECT_EQ(h.messages[0].qos, 1);
  EXPECT_TRUE(h.messages[0].retain);
  EXPECT_EQ(h.conn().sent<mqtt::Puback>()[0].packet_id, 9);
}

TEST(ClientReceive, QoS2IsDeliveredOnceEvenWhenResent) {
  Harness h;
  h.connect();
  h.conn().inject(mqtt::Publish{"t", "once", 2, false, false, 5, {}}, h.v());
  h.conn().inject(mqtt::Publish{"t", "once", 2, false, true, 5, {}}, h.v());
  ASSERT_TRUE(h.run_until([&] { return h.conn().sent<mqtt::Pubrec>().size() == 2; }));
  EXPECT_EQ(h.messages.size(), 1u) << "exactly once [MQTT-4.3.3]";
  h.conn().inject(mqtt::Pubrel{5, ReasonCode::success, {}}, h.v());
  ASSERT_TRUE(h.run_until([&] { return !h.conn().sent<mqtt::Pubcomp>().empty(); }));
  EXPECT_EQ(h.conn().sent<mqtt::Pubcomp>()[0].packet_id, 5);
}

TEST(ClientReceive, V5PropertiesReachTheMessageHandler) {
  auto o = Harness::defaults();
  o.version = ProtocolVersion::v5;
  Harness h(o);
  h.connect();
  mqtt::Publish p{"t", "{}", 0, false, false, 0, {}};
  p.props.content_type = "application/json";
  p.props.user_properties = {{"k", "v"}};
  h.conn().inject(p, h.v());
  ASSERT_TRUE(h.run_until([&] { return !h.messages.empty(); }));
  EXPECT_EQ(h.messages[0].props.content_type, "application/json");
  EXPECT_EQ(h.messages[0].props.user_properties.at(0).second, "v");
}

// ---- failures named ----

TEST(ClientFailure, MalformedPacketFromTheBrokerIsNamed) {
  Harness h;
  h.connect();
  h.conn().inject_bytes(std::string("\x30\xff\xff\xff\xff\x01", 6));  // 5-byte remaining length
  ASSERT_TRUE(h.run_until([&] { return !h.disconnects.empty(); }));
  EXPECT_EQ(h.disconnects[0].ec, std::error_code(Errc::malformed_packet));
  EXPECT_FALSE(h.disconnects[0].detail.empty());
}

TEST(ClientFailure, ServerDisconnectCarriesItsReason) {
  auto o = Harness::defaults();
  o.version = ProtocolVersion::v5;
  Harness h(o);
  h.connect();
  mqtt::Disconnect d{ReasonCode::server_shutting_down, {}};
  d.props.reason_string = "maintenance";
  h.conn().inject(d, h.v());
  ASSERT_TRUE(h.run_until([&] { return !h.disconnects.empty(); }));
  EXPECT_EQ(reason_of(h.disconnects[0].ec), ReasonCode::server_shutting_down);
  EXPECT_EQ(h.disconnects[0].detail, "maintenance");
  EXPECT_TRUE(h.disconnects[0].will_reconnect);
}

TEST(ClientKeepalive, PingsAQuietLinkAndDropsADeadOne) {
  auto o = Harness::defaults();
  o.keep_alive = 1;
  o.ping_timeout = 100ms;
  o.reconnect.enabled = false;
  Harness h(o);
  h.connect();
  ASSERT_TRUE(h.run_until([&] { return !h.conn().sent<mqtt::Pingreq>().empty(); }, 2s));
  ASSERT_TRUE(h.run_until([&] { return !h.disconnects.empty(); }, 1s));
  EXPECT_EQ(h.disconnects[0].ec, std::error_code(Errc::keepalive_timeout));
}

TEST(ClientKeepalive, PingrespKeepsTheLinkUp) {
  auto o = Harness::defaults();
  o.keep_alive = 1;
  o.ping_timeout = 200ms;
  Harness h(o);
  h.connect();
  ASSERT_TRUE(h.run_until([&] { return !h.conn().sent<mqtt::Pingreq>().empty(); }, 2s));
  h.conn().inject(mqtt::Pingresp{}, h.v());
  h.run_until([] { return false; }, 400ms);
  EXPECT_TRUE(h.disconnects.empty());
  EXPECT_TRUE(h.client->connected());
}

// ---- disconnecting ----

TEST(ClientDisconnect, SendsDisconnectClosesAndCancelsWhatIsPending) {
  Harness h;
  h.connect();
  PublishOutcome q1;
  h.client->async_publish(msg("t", 1), record(q1));
  bool done = false;
  h.client->async_disconnect([&](std::error_code) { done = true; });
  ASSERT_TRUE(h.run_until([&] { return done; }));
  EXPECT_FALSE(h.conn().sent<mqtt::Disconnect>().empty());
  EXPECT_TRUE(h.conn().closed());
  EXPECT_TRUE(q1.done);
  EXPECT_EQ(q1.ec, std::error_code(Errc::cancelled));
  h.run_until([] { return false; }, 20ms);
  EXPECT_EQ(h.net.connections.size(), 1u) << "no reconnect after a deliberate disconnect";
}

TEST(ClientDisconnect, DisconnectWhileConnectingCompletesTheConnectAsCancelled) {
  Harness h;
  std::error_code connect_ec;
  bool connect_done = false, disconnected = false;
  h.client->async_connect([&](std::error_code ec, const ConnectResult&) { connect_ec = ec; connect_done = true; });
  h.client->async_disconnect([&](std::error_code) { disconnected = true; });
  ASSERT_TRUE(h.run_until([&] { return connect_done && disconnected; }));
  EXPECT_EQ(connect_ec, std::error_code(Errc::cancelled));
}

TEST(ClientLifetime, DestroyingTheClientCancelsWhatIsPending) {
  Harness h;
  h.connect();
  PublishOutcome q1;
  h.client->async_publish(msg("t", 1), record(q1));
  ASSERT_TRUE(h.run_until([&] { return !h.conn().sent<mqtt::Publish>().empty(); }));
  h.client.reset();
  ASSERT_TRUE(h.run_until([&] { return q1.done; }));
  EXPECT_EQ(q1.ec, std::error_code(Errc::cancelled));
  EXPECT_TRUE(h.net.connections.back()->closed());
}

}  // namespace
}  // namespace hermod::client
