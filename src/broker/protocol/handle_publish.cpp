// PUBLISH from a client and the acknowledgements of both directions' QoS 1/2 handshakes.
#include "base/log.hpp"
#include "broker/protocol/connection.hpp"
#include "broker/protocol/topic_limits.hpp"
#include "mqtt/utf8.hpp"

namespace hermod::broker {

using namespace mqtt;

void Connection::handle_publish(Publish&& p) {
  if (is_v5(version())) {
    if (!p.props.subscription_identifiers.empty()) {
      context_.stats.received.count(p.qos, p.payload.size());
      return fail({ReasonCode::protocol_error, "subscription identifier from a client"});  // [MQTT-3.3.4-6]
    }
    if (!resolve_topic_alias(p)) return;
  }
  publish_received(PublishView{p.topic, p.payload, p.qos, p.retain, p.dup, p.packet_id}, &p.props);
}

void Connection::publish_received(const PublishView& p, Properties* props) {
  context_.stats.received.count(p.qos, p.payload.size());
  Session& s = *session_;
  const bool v5 = is_v5(version());
  if (v5) {
    const auto& config = this->config();
    if (p.qos > config.limits.max_qos) return fail({ReasonCode::qos_not_supported, "QoS above maximum"});
    if (p.retain && !config.features.retain_available) return fail({ReasonCode::retain_not_supported, "retain not available"});
    // Receive Maximum: at most that many QoS 2 exchanges open at once [MQTT-3.3.4-9].
    if (p.qos == 2 && !s.inbound_qos2().count(p.packet_id) &&
        s.inbound_qos2().size() >= config.limits.receive_maximum) {
      return fail({ReasonCode::receive_maximum_exceeded, "receive maximum exceeded"});
    }
  }
  // QoS 2 exactly once: a PUBLISH whose id awaits PUBREL was already routed; only acknowledge
  // it again [MQTT-4.3.3-9].
  if (p.qos == 2 && s.inbound_qos2().count(p.packet_id)) return send_ack(PacketType::pubrec, p.packet_id);
  const auto& limits = ctx().policy().limits();
  ReasonCode reason = limits.message_rate || limits.byte_rate ? rate_check(p, limits) : ReasonCode::success;
  std::shared_ptr<AckGate> gate;
  if (is_failure(reason)) {
    // An MQTT 5 QoS 1/2 PUBLISH beyond the client's rate: refused, not routed.
    context_.stats.drop(DropReason::rate_limit);
  } else if (v5 && props && props->payload_format_indicator.value_or(0) == 1 && !is_valid_mqtt_utf8(p.payload)) {
    // The payload says it is UTF-8 and is not [MQTT-3.3.2-4]: refused, not routed.
    if (p.qos == 0) return fail({ReasonCode::payload_format_invalid, "payload is not UTF-8"});
    reason = ReasonCode::payload_format_invalid;
  } else if (exceeds_topic_limits(p.topic, limits)) {
    if (!warned_refused_) {
      warned_refused_ = true;
      logger("client")->info("{} {}: PUBLISH dropped: its topic is longer or deeper than limits.max_topic_length/depth",
                             remote(), s.client_id());
    }
    context_.stats.drop(DropReason::topic_limits);
    if (v5) reason = ReasonCode::topic_name_invalid;
  } else if (const char* why = publish_refusal(p.topic)) {
    // Not routed. MQTT 5 says why on PUBACK/PUBREC; 3.1.1 has no way to, so the message is
    // acknowledged and dropped. Logged once per connection.
    if (!warned_refused_) {
      warned_refused_ = true;
      logger("client")->info("{} {}: PUBLISH to \"{}\" dropped: {}", remote(), s.client_id(), p.topic, why);
    }
    context_.stats.drop(DropReason::not_authorized);
    if (v5) reason = ReasonCode::not_authorized;
  } else {
    auto m = make_message(p.topic, p.payload);
    m->qos = p.qos;
    m->retain = p.retain;
    m->origin_session = s.uid();
    if (props) {
      if (props->message_expiry_interval) {
        m->expires_at = context_.clock.now() + std::chrono::seconds(*props->message_expiry_interval);
      }
      if (!props->empty()) m->props = std::make_shared<Properties>(std::move(*props));
    }
    // Acknowledgement on delivery: QoS 1 deliveries sent at once may hold this acknowledgement
    // on `publish_gate` instead of being written (durability/ack_holds.hpp).
    PublishGate publish_gate{this};
    const bool gated = p.qos > 0 && ctx().holds.enabled();
    const auto routed = ctx().delivery.publish(m, gated ? &publish_gate : nullptr);
    gate = std::move(publish_gate.gate);
    if (routed == 0 && v5) reason = ReasonCode::no_matching_subscribers;
  }
  // The acknowledgement comes last: a durable store's commit sits right before it, and `gate`
  // holds it until deliveries that were not written are acknowledged or written.
  if (p.qos == 1) {
    send_ack(PacketType::puback, p.packet_id, reason, std::move(gate));
  } else if (p.qos == 2) {
    if (!is_failure(reason)) {
      s.inbound_qos2().insert(p.packet_id);
      // Stored with the message: after a crash, a resent PUBLISH is still recognised [MQTT-4.3.3-9].
      ctx().writer.store_inbound_qos2(s, p.packet_id, true);
    }
    send_ack(PacketType::pubrec, p.packet_id, reason, std::move(gate));
  }
}

ReasonCode Connection::rate_check(const PublishView& p, const Limits& limits) {
  if (!rate_) rate_ = std::make_unique<PublishRate>();
  auto& r = *rate_;
  const auto now = context_.clock.now();
  const double messages = limits.message_rate;
  const double bytes = limits.byte_rate;
  const double size = static_cast<double>(p.topic.size() + p.payload.size());
  ReasonCode verdict = ReasonCode::success;
  double bytes_wanted = 0;
  // MQTT 5 can refuse a QoS 1/2 PUBLISH with a reason; anything else is taken and paid for by
  // waiting. A message larger than one second's bytes could never be refused into bounds: it
  // is taken too. The reason is 0x97 Quota exceeded for either rate: 0x96 Message rate too high
  // is a DISCONNECT code only, not one of PUBACK's or PUBREC's (MQTT 5 3.4.2.1, 3.5.2.1).
  if (is_v5(version()) && p.qos > 0 && !(bytes > 0 && size > bytes)) {
    if (messages > 0 && !r.messages.try_take(1, messages, now)) {
      verdict = ReasonCode::quota_exceeded;
    } else if (bytes > 0 && !r.bytes.try_take(size, bytes, now)) {
      verdict = ReasonCode::quota_exceeded;
      bytes_wanted = size;
    }
  } else {
    if (messages > 0) r.messages.take(1, messages, now);
    if (bytes > 0) r.bytes.take(size, bytes, now);
  }
  // Read nothing more until the client is back within its rates.
  const auto wait = std::max(messages > 0 ? r.messages.wait_for(verdict == ReasonCode::success ? 0 : 1, messages)
                                          : Clock::duration::zero(),
                             bytes > 0 ? r.bytes.wait_for(bytes_wanted, bytes) : Clock::duration::zero());
  if (verdict != ReasonCode::success || wait > Clock::duration::zero()) {
    context_.stats.publishes_rate_limited.add();
    if (!warned_rate_) {
      warned_rate_ = true;
      logger("client")->info("{} {}: over limits.message_rate/byte_rate: {}", remote(), session_->client_id(),
                             verdict == ReasonCode::success ? "reading paused" : "PUBLISH refused, reading paused");
    }
  }
  if (wait > Clock::duration::zero() && !reading_paused(pause_rate)) {
    pause_reading(pause_rate);
    if (!r.timer) r.timer = std::make_unique<boost::asio::steady_timer>(ctx().io);
    r.timer->expires_after(wait);
    r.timer->async_wait([weak = std::weak_ptr<Connection>(self())](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto conn = weak.lock(); conn && !conn->closed()) conn->resume_after_pause(pause_rate);
    });
  }
  return verdict;
}

