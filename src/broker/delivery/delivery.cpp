#include "broker/delivery/delivery.hpp"

#include <algorithm>
#include <tuple>

#include <boost/asio/post.hpp>

#include "base/log.hpp"

namespace hermod::broker {

void Delivery::connect(const std::vector<Delivery*>* all, const std::vector<boost::asio::io_context*>* io) {
  all_ = all;
  io_ = io;
  outboxes_.resize(all_->size());
  outbox_bytes_.resize(all_->size());
}

// ---------------------------------------------------------------------------------- routing

std::size_t Delivery::publish(const MessagePtr& msg, PublishGate* gate) {
  if (msg->retain) {
    p_.retained.set(msg);
    p_.writer.store_retained(*msg);
  }
  matches_.clear();
  p_.routes.match(msg->topic(), matches_);
  if (matches_.empty()) return 0;
  // One copy per session at the highest QoS among its matching subscriptions, carrying every
  // matching subscription identifier (MQTT 5 section 3.3.4).
  std::sort(matches_.begin(), matches_.end(), [](const RouteEntry* a, const RouteEntry* b) {
    return std::tie(a->who.worker, a->who.session) < std::tie(b->who.worker, b->who.session);
  });
  // Sessions that will store this message: with only one, its body goes inline in that entry.
  std::size_t stored_recipients = 0;
  if (p_.writer.enabled() && msg->qos > 0) {
    for (std::size_t i = 0; i < matches_.size() && stored_recipients < 2; ++i) {
      if (matches_[i]->persistent && matches_[i]->options.qos > 0 &&
          (i == 0 || !(matches_[i - 1]->who == matches_[i]->who))) {
        ++stored_recipients;
      }
    }
  }
  std::size_t routed = 0;
  for (std::size_t i = 0; i < matches_.size();) {
    const RouteEntry* first = matches_[i];
    OutboundMessage out{msg, 0, false};
    bool any = false;
    for (; i < matches_.size() && matches_[i]->who == first->who; ++i) {
      const RouteEntry& e = *matches_[i];
      // MQTT 5 no local: not back to the publisher's own session [MQTT-3.8.3-3].
      if (e.options.no_local && e.who.session == msg->origin_session) continue;
      any = true;
      out.qos = std::max(out.qos, std::min(msg->qos, e.options.qos));
      // [MQTT-3.3.1-9]: a live message goes out with retain 0 unless retain-as-published.
      out.retain = out.retain || (e.options.retain_as_published && msg->retain);
      if (e.subscription_id) out.add_subscription_id(e.subscription_id);
      if (e.shared_filter) out.set_shared_filter(*e.shared_filter);
    }
    if (!any) continue;
    ++routed;
    if (first->persistent && out.qos > 0) p_.writer.store_delivery(first->who, out, stored_recipients == 1);
    route_to(first->who, std::move(out), gate);
  }
  return routed;
}

void Delivery::route_to(const SubscriberRef& who, OutboundMessage out, PublishGate* gate) {
  if (who.worker == p_.worker) {
    if (Session* s = p_.sessions.by_uid(who.session)) deliver(*s, std::move(out), gate);
    return;
  }
  auto& box = outboxes_[who.worker];
  // The memory budget's count: the entry, and the message's bytes once per batch (deliveries
  // of one message to one worker are consecutive: publish() sorts its matches by worker).
  std::uint64_t bytes = sizeof(Remote);
  if (box.empty() || box.back().out.message != out.message) {
    bytes += out.message->topic().size() + out.message->payload().size();
  }
  outbox_bytes_[who.worker] += bytes;
  p_.memory.outboxes += bytes;
  box.push_back(Remote{who.session, std::move(out)});
  p_.turn.schedule_end_turn();
}

void Delivery::flush_outboxes() {
  for (std::uint32_t w = 0; w < outboxes_.size(); ++w) {
    if (outboxes_[w].empty()) continue;
    Delivery& target = *(*all_)[w];
    const std::uint64_t bytes = outbox_bytes_[w];
    outbox_bytes_[w] = 0;
    p_.memory.outboxes -= bytes;
    p_.memory.batches_posted += bytes;
    boost::asio::post(*(*io_)[w], [&target, bytes, batch = std::move(outboxes_[w])]() mutable {
      target.on_remote(batch, bytes);
    });
    outboxes_[w].clear();  // moved from; now certainly empty
  }
}

void Delivery::on_remote(std::vector<Remote>& batch, std::uint64_t bytes) {
  for (auto& d : batch) {
    if (Session* s = p_.sessions.by_uid(d.session)) deliver(*s, std::move(d.out));
  }
  // Taken once handled, even if everything was dropped: the turn's end publishes the fall.
  p_.memory.batches_taken += bytes;
  p_.turn.schedule_end_turn();
}

void Delivery::count_queued(const OutboundMessage& out, bool entering) {
  const auto bytes = queued_cost(out.message->topic().size(), out.message->payload().size());
  if (entering) {
    p_.memory.session_queues += bytes;
  } else {
    p_.memory.session_queues -= bytes;
  }
}

// --------------------------------------------------------------------------------- delivery

void Delivery::queue_or_drop(Session& s, OutboundMessage& out) {
  if (!s.enqueue(out, p_.config.limits)) {
    p_.stats.drop(DropReason::queue_full);
    p_.writer.forget_stored(s, out);
  } else {
    count_queued(s.queue_back(), true);
    p_.writer.store_queued(s, s.queue_back());
  }
}

bool Delivery::may_receive(Session& s, const OutboundMessage& out) {
  const auth::Acl* acl = p_.policy->acl.get();
  if (!acl) return true;
  auth::AclCache* id = s.identity();
  if (!id) {
    // Recovered from the store and its client not back yet: checked when it leaves the queue.
    if (!s.connection()) return true;
    // An anonymous client that connected before the ACL was loaded.
    s.set_identity(std::make_unique<auth::AclCache>(std::nullopt, s.client_id()));
    id = s.identity();
  }
  if (id->may_receive(*acl, out.message->topic())) return true;
  p_.stats.messages_refused_acl.add();
  return false;
}

void Delivery::refuse(Session& s, OutboundMessage& out) {
  p_.stats.drop(DropReason::not_authorized);
  p_.writer.forget_stored(s, out);
}

void Delivery::deliver(Session& s, OutboundMessage out, PublishGate* gate) {
  if (!may_receive(s, out)) return refuse(s, out);
  const auto& limits = p_.config.limits;
  Link* c = s.connection();
  if (!c) {
    const bool queue = s.persistent() && (out.qos > 0 || limits.queue_qos0);
    if (!queue) {
      p_.stats.drop(DropReason::offline);
      p_.writer.forget_stored(s, out);
      return;
    }
    return queue_or_drop(s, out);
  }
  if (out.qos == 0) {
    c->send_publish(out, 0, false);  // counts what it drops, and why
    return;
  }
  // Order is kept: while older messages wait in the queue, new ones queue behind them.
  if (s.inflight().size() < c->inflight_limit() && s.queue_empty()) {
    send_inflight(s, std::move(out), gate);
  } else {
    queue_or_drop(s, out);
  }
}

void Delivery::send_inflight(Session& s, OutboundMessage out, PublishGate* gate) {
  const auto id = s.next_packet_id();
  if (!id) return queue_or_drop(s, out);  // cannot happen while max_inflight <= 65535
  const auto state = out.qos == 1 ? InflightMessage::State::awaiting_puback : InflightMessage::State::awaiting_pubrec;
  auto& entry = s.inflight().insert(*id, InflightMessage{std::move(out), s.next_sequence(), state});
  if (!s.connection()->send_publish(entry.out, *id, false)) {
    // Expired, or larger than the client accepts: discarded as if delivered [MQTT-3.1.2-25].
    p_.writer.forget_stored(s, entry.out);
    s.inflight().erase(*id);
    return;
  }
  if (gate && entry.out.record_deferred && entry.out.qos == 1) return p_.holds.hold(s, *id, entry, *gate);
  p_.writer.store_inflight(s, *id, entry);
}

void Delivery::pump(Session& s) {
  while (s.connection() && !s.queue_empty() && s.inflight().size() < s.connection()->inflight_limit()) {
    OutboundMessage out = s.dequeue();
    count_queued(out, false);
    if (!may_receive(s, out)) {
      refuse(s, out);
      continue;
    }
    if (out.qos == 0) {
      s.connection()->send_publish(out, 0, false);
      p_.writer.forget_stored(s, out);
    } else {
      send_inflight(s, std::move(out), nullptr);
    }
  }
}

void Delivery::resume(Session& s) {
  Link* c = s.connection();
  // [MQTT-4.4.0-1]: resend unacknowledged PUBLISH (with DUP) and PUBREL in their original order.
  for (const mqtt::PacketId id : s.inflight_in_order()) {
    InflightMessage* m = s.inflight().find(id);
    if (m->state == InflightMessage::State::awaiting_pubcomp) {
      c->send(mqtt::Pubrel{id});  // rare: resent once per reconnect
    } else if (!c->send_publish(m->out, id, true)) {  // expired while the client was away
      p_.writer.forget_stored(s, m->out);
      s.inflight().erase(id);
    }
  }
  pump(s);
}

// --------------------------------------------------------------------------------- sessions

void Delivery::session_offline(Session& s) {
  s.mark_disconnected(p_.clock.now());
  p_.writer.store_session(s);
  p_.sessions.watch(s);
}

void Delivery::session_reconnecting(Session& s) {
  auto& w = s.pending_will();
  if (!w) return;
  // MQTT 5 will delay: a will whose delay has passed is published even if no timer or sweep
  // has got to it yet; one still waiting is cancelled by this new connection, Clean Start or
  // not [MQTT-3.1.2-8] [MQTT-3.1.3-9].
  if (w->due <= p_.clock.now()) publish(std::move(w->message));
  w.reset();
}

void Delivery::session_online(Session& s) { p_.sessions.unwatch(s); }

void Delivery::end_session(Session& s) {
  p_.sessions.unwatch(s);
  // [MQTT-3.1.3-9] (MQTT 5): a delayed will is published at the latest when the session ends.
  if (auto& w = s.pending_will()) {
    auto msg = std::move(w->message);
    w.reset();
    publish(msg);
  }
  // MQTT 5 section 4.8.2: messages of a shared subscription that this member will never
  // acknowledge go to another member of the group. The new member's stored reference to a shared
  // body is taken before this member's is dropped, so the body's count never passes through zero
  // here: another worker dropping its reference at the same moment cannot delete the body in
  // its own commit while this one still needs it.
  auto drop_or_hand_over = [&](OutboundMessage& out) {
    const RouteEntry* other = out.shared_filter().empty() || !out.message
                                  ? nullptr
                                  : p_.routes.pick_shared(out.shared_filter(), {p_.worker, s.uid()});
    if (!other) return p_.writer.forget_stored(s, out);
    OutboundMessage next(out.message, out.qos, false);
    next.set_shared_filter(std::string(out.shared_filter()));
    if (other->subscription_id) next.add_subscription_id(other->subscription_id);
    if (other->persistent && next.qos > 0) p_.writer.store_delivery(other->who, next, false);
    p_.writer.forget_stored(s, out);
    route_to(other->who, std::move(next), nullptr);
  };
  s.inflight().for_each([&](mqtt::PacketId, InflightMessage& m) {
    if (m.state == InflightMessage::State::awaiting_pubcomp) {
      p_.writer.forget_stored(s, m.out);  // the subscriber has it already
    } else {
      drop_or_hand_over(m.out);
    }
  });
  while (!s.queue_empty()) {
    auto out = s.dequeue();
    count_queued(out, false);
    drop_or_hand_over(out);
  }
  p_.writer.unstore_session(s);

  std::vector<SubscriptionChange> changes;
  for (const auto& [filter, opts] : s.subscriptions()) {
    changes.push_back({filter, RouteEntry{{p_.worker, s.uid()}, opts.options}, false});
  }
  p_.stats.subscriptions.sub(s.subscriptions().size());
  if (!changes.empty()) p_.routes.change(std::move(changes), [] {});
  p_.sessions.erase(s);
}

void Delivery::update_route_persistence(Session& s) {
  std::vector<SubscriptionChange> changes;
  for (const auto& [filter, r] : s.subscriptions()) {
    changes.push_back({filter, RouteEntry{{p_.worker, s.uid()}, r.options, r.subscription_id, s.persistent()}, true});
  }
  p_.routes.change(std::move(changes), [] {});
}

void Delivery::expire(Clock::time_point now) {
  std::vector<Session*> ended;
  std::vector<MessagePtr> wills;
  for (Session* s : p_.sessions.watched()) {
    auto& w = s->pending_will();
    if (w && now >= w->due) {
      wills.push_back(std::move(w->message));
      w.reset();
    }
    if (s->expired(now)) ended.push_back(s);
  }
  for (auto& m : wills) publish(m);
  for (Session* s : ended) {
    logger("client")->info("session {} expired", s->client_id());
    end_session(*s);
  }
}

Clock::time_point Delivery::next_will_due() const {
  auto next = Clock::time_point::max();
  for (Session* s : p_.sessions.watched()) {
    if (const auto& w = s->pending_will()) next = std::min(next, w->due);
  }
  return next;
}

}  // namespace hermod::broker
