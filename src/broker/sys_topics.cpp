#include "broker/sys_topics.hpp"

#include <string>

#include "broker/worker.hpp"

namespace hermod::broker {

SysTopics::SysTopics(std::uint32_t interval_seconds, const Clock& clock, Clock::time_point started_at,
                     std::function<BrokerTotals()> totals, Worker& worker)
    : interval_(interval_seconds),
      clock_(clock),
      started_at_(started_at),
      totals_(std::move(totals)),
      worker_(worker),
      timer_(worker.io()) {}

void SysTopics::start() {
  if (interval_ == 0) return;
  publish_all();
  schedule();
}

void SysTopics::stop() {
  stopped_ = true;
  timer_.cancel();
}

void SysTopics::schedule() {
  timer_.expires_after(std::chrono::seconds(interval_));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    publish_all();
    schedule();
  });
}

void SysTopics::publish_all() {
  const auto t = totals_();
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(clock_.now() - started_at_).count();
  auto pub = [this](const char* topic, std::string value) {
    auto m = make_message(topic, value);
    m->retain = true;
    worker_.delivery().publish(m);
  };
  pub("$SYS/broker/version", std::string("hermod ") + HERMOD_VERSION);
  pub("$SYS/broker/uptime", std::to_string(uptime) + " seconds");
  pub("$SYS/broker/clients/connected", std::to_string(t.clients_connected));
  pub("$SYS/broker/clients/total", std::to_string(t.sessions));
  pub("$SYS/broker/clients/disconnected", std::to_string(t.sessions - std::min(t.sessions, t.clients_connected)));
  pub("$SYS/broker/messages/received", std::to_string(t.messages_received));
  pub("$SYS/broker/messages/sent", std::to_string(t.messages_sent));
  pub("$SYS/broker/messages/dropped", std::to_string(t.messages_dropped));
  pub("$SYS/broker/acl/refused/messages", std::to_string(t.messages_refused_acl));
  pub("$SYS/broker/acl/refused/subscriptions", std::to_string(t.subscriptions_refused_acl));
  pub("$SYS/broker/limits/rate_limited", std::to_string(t.publishes_rate_limited));
  pub("$SYS/broker/bytes/received", std::to_string(t.bytes_received));
  pub("$SYS/broker/bytes/sent", std::to_string(t.bytes_sent));
  pub("$SYS/broker/subscriptions/count", std::to_string(t.subscriptions));
  pub("$SYS/broker/retained messages/count", std::to_string(t.retained));
  // The memory budget (docs/configuration.md, limits.memory_budget): bytes counted against it,
  // the budget itself, and what it did, as totals since the start.
  pub("$SYS/broker/memory/used", std::to_string(t.memory_used));
  pub("$SYS/broker/memory/budget", std::to_string(t.memory_budget));
  pub("$SYS/broker/memory/exceeded", std::to_string(t.memory_exceeded));
  pub("$SYS/broker/memory/reads paused", std::to_string(t.memory_reads_paused));
  pub("$SYS/broker/memory/releases", std::to_string(t.memory_releases));
  pub("$SYS/broker/messages/dropped/memory", std::to_string(t.memory_dropped));
  // Refusals by the limits per listener and per address (docs/security.md).
  pub("$SYS/broker/connections/refused/denied", std::to_string(t.connections_refused_denied));
  pub("$SYS/broker/connections/refused/listener_full", std::to_string(t.connections_refused_listener_full));
  pub("$SYS/broker/connections/refused/address_full", std::to_string(t.connections_refused_address_full));
  pub("$SYS/broker/connections/refused/connect_rate", std::to_string(t.connections_refused_connect_rate));
  pub("$SYS/broker/connections/refused/untrusted_proxy", std::to_string(t.connections_refused_proxy));
  pub("$SYS/broker/clients/login_delays", std::to_string(t.logins_delayed));
  pub("$SYS/broker/clients/banned", std::to_string(t.connects_banned));
  pub("$SYS/broker/clients/flapping_bans", std::to_string(t.flapping_bans));
}

}  // namespace hermod::broker
