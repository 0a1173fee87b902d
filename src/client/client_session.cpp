#include "client/client_session.hpp"

#include <algorithm>

#include "client/error.hpp"
#include "mqtt/encoder.hpp"

namespace hermod::client {

using mqtt::PacketId;
using mqtt::ReasonCode;

ClientSession::ClientSession(BufferLimits limits, std::uint16_t max_inflight)
    : limits_(limits), max_inflight_(std::max<std::uint16_t>(max_inflight, 1)) {}

void ClientSession::set_connection(mqtt::ProtocolVersion version, std::uint16_t receive_maximum,
                                   std::uint32_t max_packet_size) {
  version_ = version;
  receive_maximum_ = receive_maximum == 0 ? 65535 : receive_maximum;
  max_packet_size_ = max_packet_size;
}

std::uint16_t ClientSession::window() const { return std::min(max_inflight_, receive_maximum_); }

std::error_code ClientSession::enqueue(Message&& msg, PublishHandler&& handler) {
  const std::size_t bytes = cost(msg);
  if (limits_.max_messages != 0 && queue_.size() + 1 > limits_.max_messages) {
    return Errc::offline_buffer_full;
  }
  if (limits_.max_bytes != 0 && queued_bytes_ + bytes > limits_.max_bytes) {
    return Errc::offline_buffer_full;
  }
  queued_bytes_ += bytes;
  queue_.push_back(Queued{std::move(msg), std::move(handler)});
  return {};
}

ClientSession::Sendable ClientSession::take_sendable() {
  Sendable out;
  while (!queue_.empty()) {
    Queued& q = queue_.front();
    const bool needs_id = q.msg.qos > 0;
    if (needs_id && inflight_.size() >= window()) break;
    std::optional<PacketId> id;
    if (needs_id) {
      id = ids_.allocate();
      if (!id) break;  // every id awaits an ack: wait for one to come back
    }
    mqtt::Publish p;
    p.topic = std::move(q.msg.topic);
    p.payload = std::move(q.msg.payload);
    p.qos = q.msg.qos;
    p.retain = q.msg.retain;
    p.packet_id = id.value_or(0);
    p.props = std::move(q.msg.props);
    PublishHandler handler = std::move(q.handler);
    queued_bytes_ -= p.topic.size() + p.payload.size();
    queue_.pop_front();

    if (max_packet_size_ != 0) {
      const mqtt::PublishHeader h{p.topic, p.payload.size(), p.qos, p.retain, false, p.packet_id, &p.props};
      if (mqtt::publish_size(h, version_) > max_packet_size_) {
        if (id) ids_.release(*id);
        out.done.push_back({std::move(handler), Errc::packet_too_large, PublishResult{}});
        continue;
      }
    }
    if (!needs_id) {
      out.packets.push_back(std::move(p));
      out.done.push_back({std::move(handler), {}, PublishResult{}});
      continue;
    }
    out.packets.push_back(p);
    const Stage stage = p.qos == 1 ? Stage::awaiting_puback : Stage::awaiting_pubrec;
    inflight_.push_back(InFlight{std::move(p), std::move(handler), stage});
    inflight_by_id_[*id] = std::prev(inflight_.end());
  }
  return out;
}

std::optional<PublishCompletion> ClientSession::finish(PacketId id, std::error_code ec, PublishResult r) {
  auto it = inflight_by_id_.find(id);
  if (it == inflight_by_id_.end()) return std::nullopt;
  PublishCompletion c{std::move(it->second->handler), ec, std::move(r)};
  inflight_.erase(it->second);
  inflight_by_id_.erase(it);
  ids_.release(id);
  return c;
}

std::optional<PublishCompletion> ClientSession::on_puback(const mqtt::Puback& ack) {
  if (stage_of(ack.packet_id) != Stage::awaiting_puback) return std::nullopt;
  std::error_code ec;
  if (mqtt::is_failure(ack.reason)) ec = make_error_code(ack.reason);
  return finish(ack.packet_id, ec, PublishResult{ack.packet_id, ack.reason, ack.props});
}

ClientSession::PubrecOutcome ClientSession::on_pubrec(const mqtt::Pubrec& rec) {
  PubrecOutcome out;
  const auto stage = stage_of(rec.packet_id);
  if (!stage || *stage == Stage::awaiting_puback) {
    // Not ours (or a broker confusing QoS levels): tell it, so it can drop its state (4.3.3).
    mqtt::Pubrel rel;
    rel.packet_id = rec.packet_id;
    rel.reason = ReasonCode::packet_identifier_not_found;
    out.reply = rel;
    return out;
  }
  if (mqtt::is_failure(rec.reason)) {
    // A failed PUBREC ends the exchange: no PUBREL follows (MQTT 5.0 section 4.3.3).
    out.done = finish(rec.packet_id, make_error_code(rec.reason),
                      PublishResult{rec.packet_id, rec.reason, rec.props});
    return out;
  }
  inflight_by_id_[rec.packet_id]->stage = Stage::awaiting_pubcomp;
  mqtt::Pubrel rel;
  rel.packet_id = rec.packet_id;
  out.reply = rel;
  return out;
}

std::optional<PublishCompletion> ClientSession::on_pubcomp(const mqtt::Pubcomp& comp) {
  if (stage_of(comp.packet_id) != Stage::awaiting_pubcomp) return std::nullopt;
  std::error_code ec;
  // 0x92 on PUBCOMP: the broker no longer holds this packet id, so it completed the release
  // before (its PUBCOMP was lost with a connection or a crash) or lost the session. Either way it
  // took the message with its successful PUBREC; the PUBREL only frees the id (MQTT 5 4.3.3), so
  // the publish is done, not failed.
  if (mqtt::is_failure(comp.reason) && comp.reason != ReasonCode::packet_identifier_not_found) {
    ec = make_error_code(comp.reason);
  }
  // The PUBREC reason is what tells "no matching subscribers"; PUBCOMP only confirms the release.
  return finish(comp.packet_id, ec, PublishResult{comp.packet_id, comp.reason, comp.props});
}

bool ClientSession::receive_qos2(PacketId id) {
  if (incoming_qos2_[id]) return false;
  incoming_qos2_[id] = true;
  return true;
}

bool ClientSession::release_qos2(PacketId id) {
  const bool known = incoming_qos2_[id];
  incoming_qos2_[id] = false;
  return known;
}

std::optional<mqtt::Subscribe> ClientSession::add_subscribe(std::vector<mqtt::TopicSubscription> subs,
                                                           mqtt::Properties props, SubscribeHandler&& handler) {
  const auto id = ids_.allocate();
  if (!id) return std::nullopt;
  mqtt::Subscribe s{*id, std::move(subs), std::move(props)};
  requests_.push_back(Request{s, std::move(handler)});
  return s;
}

std::optional<mqtt::Unsubscribe> ClientSession::add_unsubscribe(std::vector<std::string> filters,
                                                               mqtt::Properties props,
                                                               UnsubscribeHandler&& handler) {
  const auto id = ids_.allocate();
  if (!id) return std::nullopt;
  mqtt::Unsubscribe u{*id, std::move(filters), std::move(props)};
  requests_.push_back(Request{u, std::move(handler)});
  return u;
}

namespace {
template <typename T>
const T* request_as(const mqtt::Packet& p, PacketId id) {
  const T* t = std::get_if<T>(&p);
  return t && t->packet_id == id ? t : nullptr;
}
}  // namespace

std::optional<RequestCompletion> ClientSession::on_suback(const mqtt::Suback& ack) {
  for (auto it = requests_.begin(); it != requests_.end(); ++it) {
    const auto* sub = request_as<mqtt::Subscribe>(it->packet, ack.packet_id);
    if (!sub) continue;
    for (std::size_t i = 0; i < sub->subscriptions.size(); ++i) {
      const auto& s = sub->subscriptions[i];
      const bool granted = i < ack.reasons.size() && !mqtt::is_failure(ack.reasons[i]);
      if (granted) {
        subscriptions_[s.filter] = s;
        subscription_props_[s.filter] = sub->props;
      } else {
        subscriptions_.erase(s.filter);
        subscription_props_.erase(s.filter);
      }
    }
    std::error_code ec;
    if (ack.reasons.size() != sub->subscriptions.size()) ec = Errc::protocol_error;
    RequestCompletion c{std::move(it->handler), ec, SubscribeResult{ack.reasons, ack.props}};
    requests_.erase(it);
    ids_.release(ack.packet_id);
    return c;
  }
  return std::nullopt;
}

std::optional<RequestCompletion> ClientSession::on_unsuback(const mqtt::Unsuback& ack) {
  for (auto it = requests_.begin(); it != requests_.end(); ++it) {
    const auto* unsub = request_as<mqtt::Unsubscribe>(it->packet, ack.packet_id);
    if (!unsub) continue;
    for (const auto& f : unsub->filters) {
      subscriptions_.erase(f);
      subscription_props_.erase(f);
    }
    SubscribeResult r{ack.reasons, ack.props};
    // 3.1.1 UNSUBACK has no payload: report success for each filter.
    if (r.reasons.empty()) r.reasons.assign(unsub->filters.size(), ReasonCode::success);
    std::error_code ec;
    if (r.reasons.size() != unsub->filters.size()) ec = Errc::protocol_error;
    RequestCompletion c{std::move(it->handler), ec, std::move(r)};
    requests_.erase(it);
    ids_.release(ack.packet_id);
    return c;
  }
  return std::nullopt;
}

void ClientSession::requeue_front(std::vector<Queued>& back) {
  for (auto it = back.rbegin(); it != back.rend(); ++it) {
    queued_bytes_ += cost(it->msg);
    queue_.push_front(std::move(*it));
  }
}

ClientSession::Resume ClientSession::resume(bool session_present) {
  Resume out;
  if (session_present) {
    for (auto& f : inflight_) {
      if (f.stage == Stage::awaiting_pubcomp) {
        mqtt::Pubrel rel;
        rel.packet_id = f.packet.packet_id;
        out.packets.emplace_back(rel);
      } else {
        f.packet.dup = true;  // [MQTT-3.3.1-1]: a resend carries DUP
        out.packets.emplace_back(f.packet);
      }
    }
  } else {
    // The broker has none of our session: its packet ids mean nothing any more [MQTT-3.2.2-5].
    std::vector<Queued> again;
    for (auto& f : inflight_) {
      ids_.release(f.packet.packet_id);
      if (f.stage == Stage::awaiting_pubcomp) {
        out.done.push_back({std::move(f.handler), Errc::session_lost, PublishResult{f.packet.packet_id}});
        continue;
      }
      Message m{std::move(f.packet.topic), std::move(f.packet.payload), f.packet.qos, f.packet.retain,
                false, 0, std::move(f.packet.props)};
      again.push_back(Queued{std::move(m), std::move(f.handler)});
    }
    inflight_.clear();
    inflight_by_id_.clear();
    requeue_front(again);
    incoming_qos2_.assign(65536, false);
    // Re-subscribe first, so that messages for the restored filters flow before anything else.
    std::list<Request> restore;
    for (const auto& [filter, sub] : subscriptions_) {
      const auto id = ids_.allocate();
      if (!id) break;
      restore.push_back(Request{mqtt::Subscribe{*id, {sub}, subscription_props_[filter]}, {}});
    }
    requests_.splice(requests_.begin(), restore);
    // Registry entries come back with the SUBACKs.
    subscriptions_.clear();
    subscription_props_.clear();
  }
  for (const auto& r : requests_) out.packets.push_back(r.packet);
  return out;
}

ClientSession::Failed ClientSession::fail_all(std::error_code ec) {
  Failed out;
  for (auto& f : inflight_) out.publishes.push_back({std::move(f.handler), ec, PublishResult{f.packet.packet_id}});
  for (auto& q : queue_) out.publishes.push_back({std::move(q.handler), ec, PublishResult{}});
  for (auto& r : requests_) out.requests.push_back({std::move(r.handler), ec, SubscribeResult{}});
  inflight_.clear();
  inflight_by_id_.clear();
  queue_.clear();
  queued_bytes_ = 0;
  requests_.clear();
  ids_.clear();
  incoming_qos2_.assign(65536, false);
  return out;
}

std::optional<ClientSession::Stage> ClientSession::stage_of(PacketId id) const {
  auto it = inflight_by_id_.find(id);
  if (it == inflight_by_id_.end()) return std::nullopt;
  return it->second->stage;
}

}  // namespace hermod::client
