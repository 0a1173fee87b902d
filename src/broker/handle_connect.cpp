// CONNECT, DISCONNECT and the will: session set-up and tear-down for one connection.
#include <unistd.h>

#include "broker/broker.hpp"
#include "broker/connection.hpp"
#include "broker/log.hpp"
#include "broker/worker.hpp"

namespace hermod::broker {

using namespace mqtt;

void Connection::handle_connect(Connect&& c) {
  version_ = c.version;
  const auto& limits = worker_.config().limits;
  if (limits.max_connections != 0 &&
      worker_.broker().connection_count().load(std::memory_order_relaxed) > limits.max_connections) {
    return refuse_connect(is_v5(version_) ? ReasonCode::server_busy : ReasonCode::server_unavailable);
  }
  if (c.client_id.empty()) {
    // [MQTT-3.1.3-7] [MQTT-3.1.3-8]: an empty id needs clean session in 3.1.1; 3.1 needs an id.
    if (version_ == ProtocolVersion::v3_1 || (!c.clean_start && !is_v5(version_))) {
      return refuse_connect(ReasonCode::client_identifier_not_valid);
    }
    c.client_id = worker_.generate_client_id();
    if (is_v5(version_)) c.props.assigned_client_identifier = c.client_id;
  }
  const auto home = worker_.broker().home_worker(c.client_id);
  if (home != worker_.index()) {
    // Finish in process(): the bytes after this CONNECT travel with the socket.
    pending_handoff_.emplace(std::move(c), home);
    return;
  }
  accept_connect(std::move(c));
}

void Connection::hand_off(std::uint32_t home, Connect&& c, std::string leftover) {
  boost::system::error_code ec;
  const auto protocol = socket_.local_endpoint(ec).protocol();
  const int fd = ec ? -1 : socket_.release(ec);
  if (ec || fd < 0) {
    logger("client")->warn("{}: cannot hand connection to worker {}: {}", remote_, home, ec.message());
    close(CloseReason::connection_lost);
    return;
  }
  state_ = State::handed_off;
  const bool counted = counted_;
  counted_ = false;
  worker_.remove_connection(this);
  Worker& target = worker_.broker().worker(home);
  target.post([&target, fd, protocol, counted, remote = remote_, c = std::move(c), leftover = std::move(leftover)]() mutable {
    boost::system::error_code ec;
    asio::ip::tcp::socket socket(target.io());
    socket.assign(protocol, fd, ec);
    if (ec) {
      ::close(fd);
      return;
    }
    auto conn = std::make_shared<Connection>(target, std::move(socket), std::move(remote));
    if (counted) conn->mark_counted();
    target.add_connection(conn);
    conn->resume_after_handoff(std::move(c), std::move(leftover));
  });
}

void Connection::refuse_connect(ReasonCode reason) {
  Connack ack;
  ack.reason = reason;
  send(ack);
  logger("client")->info("{} refused: {}", remote_, to_string(reason));
  close(CloseReason::refused);
}

void Connection::accept_connect(Connect&& c) {
  const bool v5 = is_v5(version_);
  // MQTT 5: the session outlives the connection when its expiry interval is non-zero;
  // 3.1.1: when clean session is 0.
  const bool persistent = v5 ? c.props.session_expiry_interval.value_or(0) > 0 : !c.clean_start;
  Session* s = worker_.find_session(c.client_id);
  if (s && s->connection()) {
    // [MQTT-3.1.4-2]: the existing connection of this client id is closed (its will published).
    s->connection()->take_over();
    s = worker_.find_session(c.client_id);  // a non-persistent session died with its connection
  }
  bool session_present = false;
  if (s && c.clean_start) {
    worker_.destroy_session(*s);
    s = nullptr;
  }
  if (s) {
    session_present = true;
    s->set_persistent(persistent);
  } else {
    s = &worker_.create_session(c.client_id, persistent);
  }
  session_ = s;
  s->attach(this);
  will_ = std::move(c.will);
  keep_alive_ = c.keep_alive;
  state_ = State::connected;
  worker_.stats().clients_connected.add();

  Connack ack;
  ack.session_present = session_present;
  if (v5 && c.props.assigned_client_identifier) ack.props.assigned_client_identifier = c.props.assigned_client_identifier;
  send(ack);
  logger("client")->info("{} connected as {} (MQTT {}, keepalive {}, {})", remote_, c.client_id,
                         to_string(version_), keep_alive_, session_present ? "session resumed" : "new session");
  if (session_present) worker_.resume(*s);
}

void Connection::handle_disconnect(const Disconnect& d) {
  // [MQTT-3.14.4-3]: a DISCONNECT discards the will (MQTT 5 may ask to send it anyway).
  if (d.reason != ReasonCode::disconnect_with_will_message) will_.reset();
  close(d.reason == ReasonCode::disconnect_with_will_message ? CloseReason::connection_lost
                                                             : CloseReason::client_disconnect);
}

void Connection::publish_will() {
  auto m = std::make_shared<Message>();
  m->topic = std::move(will_->topic);
  m->payload = std::move(will_->payload);
  m->qos = will_->qos;
  m->retain = will_->retain;
  m->origin_session = session_ ? session_->uid() : 0;
  if (!will_->props.empty()) m->props = std::make_shared<Properties>(std::move(will_->props));
  will_.reset();
  worker_.publish(m);
}

}  // namespace hermod::broker
