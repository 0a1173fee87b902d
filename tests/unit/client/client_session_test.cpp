// ClientSession: the client's protocol state without I/O (client_session.hpp).
#include "client/client_session.hpp"

#include <gtest/gtest.h>

#include "client/error.hpp"

namespace hermod::client {
namespace {

using mqtt::ReasonCode;

Message msg(std::string topic, std::uint8_t qos, std::string payload = "x") {
  Message m;
  m.topic = std::move(topic);
  m.payload = std::move(payload);
  m.qos = qos;
  return m;
}

// Records every completion a handler receives.
struct Recorder {
  std::vector<std::pair<std::error_code, PublishResult>> calls;
  PublishHandler handler() {
    return [this](std::error_code ec, const PublishResult& r) { calls.emplace_back(ec, r); };
  }
};

void run(std::vector<PublishCompletion>& done) {
  for (auto& c : done) c.handler(c.ec, c.result);
}
void run(std::optional<PublishCompletion>& done) {
  ASSERT_TRUE(done);
  done->handler(done->ec, done->result);
}

ClientSession connected_session(std::uint16_t receive_maximum = 65535, BufferLimits limits = {}) {
  ClientSession s(limits, 100);
  s.set_connection(mqtt::ProtocolVersion::v5, receive_maximum, 0);
  return s;
}

std::error_code enqueue(ClientSession& s, Message m, PublishHandler h = [](auto, auto&) {}) {
  return s.enqueue(std::move(m), std::move(h));
}

TEST(ClientSessionBuffer, RefusesAMessageOverTheCountLimit) {
  ClientSession s(BufferLimits{2, 0}, 100);
  EXPECT_FALSE(enqueue(s, msg("a", 1)));
  EXPECT_FALSE(enqueue(s, msg("a", 1)));
  Message third = msg("a", 1);
  PublishHandler h = [](auto, auto&) {};
  EXPECT_EQ(s.enqueue(std::move(third), std::move(h)), std::error_code(Errc::offline_buffer_full));
  EXPECT_TRUE(h) << "a refused publish keeps its handler so the caller can report the error";
  EXPECT_EQ(third.topic, "a");
  EXPECT_EQ(s.queued_messages(), 2u);
}

TEST(ClientSessionBuffer, RefusesAMessageOverTheByteLimit) {
  ClientSession s(BufferLimits{0, 10}, 100);
  EXPECT_FALSE(enqueue(s, msg("t", 0, "12345678")));  // 9 bytes
  EXPECT_EQ(enqueue(s, msg("t", 0, "12")), std::error_code(Errc::offline_buffer_full));
  EXPECT_FALSE(enqueue(s, msg("t", 0, "")));  // exactly 10
  EXPECT_EQ(s.queued_bytes(), 10u);
}

TEST(ClientSessionBuffer, SendingFreesRoomInTheBuffer) {
  ClientSession s(BufferLimits{1, 0}, 100);
  s.set_connection(mqtt::ProtocolVersion::v3_1_1, 65535, 0);
  EXPECT_FALSE(enqueue(s, msg("a", 0)));
  EXPECT_TRUE(enqueue(s, msg("b", 0)));
  auto out = s.take_sendable();
  EXPECT_EQ(out.packets.size(), 1u);
  EXPECT_EQ(s.queued_bytes(), 0u);
  EXPECT_FALSE(enqueue(s, msg("c", 0)));
}

TEST(ClientSessionSend, QoS0CompletesWhenHandedOver) {
  auto s = connected_session();
  Recorder r;
  enqueue(s, msg("a", 0), r.handler());
  auto out = s.take_sendable();
  ASSERT_EQ(out.packets.size(), 1u);
  EXPECT_EQ(out.packets[0].packet_id, 0);
  run(out.done);
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_FALSE(r.calls[0].first);
  EXPECT_EQ(s.inflight(), 0u);
}

TEST(ClientSessionSend, InFlightWindowFollowsTheReceiveMaximum) {
  auto s = connected_session(2);
  for (int i = 0; i < 5; ++i) enqueue(s, msg("t/" + std::to_string(i), 1));
  auto out = s.take_sendable();
  ASSERT_EQ(out.packets.size(), 2u) << "[MQTT-4.9.0-2] no more than receive maximum unacknowledged";
  EXPECT_EQ(out.packets[0].topic, "t/0");
  EXPECT_EQ(out.packets[1].topic, "t/1");
  EXPECT_EQ(s.queued_messages(), 3u);
  EXPECT_FALSE(s.on_puback(mqtt::Puback{out.packets[0].packet_id, ReasonCode::success, {}}) == std::nullopt);
  auto more = s.take_sendable();
  ASSERT_EQ(more.packets.size(), 1u);
  EXPECT_EQ(more.packets[0].topic, "t/2");
}

TEST(ClientSessionSend, QoS0WaitsBehindAQoS1ThatCannotGoYet) {
  auto s = connected_session(1);
  enqueue(s, msg("first", 1));
  enqueue(s, msg("second", 1));
  enqueue(s, msg("third", 0));
  auto out = s.take_sendable();
  ASSERT_EQ(out.packets.size(), 1u) << "order of publishes is kept [MQTT-4.6.0-6]";
  EXPECT_EQ(out.packets[0].topic, "first");
}

TEST(ClientSessionSend, TooLargeForTheBrokerFailsWithoutSending) {
  ClientSession s({}, 100);
  s.set_connection(mqtt::ProtocolVersion::v5, 65535, 20);
  Recorder r;
  enqueue(s, msg("topic", 1, std::string(50, 'x')), r.handler());
  auto out = s.take_sendable();
  EXPECT_TRUE(out.packets.empty());
  run(out.done);
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].first, std::error_code(Errc::packet_too_large));
  EXPECT_EQ(s.inflight(), 0u);
}

