// PUBLISH from a client and the acknowledgements of both directions' QoS 1/2 handshakes.
#include "broker/connection.hpp"
#include "broker/log.hpp"
#include "broker/worker.hpp"
#include "broker/store/records.hpp"
#include "mqtt/utf8.hpp"

namespace hermod::broker {

using namespace mqtt;

void Connection::handle_publish(Publish&& p) {
  if (is_v5(version_)) {
    if (!p.props.subscription_identifiers.empty()) {
      worker_.stats().messages_received.add();
      return fail({ReasonCode::protocol_error, "subscription identifier from a client"});  // [MQTT-3.3.4-6]
    }
    if (!resolve_topic_alias(p)) return;
  }
  publish_received(PublishView{p.topic, p.payload, p.qos, p.retain, p.dup, p.packet_id}, &p.props);
}

void Connection::publish_received(const PublishView& p, Properties* props) {
  worker_.stats().messages_received.add();
  Session& s = *session_;
  const bool v5 = is_v5(version_);
  if (v5) {
    const auto& config = worker_.config();
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
  ReasonCode reason = ReasonCode::success;
  std::shared_ptr<AckGate> gate;
  if (v5 && props && props->payload_format_indicator.value_or(0) == 1 && !is_valid_mqtt_utf8(p.payload)) {
    // The payload says it is UTF-8 and is not [MQTT-3.3.2-4]: refused, not routed.
    if (p.qos == 0) return fail({ReasonCode::payload_format_invalid, "payload is not UTF-8"});
    reason = ReasonCode::payload_format_invalid;
  } else {
    auto m = make_message(p.topic, p.payload);
    m->qos = p.qos;
    m->retain = p.retain;
    m->origin_session = s.uid();
    if (props) {
      if (props->message_expiry_interval) {
        m->expires_at = Clock::now() + std::chrono::seconds(*props->message_expiry_interval);
      }
      if (!props->empty()) m->props = std::make_shared<Properties>(std::move(*props));
    }
    const bool gated = p.qos > 0 && worker_.ack_on_delivery();
    if (gated) worker_.begin_gated_publish(this);
    const auto routed = worker_.publish(m);
    if (gated) gate = worker_.end_gated_publish();
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
      if (auto* w = s.stored() ? worker_.writes() : nullptr) w->put(store::inbound_key(s.uid(), p.packet_id), {});
    }
    send_ack(PacketType::pubrec, p.packet_id, reason, std::move(gate));
  }
}

void open_gate(AckGate& gate) {
  if (--gate.pending == 0 && gate.publisher) gate.publisher->release_acks();
}

void Connection::send_ack(PacketType type, PacketId id, ReasonCode reason, std::shared_ptr<AckGate> gate) {
  if (closed()) {
    if (gate) gate->publisher = nullptr;
    return;
  }
  auto* held = held_acks();
  if ((gate && gate->pending > 0) || (held && !held->empty())) {
    if (!held) held = (rare().held_acks = std::make_unique<std::deque<HeldAck>>()).get();
    if (gate && gate->pending == 0) gate.reset();
    held->push_back(HeldAck{type, id, reason, std::move(gate)});
    return;
  }
  write_ack(type, id, reason);
}

void Connection::release_acks() {
  if (!held_acks() || closed()) return;
  auto& held = *held_acks();
  while (!held.empty() && (!held.front().gate || held.front().gate->pending == 0)) {
    HeldAck a = std::move(held.front());
    held.pop_front();
    write_ack(a.type, a.id, a.reason);
  }
}

void Connection::drop_held_acks() {
  auto* held = held_acks();
  if (!held) return;
  for (auto& a : *held) {
    if (a.gate) a.gate->publisher = nullptr;
  }
  rare_->held_acks.reset();
}

void Connection::write_ack(PacketType type, PacketId id, ReasonCode reason) {
  if (reason != ReasonCode::success && is_v5(version_)) {
    switch (type) {
      case PacketType::puback: return send(Puback{id, reason});
      case PacketType::pubrec: return send(Pubrec{id, reason});
      case PacketType::pubrel: return send(Pubrel{id, reason});
      default: return send(Pubcomp{id, reason});
    }
  }
  // Without a reason code or properties, every version encodes [type|flags, 2, id]; PUBREL's
  // flags are 0b0010.
  const char bytes[4] = {static_cast<char>((static_cast<unsigned>(type) << 4) | (type == PacketType::pubrel ? 2 : 0)), 2,
                         static_cast<char>(id >> 8), static_cast<char>(id & 0xFF)};
  tail_chunk().append(bytes, sizeof bytes);
  out_bytes_ += sizeof bytes;
  schedule_flush();
}

bool Connection::resolve_topic_alias(Publish& p) {
  if (!p.props.topic_alias) return true;
  const std::uint16_t alias = *p.props.topic_alias;
  p.props.topic_alias.reset();  // an alias belongs to this connection; it is not forwarded
  if (alias == 0 || alias > worker_.config().limits.topic_alias_maximum) {
    fail({ReasonCode::topic_alias_invalid, "topic alias out of range"});  // [MQTT-3.3.2-9]
    return false;
  }
  auto& inbound = aliases().inbound;
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
  if (session_->inbound_qos2().erase(id) && session_->stored()) {
    if (auto* w = worker_.writes()) w->del(store::inbound_key(session_->uid(), id));
  }
  send_ack(PacketType::pubcomp, id);
}

void Connection::handle_puback(PacketId id) {
  auto& inflight = session_->inflight();
  InflightMessage* m = inflight.find(id);
  if (!m || m->state != InflightMessage::State::awaiting_puback) return;
  worker_.forget_stored(*session_, m->out);
  inflight.erase(id);
  worker_.pump(*session_);
}

void Connection::handle_pubrec(PacketId id, ReasonCode reason) {
  auto& inflight = session_->inflight();
  InflightMessage* m = inflight.find(id);
  if (!m) {
    send_ack(PacketType::pubrel, id, is_v5(version_) ? ReasonCode::packet_identifier_not_found : ReasonCode::success);
    return;
  }
  if (is_v5(version_) && is_failure(reason)) {
    // MQTT 5: a PUBREC with a failure code ends the exchange.
    worker_.forget_stored(*session_, m->out);
    inflight.erase(id);
    worker_.pump(*session_);
    return;
  }
  if (m->state == InflightMessage::State::awaiting_pubrec) {
    m->state = InflightMessage::State::awaiting_pubcomp;
    // Stored before the PUBREL leaves: after a crash the broker resends PUBREL, never the
    // PUBLISH, so the subscriber cannot receive the message twice.
    worker_.store_inflight(*session_, id, *m);
  }
  send_ack(PacketType::pubrel, id);
}

void Connection::handle_pubcomp(PacketId id) {
  auto& inflight = session_->inflight();
  InflightMessage* m = inflight.find(id);
  if (!m || m->state != InflightMessage::State::awaiting_pubcomp) return;
  worker_.forget_stored(*session_, m->out);
  inflight.erase(id);
  worker_.pump(*session_);
}

}  // namespace hermod::broker
