// PUBLISH from a client and the acknowledgements of both directions' QoS 1/2 handshakes.
#include "broker/connection.hpp"
#include "broker/log.hpp"
#include "broker/worker.hpp"

namespace hermod::broker {

using namespace mqtt;

void Connection::handle_publish(Publish&& p) {
  worker_.stats().messages_received.add();
  Session& s = *session_;
  // QoS 2 exactly once: a PUBLISH whose id awaits PUBREL was already routed; only acknowledge
  // it again [MQTT-4.3.3-9].
  if (p.qos == 2 && s.inbound_qos2().count(p.packet_id)) {
    send(Pubrec{p.packet_id});
    return;
  }
  auto m = std::make_shared<Message>();
  m->topic = std::move(p.topic);
  m->payload = std::move(p.payload);
  m->qos = p.qos;
  m->retain = p.retain;
  m->origin_session = s.uid();
  if (!p.props.empty()) m->props = std::make_shared<Properties>(std::move(p.props));
  worker_.publish(m);
  // The acknowledgement comes last: a durable store's commit will sit right before it.
  if (p.qos == 1) {
    send(Puback{p.packet_id});
  } else if (p.qos == 2) {
    s.inbound_qos2().insert(p.packet_id);
    send(Pubrec{p.packet_id});
  }
}

void Connection::handle_pubrel(const Pubrel& a) {
  session_->inbound_qos2().erase(a.packet_id);
  send(Pubcomp{a.packet_id});
}

void Connection::handle_puback(const Puback& a) {
  auto& inflight = session_->inflight();
  auto it = inflight.find(a.packet_id);
  if (it == inflight.end() || it->second.state != InflightMessage::State::awaiting_puback) return;
  inflight.erase(it);
  worker_.pump(*session_);
}

void Connection::handle_pubrec(const Pubrec& a) {
  auto& inflight = session_->inflight();
  auto it = inflight.find(a.packet_id);
  if (it == inflight.end()) {
    send(Pubrel{a.packet_id, is_v5(version_) ? ReasonCode::packet_identifier_not_found : ReasonCode::success});
    return;
  }
  if (is_v5(version_) && is_failure(a.reason)) {
    // MQTT 5: a PUBREC with a failure code ends the exchange.
    inflight.erase(it);
    worker_.pump(*session_);
    return;
  }
  it->second.state = InflightMessage::State::awaiting_pubcomp;
  it->second.out.message.reset();  // the payload is no longer needed [MQTT-4.3.3-4]
  send(Pubrel{a.packet_id});
}

void Connection::handle_pubcomp(const Pubcomp& a) {
  auto& inflight = session_->inflight();
  auto it = inflight.find(a.packet_id);
  if (it == inflight.end() || it->second.state != InflightMessage::State::awaiting_pubcomp) return;
  inflight.erase(it);
  worker_.pump(*session_);
}

}  // namespace hermod::broker