TEST(ClientSessionQoS1, PubackCompletesWithItsReasonCode) {
  auto s = connected_session();
  Recorder r;
  enqueue(s, msg("a", 1), r.handler());
  auto out = s.take_sendable();
  const auto id = out.packets[0].packet_id;
  EXPECT_NE(id, 0);
  EXPECT_EQ(s.stage_of(id), ClientSession::Stage::awaiting_puback);
  auto done = s.on_puback(mqtt::Puback{id, ReasonCode::no_matching_subscribers, {}});
  run(done);
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_FALSE(r.calls[0].first) << "0x10 is a success code";
  EXPECT_EQ(r.calls[0].second.reason, ReasonCode::no_matching_subscribers);
  EXPECT_TRUE(s.idle());
}

TEST(ClientSessionQoS1, FailurePubackArrivesAsAnErrorCode) {
  auto s = connected_session();
  Recorder r;
  enqueue(s, msg("a", 1), r.handler());
  const auto id = s.take_sendable().packets[0].packet_id;
  auto done = s.on_puback(mqtt::Puback{id, ReasonCode::not_authorized, {}});
  run(done);
  EXPECT_EQ(reason_of(r.calls[0].first), ReasonCode::not_authorized);
}

TEST(ClientSessionQoS1, UnknownPubackIsIgnored) {
  auto s = connected_session();
  EXPECT_FALSE(s.on_puback(mqtt::Puback{99, ReasonCode::success, {}}));
}

