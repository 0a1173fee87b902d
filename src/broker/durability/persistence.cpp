#include "broker/durability/persistence.hpp"

namespace hermod::broker {

using namespace std::chrono;

std::int64_t to_wall_ms(steady_clock::time_point t) {
  const auto delta = duration_cast<milliseconds>(t - steady_clock::now());
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count() + delta.count();
}

steady_clock::time_point from_wall_ms(std::int64_t ms) {
  const auto now_ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  return steady_clock::now() + milliseconds(ms - now_ms);
}

store::BodyRecord to_body_record(const Message& m) {
  store::BodyRecord r;
  r.topic = m.topic();
  r.payload = m.payload();
  r.qos = m.qos;
  r.retain = m.retain;
  if (m.expires_at != steady_clock::time_point::max()) r.expires_at_ms = to_wall_ms(m.expires_at);
  if (m.props) r.props = *m.props;
  return r;
}

store::QueueRecord to_queue_record(const OutboundMessage& out, std::uint16_t packet_id, std::uint8_t state) {
  store::QueueRecord r;
  r.body_id = out.message->store_id;
  r.qos = out.qos;
  r.retain = out.retain;
  r.packet_id = packet_id;
  r.state = state;
  r.subscription_ids = out.subscription_ids();
  r.shared_filter = out.shared_filter();
  if (out.inline_body) {
    r.body_id = 0;
    r.body = to_body_record(*out.message);
  }
  return r;
}

std::shared_ptr<Message> from_body_record(store::BodyRecord&& r) {
  auto m = make_message(r.topic, r.payload);
  m->qos = r.qos;
  m->retain = r.retain;
  if (r.expires_at_ms != 0) m->expires_at = from_wall_ms(r.expires_at_ms);
  if (!r.props.empty()) m->props = std::make_shared<mqtt::Properties>(std::move(r.props));
  return m;
}

}  // namespace hermod::broker