const char* Connection::publish_refusal(std::string_view topic) {
  const auth::Acl* acl = ctx().policy().acl.get();
  if (!acl) {
    // Topics starting with '$' are the server's (section 4.7.2): without an ACL to grant one,
    // a client's PUBLISH to one is never delivered.
    return !topic.empty() && topic.front() == '$' ? "'$' topics are the broker's" : nullptr;
  }
  auto* id = session_->identity();
  if (!id) {
    // An anonymous client that connected before the ACL was loaded.
    session_->set_identity(std::make_unique<auth::AclCache>(std::nullopt, session_->client_id()));
    id = session_->identity();
  }
  if (id->may_publish(*acl, topic)) return nullptr;
  context_.stats.messages_refused_acl.add();
  return "the ACL does not allow it";
}

bool Connection::resolve_topic_alias(Publish& p) {
  if (!p.props.topic_alias) return true;
  const std::uint16_t alias = *p.props.topic_alias;
  p.props.topic_alias.reset();  // an alias belongs to this connection; it is not forwarded
  if (alias == 0 || alias > config().limits.topic_alias_maximum) {
    fail({ReasonCode::topic_alias_invalid, "topic alias out of range"});  // [MQTT-3.3.2-9]
    return false;
  }
  auto& inbound = inbound_aliases();
  if (inbound.size() < alias) inbound.resize(alias);
  if (!p.topic.empty()) {
    inbound[alias - 1] = p.topic;
    return true;
  }
  if (inbound[alias - 1].empty()) {
    fail({ReasonCode::protocol_error, "unknown topic alias"});
    return false;
  }
  p.topic = inbound[alias - 1];
  return true;
}