TEST(ClientSessionQoS2, FullHandshakeCompletesOnPubcomp) {
  auto s = connected_session();
  Recorder r;
  enqueue(s, msg("a", 2), r.handler());
  const auto id = s.take_sendable().packets[0].packet_id;
  EXPECT_EQ(s.stage_of(id), ClientSession::Stage::awaiting_pubrec);
  auto rec = s.on_pubrec(mqtt::Pubrec{id, ReasonCode::success, {}});
  ASSERT_TRUE(rec.reply);
  EXPECT_EQ(rec.reply->packet_id, id);
  EXPECT_EQ(rec.reply->reason, ReasonCode::success);
  EXPECT_FALSE(rec.done);
  EXPECT_EQ(s.stage_of(id), ClientSession::Stage::awaiting_pubcomp);
  EXPECT_TRUE(r.calls.empty()) << "QoS 2 completes on PUBCOMP, not PUBREC";
  auto done = s.on_pubcomp(mqtt::Pubcomp{id, ReasonCode::success, {}});
  run(done);
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_FALSE(r.calls[0].first);
  EXPECT_TRUE(s.idle());
}

TEST(ClientSessionQoS2, FailedPubrecEndsTheExchangeWithoutPubrel) {
  auto s = connected_session();
  Recorder r;
  enqueue(s, msg("a", 2), r.handler());
  const auto id = s.take_sendable().packets[0].packet_id;
  auto rec = s.on_pubrec(mqtt::Pubrec{id, ReasonCode::quota_exceeded, {}});
  EXPECT_FALSE(rec.reply);
  ASSERT_TRUE(rec.done);
  run(rec.done);
  EXPECT_EQ(reason_of(r.calls[0].first), ReasonCode::quota_exceeded);
  EXPECT_TRUE(s.idle());
}

TEST(ClientSessionQoS2, PubcompNotFoundAfterASuccessfulPubrecCompletesThePublish) {
  // A PUBREL resent after a reconnect, for an id the broker released before its PUBCOMP was lost.
  auto s = connected_session();
  Recorder r;
  enqueue(s, msg("a", 2), r.handler());
  const auto id = s.take_sendable().packets[0].packet_id;
  (void)s.on_pubrec(mqtt::Pubrec{id, ReasonCode::success, {}});
  auto done = s.on_pubcomp(mqtt::Pubcomp{id, ReasonCode::packet_identifier_not_found, {}});
  run(done);
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_FALSE(r.calls[0].first) << "the broker took the message with its PUBREC (MQTT 5 4.3.3)";
  EXPECT_TRUE(s.idle());
}

TEST(ClientSessionQoS2, PubrecForUnknownIdIsAnsweredNotFound) {
  auto s = connected_session();
  auto rec = s.on_pubrec(mqtt::Pubrec{42, ReasonCode::success, {}});
  ASSERT_TRUE(rec.reply);
  EXPECT_EQ(rec.reply->reason, ReasonCode::packet_identifier_not_found);
}

TEST(ClientSessionQoS2, IncomingIsDeliveredOncePerPacketIdUntilReleased) {
  ClientSession s({}, 100);
  EXPECT_TRUE(s.receive_qos2(7));
  EXPECT_FALSE(s.receive_qos2(7)) << "a resent PUBLISH (DUP) must not be delivered twice";
  EXPECT_TRUE(s.release_qos2(7));
  EXPECT_FALSE(s.release_qos2(7));
  EXPECT_TRUE(s.receive_qos2(7)) << "after PUBREL the id starts a new message";
}

// Three publishes in flight at different stages, then the connection drops.
struct InFlightMix {
  ClientSession s = connected_session();
  Recorder r1, r2a, r2b;
  mqtt::PacketId q1 = 0, q2_before_rec = 0, q2_after_rec = 0;
  InFlightMix() {
    enqueue(s, msg("q1", 1), r1.handler());
    enqueue(s, msg("q2a", 2), r2a.handler());
    enqueue(s, msg("q2b", 2), r2b.handler());
    auto out = s.take_sendable();
    q1 = out.packets[0].packet_id;
    q2_before_rec = out.packets[1].packet_id;
    q2_after_rec = out.packets[2].packet_id;
    (void)s.on_pubrec(mqtt::Pubrec{q2_after_rec, ReasonCode::success, {}});
  }
};

