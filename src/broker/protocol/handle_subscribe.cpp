// SUBSCRIBE and UNSUBSCRIBE: the session's subscriptions, every worker's topic index, and the
// retained messages a new subscription receives.
#include "base/log.hpp"
#include "broker/protocol/connection.hpp"
#include "broker/protocol/topic_limits.hpp"
#include "mqtt/topic.hpp"

namespace hermod::broker {

using namespace mqtt;

namespace {

// The SUBACK code for one requested subscription, or success when it is accepted.
ReasonCode check_filter(const TopicSubscription& t, const Config& config, const Limits& limits, bool v5) {
  const auto failure = [v5](ReasonCode rc) { return v5 ? rc : ReasonCode::unspecified_error; };
  if (!is_valid_topic_filter(t.filter)) return failure(ReasonCode::topic_filter_invalid);
  if (exceeds_topic_limits(t.filter, limits)) return failure(ReasonCode::topic_filter_invalid);
  const bool shared = parse_shared_filter(t.filter).has_value();
  // Shared subscriptions are an MQTT 5 feature; 3.1.1 clients may use them too, as with Mosquitto.
  if (shared && !config.features.shared_subscriptions) return failure(ReasonCode::shared_subscriptions_not_supported);
  if (has_wildcard(t.filter) && !config.features.wildcard_subscriptions) {
    return failure(ReasonCode::wildcard_subscriptions_not_supported);
  }
  return ReasonCode::success;
}

}  // namespace

void Connection::handle_subscribe(Subscribe&& sub) {
  Session& s = *session_;
  const auto& config = this->config();
  const bool v5 = is_v5(version());
  std::uint32_t subscription_id = 0;
  if (!sub.props.subscription_identifiers.empty()) {
    if (!config.features.subscription_identifiers) {
      return fail({ReasonCode::subscription_identifiers_not_supported, "subscription identifiers are off"});
    }
    subscription_id = sub.props.subscription_identifiers.front();
  }
  Suback ack;
  ack.packet_id = sub.packet_id;
  std::vector<SubscriptionChange> changes;
  std::vector<AcceptedSubscription> accepted;
  for (auto& t : sub.subscriptions) {
    const bool shared = parse_shared_filter(t.filter).has_value();
    if (shared && t.options.no_local) {
      return fail({ReasonCode::protocol_error, "no local on a shared subscription"});  // [MQTT-3.8.3-4]
    }
    if (const auto rc = check_filter(t, config, ctx().policy().limits(), v5); rc != ReasonCode::success) {
      ack.reasons.push_back(rc);
      continue;
    }
    if (!may_subscribe(t.filter)) {
      ack.reasons.push_back(v5 ? ReasonCode::not_authorized : ReasonCode::unspecified_error);
      continue;
    }
    const auto max_subscriptions = ctx().policy().limits().max_subscriptions;
    if (max_subscriptions != 0 && s.subscriptions().size() >= max_subscriptions && !s.subscriptions().count(t.filter)) {
      ack.reasons.push_back(v5 ? ReasonCode::quota_exceeded : ReasonCode::unspecified_error);
      continue;
    }
    t.options.qos = std::min(t.options.qos, config.limits.max_qos);
    ack.reasons.push_back(static_cast<ReasonCode>(t.options.qos));
    auto [it, added] = s.subscriptions().insert_or_assign(t.filter, SubscriptionRecord{t.options, subscription_id});
    if (added) context_.stats.subscriptions.add();
    ctx().writer.store_subscription(s, t.filter, it->second, true);
    changes.push_back({t.filter, RouteEntry{{ctx().worker, s.uid()}, t.options, subscription_id, s.persistent()}, true});
    if (!shared) accepted.push_back({std::move(t), !added});  // no retained messages for shared ones
  }
  // SUBACK once every worker routes to the new subscriptions, so a message published after the
  // client saw SUBACK reaches it whichever worker the publisher is on.
  ctx().routes.change(std::move(changes), [self = self(), ack = std::move(ack), accepted = std::move(accepted),
                                            subscription_id] {
    if (self->closed() || !self->session_) return;
    self->guarded([&] { self->subscribed(ack, accepted, subscription_id); });
  });
}

bool Connection::may_subscribe(std::string_view filter) {
  const auth::Acl* acl = ctx().policy().acl.get();
  if (!acl) return true;
  auto* id = session_->identity();
  if (id ? id->may_subscribe(*acl, filter) : acl->may_subscribe(filter, {std::nullopt, session_->client_id()})) {
    return true;
  }
  context_.stats.subscriptions_refused_acl.add();
  if (!warned_subscribe_) {
    warned_subscribe_ = true;
    logger("client")->info("{} {}: SUBSCRIBE to \"{}\" refused: the ACL does not allow it", remote(),
                           session_->client_id(), filter);
  }
  return false;
}

void Connection::subscribed(const Suback& ack, const std::vector<AcceptedSubscription>& accepted,
                            std::uint32_t subscription_id) {
  send(ack);
  // Retained messages for each new or replaced subscription [MQTT-3.3.1-6] [MQTT-3.8.4-3],
  // as MQTT 5's Retain Handling asks: 0 always, 1 only if new, 2 never.
  std::vector<MessagePtr> retained;
  for (const auto& [t, existed] : accepted) {
    if (t.options.retain_handling == 2 || (t.options.retain_handling == 1 && existed)) continue;
    retained.clear();
    ctx().services.retained.match(t.filter, retained);
    for (const auto& m : retained) {
      OutboundMessage out{m, std::min(m->qos, t.options.qos), true};
      if (subscription_id) out.add_subscription_id(subscription_id);
      ctx().delivery.deliver(*session_, std::move(out));
    }
  }
}

void Connection::handle_unsubscribe(Unsubscribe&& u) {
  Session& s = *session_;
  Unsuback ack;
  ack.packet_id = u.packet_id;
  std::vector<SubscriptionChange> changes;
  for (auto& f : u.filters) {
    if (!is_valid_topic_filter(f)) {
      // MQTT 5 says so per filter (a 3.1.1 UNSUBSCRIBE with one is refused by the decoder).
      ack.reasons.push_back(ReasonCode::topic_filter_invalid);
      continue;
    }
    auto it = s.subscriptions().find(f);
    if (it == s.subscriptions().end()) {
      ack.reasons.push_back(ReasonCode::no_subscription_existed);
      continue;
    }
    ctx().writer.store_subscription(s, f, it->second, false);
    s.subscriptions().erase(it);
    context_.stats.subscriptions.sub();
    ack.reasons.push_back(ReasonCode::success);
    changes.push_back({f, RouteEntry{{ctx().worker, s.uid()}, {}, 0}, false});
  }
  ctx().routes.change(std::move(changes), [self = self(), ack = std::move(ack)] {
    if (!self->closed()) self->send(ack);
  });
}

}  // namespace hermod::broker
