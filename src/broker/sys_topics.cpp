#include "broker/sys_topics.hpp"

#include <string>

#include "broker/broker.hpp"
#include "broker/worker.hpp"

namespace hermod::broker {

SysTopics::SysTopics(Broker& broker, Worker& worker) : broker_(broker), worker_(worker), timer_(worker.io()) {}

void SysTopics::start() {
  if (broker_.config().sys_interval == 0) return;
  publish_all();
  schedule();
}

void SysTopics::stop() { timer_.cancel(); }

void SysTopics::schedule() {
  timer_.expires_after(std::chrono::seconds(broker_.config().sys_interval));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    publish_all();
    schedule();
  });
}

void SysTopics::publish_all() {
  const auto t = broker_.totals();
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(broker_.services().clock.now() -
                                                                       broker_.started_at()).count();
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
  pub("$SYS/broker/bytes/received", std::to_string(t.bytes_received));
  pub("$SYS/broker/bytes/sent", std::to_string(t.bytes_sent));
  pub("$SYS/broker/subscriptions/count", std::to_string(t.subscriptions));
  pub("$SYS/broker/retained messages/count", std::to_string(t.retained));
}

}  // namespace hermod::broker