TEST(ClientSessionResume, SessionPresentResendsWithDupAndOriginalIdsInOrder) {
  InFlightMix m;
  auto resume = m.s.resume(true);
  ASSERT_EQ(resume.packets.size(), 3u);
  const auto& p1 = std::get<mqtt::Publish>(resume.packets[0]);
  EXPECT_EQ(p1.packet_id, m.q1);
  EXPECT_TRUE(p1.dup) << "[MQTT-3.3.1-1] a resent PUBLISH has DUP set";
  EXPECT_EQ(p1.topic, "q1");
  const auto& p2 = std::get<mqtt::Publish>(resume.packets[1]);
  EXPECT_EQ(p2.packet_id, m.q2_before_rec);
  EXPECT_TRUE(p2.dup);
  EXPECT_EQ(p2.qos, 2);
  const auto& rel = std::get<mqtt::Pubrel>(resume.packets[2]);
  EXPECT_EQ(rel.packet_id, m.q2_after_rec) << "[MQTT-4.4.0-1] past PUBREC, the PUBREL is resent";
  EXPECT_TRUE(resume.done.empty());
  EXPECT_EQ(m.s.inflight(), 3u);
}

TEST(ClientSessionResume, ResentMessagesCompleteNormallyAfterwards) {
  InFlightMix m;
  (void)m.s.resume(true);
  auto d1 = m.s.on_puback(mqtt::Puback{m.q1, ReasonCode::success, {}});
  run(d1);
  EXPECT_EQ(m.r1.calls.size(), 1u);
  auto d2 = m.s.on_pubcomp(mqtt::Pubcomp{m.q2_after_rec, ReasonCode::success, {}});
  run(d2);
  EXPECT_EQ(m.r2b.calls.size(), 1u);
}

TEST(ClientSessionResume, NoSessionRequeuesUnacknowledgedAsNewMessages) {
  InFlightMix m;
  auto resume = m.s.resume(false);
  EXPECT_TRUE(resume.packets.empty());
  run(resume.done);
  ASSERT_EQ(m.r2b.calls.size(), 1u);
  EXPECT_EQ(m.r2b.calls[0].first, std::error_code(Errc::session_lost));
  EXPECT_EQ(m.s.inflight(), 0u);
  EXPECT_EQ(m.s.queued_messages(), 2u);
  auto out = m.s.take_sendable();
  ASSERT_EQ(out.packets.size(), 2u);
  EXPECT_EQ(out.packets[0].topic, "q1");
  EXPECT_FALSE(out.packets[0].dup) << "a new session: these are new messages";
  EXPECT_EQ(out.packets[1].topic, "q2a");
}

TEST(ClientSessionResume, NoSessionPutsRequeuedMessagesBeforeNewerOnes) {
  InFlightMix m;
  enqueue(m.s, msg("later", 1));
  (void)m.s.resume(false);
  auto out = m.s.take_sendable();
  ASSERT_EQ(out.packets.size(), 3u);
  EXPECT_EQ(out.packets[0].topic, "q1");
  EXPECT_EQ(out.packets[2].topic, "later");
}

TEST(ClientSessionResume, NoSessionForgetsIncomingQoS2Ids) {
  ClientSession s({}, 100);
  s.receive_qos2(3);
  (void)s.resume(false);
  EXPECT_TRUE(s.receive_qos2(3));
}

TEST(ClientSessionSubscribe, GrantedFiltersAreRestoredWhenTheSessionIsLost) {
  ClientSession s({}, 100);
  std::vector<mqtt::TopicSubscription> subs{{"a/#", {1}}, {"b/+", {2}}, {"denied", {0}}};
  auto sub = s.add_subscribe(subs, {}, [](auto, auto&) {});
  ASSERT_TRUE(sub);
  auto done = s.on_suback(mqtt::Suback{sub->packet_id,
                                       {ReasonCode::granted_qos_1, ReasonCode::granted_qos_2, ReasonCode::not_authorized},
                                       {}});
  ASSERT_TRUE(done);
  EXPECT_EQ(s.subscriptions().size(), 2u) << "a refused filter is not restored later";

  auto resume = s.resume(false);
  std::vector<std::string> filters;
  for (const auto& p : resume.packets) {
    for (const auto& t : std::get<mqtt::Subscribe>(p).subscriptions) filters.push_back(t.filter);
  }
  EXPECT_EQ(filters, (std::vector<std::string>{"a/#", "b/+"}));
  EXPECT_EQ(std::get<mqtt::Subscribe>(resume.packets[1]).subscriptions[0].options.qos, 2);
}

