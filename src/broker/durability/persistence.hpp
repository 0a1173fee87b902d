// Conversions between the broker's in-memory messages and the store's records. Steady-clock
// deadlines are stored as wall-clock times so they keep their meaning across a restart.
// Any thread; pure functions.
#pragma once

#include <chrono>

#include "broker/routing/message.hpp"
#include "broker/session/session.hpp"
#include "broker/store/records.hpp"

namespace hermod::broker {

std::int64_t to_wall_ms(std::chrono::steady_clock::time_point t);
std::chrono::steady_clock::time_point from_wall_ms(std::int64_t ms);

store::BodyRecord to_body_record(const Message& m);
// A queue entry for `out` (whose message has its store_id); packet_id 0: queued, not sent.
store::QueueRecord to_queue_record(const OutboundMessage& out, std::uint16_t packet_id, std::uint8_t state);
std::shared_ptr<Message> from_body_record(store::BodyRecord&& r);

}  // namespace hermod::broker
