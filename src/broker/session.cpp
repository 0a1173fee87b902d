#include "broker/session.hpp"

#include <algorithm>

namespace hermod::broker {

std::optional<mqtt::PacketId> Session::next_packet_id() {
  if (inflight_.size() >= 65535) return std::nullopt;
  while (true) {
    last_packet_id_ = static_cast<mqtt::PacketId>(last_packet_id_ == 65535 ? 1 : last_packet_id_ + 1);
    if (!inflight_.count(last_packet_id_)) return last_packet_id_;
  }
}

std::vector<std::pair<mqtt::PacketId, InflightMessage*>> Session::inflight_in_order() {
  std::vector<std::pair<mqtt::PacketId, InflightMessage*>> v;
  v.reserve(inflight_.size());
  for (auto& [id, m] : inflight_) v.emplace_back(id, &m);
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second->sequence < b.second->sequence; });
  return v;
}

bool Session::enqueue(OutboundMessage& m, const Limits& limits) {
  if (queue_size() >= limits.max_queued_messages) return false;
  const auto bytes = m.message->payload.size();
  if (limits.max_queued_bytes != 0 && queued_bytes_ + bytes > limits.max_queued_bytes) return false;
  queued_bytes_ += bytes;
  if (!queue_) queue_ = std::make_unique<std::deque<OutboundMessage>>();
  queue_->push_back(std::move(m));
  return true;
}

void Session::restore_queued(OutboundMessage m) {
  queued_bytes_ += m.message->payload.size();
  if (!queue_) queue_ = std::make_unique<std::deque<OutboundMessage>>();
  queue_->push_back(std::move(m));
}

OutboundMessage Session::dequeue() {
  OutboundMessage m = std::move(queue_->front());
  queue_->pop_front();
  queued_bytes_ -= m.message->payload.size();
  return m;
}

}  // namespace hermod::broker