TEST(ClientSessionSubscribe, SessionPresentNeedsNoResubscription) {
  ClientSession s({}, 100);
  auto sub = s.add_subscribe({{"a", {1}}}, {}, {});
  (void)s.on_suback(mqtt::Suback{sub->packet_id, {ReasonCode::granted_qos_1}, {}});
  EXPECT_TRUE(s.resume(true).packets.empty());
}

TEST(ClientSessionSubscribe, PendingRequestsAreResentOnReconnect) {
  ClientSession s({}, 100);
  auto sub = s.add_subscribe({{"a", {1}}}, {}, {});
  auto unsub = s.add_unsubscribe({"b"}, {}, {});
  auto resume = s.resume(true);
  ASSERT_EQ(resume.packets.size(), 2u);
  EXPECT_EQ(std::get<mqtt::Subscribe>(resume.packets[0]).packet_id, sub->packet_id);
  EXPECT_EQ(std::get<mqtt::Unsubscribe>(resume.packets[1]).packet_id, unsub->packet_id);
}

TEST(ClientSessionSubscribe, UnsubscribeForgetsTheFilterAndV3AckReportsSuccess) {
  ClientSession s({}, 100);
  auto sub = s.add_subscribe({{"a", {1}}}, {}, {});
  (void)s.on_suback(mqtt::Suback{sub->packet_id, {ReasonCode::granted_qos_1}, {}});
  SubscribeResult got;
  auto unsub = s.add_unsubscribe({"a"}, {}, [&](std::error_code, const UnsubscribeResult& r) { got = r; });
  auto done = s.on_unsuback(mqtt::Unsuback{unsub->packet_id, {}, {}});
  ASSERT_TRUE(done);
  done->handler(done->ec, done->result);
  EXPECT_EQ(got.reasons, std::vector<ReasonCode>{ReasonCode::success});
  EXPECT_TRUE(s.subscriptions().empty());
}

TEST(ClientSessionSubscribe, SubackWithWrongCountIsAProtocolError) {
  ClientSession s({}, 100);
  auto sub = s.add_subscribe({{"a", {1}}, {"b", {1}}}, {}, {});
  auto done = s.on_suback(mqtt::Suback{sub->packet_id, {ReasonCode::granted_qos_1}, {}});
  ASSERT_TRUE(done);
  EXPECT_EQ(done->ec, std::error_code(Errc::protocol_error));
}

TEST(ClientSessionFail, FailAllCompletesEverythingWithTheError) {
  InFlightMix m;
  Recorder queued;
  enqueue(m.s, msg("queued", 0), queued.handler());
  std::error_code sub_ec;
  (void)m.s.add_subscribe({{"a", {0}}}, {}, [&](std::error_code ec, auto&) { sub_ec = ec; });
  auto failed = m.s.fail_all(Errc::cancelled);
  run(failed.publishes);
  for (auto& r : failed.requests) r.handler(r.ec, r.result);
  for (auto* r : {&m.r1, &m.r2a, &m.r2b, &queued}) {
    ASSERT_EQ(r->calls.size(), 1u);
    EXPECT_EQ(r->calls[0].first, std::error_code(Errc::cancelled));
  }
  EXPECT_EQ(sub_ec, std::error_code(Errc::cancelled));
  EXPECT_TRUE(m.s.idle());
}

}  // namespace
}  // namespace hermod::client
