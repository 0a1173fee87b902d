// SUBSCRIBE and UNSUBSCRIBE: the session's subscriptions, every worker's topic index, and the
// retained messages a new subscription receives.
#include "broker/broker.hpp"
#include "broker/connection.hpp"
#include "broker/worker.hpp"
#include "mqtt/topic.hpp"

namespace hermod::broker {

using namespace mqtt;

void Connection::handle_subscribe(Subscribe&& sub) {
  Session& s = *session_;
  Suback ack;
  ack.packet_id = sub.packet_id;
  std::vector<SubscriptionChange> changes;
  std::vector<TopicSubscription> accepted;
  for (auto& t : sub.subscriptions) {
    // Shared subscriptions arrive with MQTT 5 support; until then they are refused.
    if (!is_valid_topic_filter(t.filter) || parse_shared_filter(t.filter)) {
      ack.reasons.push_back(is_v5(version_) ? ReasonCode::topic_filter_invalid : ReasonCode::unspecified_error);
      continue;
    }
    ack.reasons.push_back(static_cast<ReasonCode>(t.options.qos));
    auto [it, added] = s.subscriptions().insert_or_assign(t.filter, t.options);
    if (added) worker_.stats().subscriptions.add();
    changes.push_back({t.filter, RouteEntry{{worker_.index(), s.uid()}, t.options}, true});
    accepted.push_back(std::move(t));
  }
  // SUBACK once every worker routes to the new subscriptions, so a message published after the
  // client saw SUBACK reaches it whichever worker the publisher is on.
  worker_.change_subscriptions(
      std::move(changes), [self = shared_from_this(), ack = std::move(ack), accepted = std::move(accepted)] {
        if (self->closed() || !self->session_) return;
        self->send(ack);
        // Retained messages for each new or replaced subscription [MQTT-3.3.1-6] [MQTT-3.8.4-3].
        std::vector<MessagePtr> retained;
        for (const auto& t : accepted) {
          retained.clear();
          self->worker_.broker().retained().match(t.filter, retained);
          for (const auto& m : retained) {
            OutboundMessage out{m, std::min(m->qos, t.options.qos), true};
            self->worker_.deliver(*self->session_, std::move(out));
          }
        }
      });
}

void Connection::handle_unsubscribe(Unsubscribe&& u) {
  Session& s = *session_;
  Unsuback ack;
  ack.packet_id = u.packet_id;
  std::vector<SubscriptionChange> changes;
  for (auto& f : u.filters) {
    auto it = s.subscriptions().find(f);
    if (it == s.subscriptions().end()) {
      ack.reasons.push_back(ReasonCode::no_subscription_existed);
      continue;
    }
    s.subscriptions().erase(it);
    worker_.stats().subscriptions.sub();
    ack.reasons.push_back(ReasonCode::success);
    changes.push_back({f, RouteEntry{{worker_.index(), s.uid()}, {}}, false});
  }
  worker_.change_subscriptions(std::move(changes), [self = shared_from_this(), ack = std::move(ack)] {
    if (!self->closed()) self->send(ack);
  });
}

}  // namespace hermod::broker