void Connection::handle_ack(PacketType type, PacketId id, ReasonCode reason) {
  switch (type) {
    case PacketType::puback: return handle_puback(id);
    case PacketType::pubrec: return handle_pubrec(id, reason);
    case PacketType::pubrel: return handle_pubrel(id);
    default: return handle_pubcomp(id);
  }
}

void Connection::handle_pubrel(PacketId id) {
  if (session_->inbound_qos2().erase(id)) {
    ctx().writer.store_inbound_qos2(*session_, id, false);
    return send_ack(PacketType::pubcomp, id);
  }
  // Not awaiting PUBREL (a resend after PUBCOMP, or a session that ended): MQTT 5 says so.
  send_ack(PacketType::pubcomp, id, is_v5(version()) ? ReasonCode::packet_identifier_not_found : ReasonCode::success);
}

// An acknowledgement of the wrong kind for a packet id in flight (PUBREC or PUBCOMP for a QoS 1
// message, PUBACK for a QoS 2 one, PUBACK or a failed PUBREC while awaiting PUBCOMP) breaks the
// QoS flows of section 4.3: a protocol violation, so the connection is closed (MQTT 5:
// DISCONNECT 0x82) [MQTT-4.3.2-4] [MQTT-4.3.3-6]. An id not in flight is ignored, but for PUBREC,
// which is answered so that the client's side of the exchange can end.

void Connection::handle_puback(PacketId id) {
  auto& inflight = session_->inflight();
  InflightMessage* m = inflight.find(id);
  if (!m) return;
  if (m->state != InflightMessage::State::awaiting_puback) {
    return fail({ReasonCode::protocol_error, "PUBACK for a QoS 2 message"});
  }
  ctx().writer.forget_stored(*session_, m->out);
  inflight.erase(id);
  ctx().delivery.pump(*session_);
}

void Connection::handle_pubrec(PacketId id, ReasonCode reason) {
  auto& inflight = session_->inflight();
  InflightMessage* m = inflight.find(id);
  if (!m) {
    send_ack(PacketType::pubrel, id, is_v5(version()) ? ReasonCode::packet_identifier_not_found : ReasonCode::success);
    return;
  }
  if (m->state == InflightMessage::State::awaiting_puback) {
    return fail({ReasonCode::protocol_error, "PUBREC for a QoS 1 message"});
  }
  if (is_v5(version()) && is_failure(reason)) {
    if (m->state != InflightMessage::State::awaiting_pubrec) {
      return fail({ReasonCode::protocol_error, "PUBREC with a failure code after PUBREL"});
    }
    // A PUBREC with a failure code ends the exchange: no PUBREL follows [MQTT-4.3.3-4].
    ctx().writer.forget_stored(*session_, m->out);
    inflight.erase(id);
    ctx().delivery.pump(*session_);
    return;
  }
  if (m->state == InflightMessage::State::awaiting_pubrec) {
    m->state = InflightMessage::State::awaiting_pubcomp;
    // Stored before the PUBREL leaves: after a crash the broker resends PUBREL, never the
    // PUBLISH, so the subscriber cannot receive the message twice.
    ctx().writer.store_inflight(*session_, id, *m);
  }
  send_ack(PacketType::pubrel, id);  // again for a repeated PUBREC
}

void Connection::handle_pubcomp(PacketId id) {
  auto& inflight = session_->inflight();
  InflightMessage* m = inflight.find(id);
  if (!m) return;
  if (m->state != InflightMessage::State::awaiting_pubcomp) {
    return fail({ReasonCode::protocol_error, m->state == InflightMessage::State::awaiting_puback
                                                 ? "PUBCOMP for a QoS 1 message"
                                                 : "PUBCOMP before PUBREL"});
  }
  ctx().writer.forget_stored(*session_, m->out);
  inflight.erase(id);
  ctx().delivery.pump(*session_);
}

}  // namespace hermod::broker
