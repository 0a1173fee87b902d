#include "broker/session/session.hpp"

#include <algorithm>

namespace hermod::broker {

std::optional<mqtt::PacketId> Session::next_packet_id() {
  if (inflight_.size() >= 65535) return std::nullopt;
  while (true) {
    last_packet_id_ = static_cast<mqtt::PacketId>(last_packet_id_ == 65535 ? 1 : last_packet_id_ + 1);
    if (!inflight_.contains(last_packet_id_)) return last_packet_id_;
  }
}

bool Session::enqueue(OutboundMessage& m, const Limits& limits) {
  if (queue_size() >= limits.max_queued_messages) return false;
  const auto bytes = m.message->payload().size();
  const std::uint64_t queued = queue_ ? queue_->bytes : 0;
  if (limits.max_queued_bytes != 0 && queued + bytes > limits.max_queued_bytes) return false;
  restore_queued(std::move(m));
  return true;
}

void Session::restore_queued(OutboundMessage m) {
  if (!queue_) queue_ = std::make_unique<Queue>();
  queue_->bytes += m.message->payload().size();
  queue_->messages.push_back(std::move(m));
}

OutboundMessage Session::dequeue() {
  OutboundMessage m = std::move(queue_->messages.front());
  queue_->messages.pop_front();
  queue_->bytes -= m.message->payload().size();
  return m;
}

}  // namespace hermod::broker
