#include "broker/durability/session_writer.hpp"

#include "broker/durability/persistence.hpp"
#include "broker/store/records.hpp"

namespace hermod::broker {

void SessionWriter::attach(store::Store* store) {
  store_ = store;
  batch_ = store_ ? std::make_unique<store::Batch>() : nullptr;
}

store::Batch* SessionWriter::writes() {
  if (!batch_) return nullptr;
  turn_.schedule_end_turn();
  return batch_.get();
}

Status SessionWriter::commit() {
  if (!batch_ || batch_->empty()) return {};
  return store_->commit(*batch_);
}

void SessionWriter::store_session(Session& s) {
  auto* w = s.persistent() ? writes() : nullptr;
  if (!w) return;
  store::SessionRecord r;
  r.client_id = s.client_id();
  r.expiry_interval = s.expiry_interval();
  r.offline_since_ms = s.connection() ? 0 : to_wall_ms(s.disconnected_at());
  w->put(store::session_key(s.uid()), store::encode(r));
  if (!s.stored()) {
    // Becoming persistent: what the session already had must be stored with it.
    s.set_stored(true);
    for (const auto& [filter, sub] : s.subscriptions()) store_subscription(s, filter, sub, true);
    for (auto id : s.inbound_qos2()) w->put(store::inbound_key(s.uid(), id), {});
  }
}

void SessionWriter::unstore_session(Session& s) {
  if (!s.stored()) return;
  s.set_stored(false);
  auto* w = writes();
  if (!w) return;
  w->del(store::session_key(s.uid()));
  w->del_prefix(store::subscription_prefix(s.uid()));
  w->del_prefix(store::inbound_prefix(s.uid()));
  w->del_prefix(store::queue_prefix(s.uid()));
}

void SessionWriter::store_subscription(Session& s, const std::string& filter, const SubscriptionRecord& r, bool add) {
  auto* w = s.stored() ? writes() : nullptr;
  if (!w) return;
  if (add) {
    w->put(store::subscription_key(s.uid(), filter), store::encode(store::SubscriptionRecordValue{r.options, r.subscription_id}));
  } else {
    w->del(store::subscription_key(s.uid(), filter));
  }
}

void SessionWriter::store_inbound_qos2(Session& s, mqtt::PacketId id, bool add) {
  auto* w = s.stored() ? writes() : nullptr;
  if (!w) return;
  if (add) {
    w->put(store::inbound_key(s.uid(), id), {});
  } else {
    w->del(store::inbound_key(s.uid(), id));
  }
}

void SessionWriter::store_inflight(Session& s, mqtt::PacketId id, InflightMessage& m) {
  if (m.out.store_key == 0 || !m.out.message) return;
  auto* w = writes();
  if (!w) return;
  m.out.record_deferred = false;
  w->put(store::queue_key(s.uid(), m.out.store_key),
         store::encode(to_queue_record(m.out, id, static_cast<std::uint8_t>(m.state))));
}

void SessionWriter::forget_stored(Session& s, OutboundMessage& out) {
  if (out.store_key == 0) return;
  auto* w = writes();
  const std::uint64_t key = out.store_key;
  out.store_key = 0;
  if (!w) return;
  if (!out.record_deferred) w->del(store::queue_key(s.uid(), key));
  out.record_deferred = false;
  if (out.inline_body) return;
  // The last stored reference to a body deletes it, on whichever worker that happens.
  if (out.message && out.message->store_refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    w->del(store::body_key(out.message->store_id));
  }
}

void SessionWriter::store_delivery(const SubscriberRef& who, OutboundMessage& out, bool sole) {
  auto* w = writes();
  if (!w) return;
  const Message& m = *out.message;
  out.inline_body = sole;
  if (!sole && m.store_refs.fetch_add(1, std::memory_order_acq_rel) == 0) {
    // The first stored recipient stores the body; the rest reference it.
    if (m.store_id == 0) m.store_id = next_store_id();
    w->put(store::body_key(m.store_id), store::encode(to_body_record(m)));
  }
  out.store_key = next_store_id();
  if (who.worker == worker_) {
    out.record_deferred = true;
    return;
  }
  w->put(store::queue_key(who.session, out.store_key), store::encode(to_queue_record(out, 0, 0)));
}

void SessionWriter::store_queued(Session& s, OutboundMessage& out) {
  if (!out.record_deferred) return;
  out.record_deferred = false;
  if (auto* w = writes()) w->put(store::queue_key(s.uid(), out.store_key), store::encode(to_queue_record(out, 0, 0)));
}

void SessionWriter::store_retained(const Message& m) {
  // $SYS values are the broker's own and stale after a restart: not stored.
  auto* w = m.topic().starts_with("$SYS/") ? nullptr : writes();
  if (!w) return;
  if (m.payload().empty()) {
    w->del(store::retained_key(m.topic()));
  } else {
    w->put(store::retained_key(m.topic()), store::encode(to_body_record(m)));
  }
}

}  // namespace hermod::broker
