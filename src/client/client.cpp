// Client: connection lifecycle, public operations, timers. Packet I/O is in client_io.cpp.
#include "client/client.hpp"

#include <boost/asio/post.hpp>

#include "client/client_link.hpp"
#include "client/transport_factory.hpp"
#include "mqtt/properties.hpp"
#include "mqtt/topic.hpp"
#include "mqtt/utf8.hpp"

namespace hermod::client {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// How long a closing connection may take to write its last bytes (DISCONNECT) before it is cut.
constexpr auto kCloseGrace = std::chrono::seconds(2);

bool valid_topic_name(std::string_view t) {
  return t.size() <= mqtt::kMaxTopicLength && mqtt::is_valid_topic_name(t) && mqtt::is_valid_mqtt_utf8(t);
}

bool valid_topic_filter(std::string_view f) {
  return f.size() <= mqtt::kMaxTopicLength && mqtt::is_valid_topic_filter(f) && mqtt::is_valid_mqtt_utf8(f);
}

// CONNACK refusals worth retrying: the broker may accept later without any change on our side.
bool retryable_refusal(mqtt::ReasonCode rc) {
  using mqtt::ReasonCode;
  return rc == ReasonCode::server_unavailable || rc == ReasonCode::server_busy ||
         rc == ReasonCode::connection_rate_exceeded || rc == ReasonCode::server_shutting_down;
}

}  // namespace

std::shared_ptr<Client> Client::create(const asio::any_io_executor& ex, ClientOptions options,
                                       TransportFactory factory) {
  return std::shared_ptr<Client>(new Client(ex, std::move(options), std::move(factory)));
}

Client::Client(const asio::any_io_executor& ex, ClientOptions options, TransportFactory factory)
    : ex_(ex),
      options_(std::move(options)),
      factory_(factory ? std::move(factory) : make_transport_factory(options_)),
      session_(options_.offline_buffer, options_.max_inflight),
      backoff_(options_.reconnect.backoff),
      client_id_(options_.client_id),
      connect_timer_(ex),
      keepalive_timer_(ex),
      reconnect_timer_(ex) {}

Client::~Client() {
  if (link_) {
    link_->transport->close();
    link_->closed = true;
  }
  // Handlers are posted, not run: a destructor must not call back into user code.
  auto failed = session_.fail_all(Errc::cancelled);
  for (auto& c : failed.publishes) {
    if (c.handler) asio::post(ex_, [c = std::move(c)] { c.handler(c.ec, c.result); });
  }
  for (auto& c : failed.requests) {
    if (c.handler) asio::post(ex_, [c = std::move(c)] { c.handler(c.ec, c.result); });
  }
  if (first_connect_pending_ && connect_handler_) {
    asio::post(ex_, [h = std::move(connect_handler_)] { h(Errc::cancelled, ConnectResult{}); });
  }
  for (auto& h : disconnect_handlers_) {
    if (h) asio::post(ex_, [h = std::move(h)] { h(std::error_code{}); });
  }
}

// ---- public operations ----

void Client::async_connect(ConnectHandler handler) {
  asio::post(ex_, [self = shared_from_this(), handler = std::move(handler)]() mutable {
    if (self->state_ != State::idle && self->state_ != State::stopped) {
      if (handler) handler(Errc::already_connecting, ConnectResult{});
      return;
    }
    self->connect_handler_ = std::move(handler);
    self->first_connect_pending_ = true;
    self->backoff_.reset();
    self->start_attempt();
  });
}

void Client::async_publish(Message msg, PublishHandler handler) {
  asio::post(ex_, [self = shared_from_this(), msg = std::move(msg), handler = std::move(handler)]() mutable {
    self->do_publish(std::move(msg), std::move(handler));
  });
}

void Client::do_publish(Message msg, PublishHandler handler) {
  auto fail = [&](std::error_code ec) {
    if (handler) handler(ec, PublishResult{});
  };
  const std::size_t props = mqtt::encoded_properties_size(msg.props, mqtt::PropertyContext::publish);
  if (msg.qos > 2 || !valid_topic_name(msg.topic) ||
      msg.topic.size() + msg.payload.size() + props + 4 > mqtt::kMaxVarint) {
    return fail(Errc::invalid_argument);
  }
  if (state_ == State::stopped || state_ == State::closing) return fail(Errc::not_connected);
  // enqueue takes its arguments only when it accepts them, so the handler is still ours on failure.
  if (auto ec = session_.enqueue(std::move(msg), std::move(handler)); ec) return fail(ec);
  if (state_ == State::connected) send_sendable();
}

void Client::async_subscribe(std::vector<mqtt::TopicSubscription> subs, mqtt::Properties props,
                             SubscribeHandler handler) {
  asio::post(ex_, [self = shared_from_this(), subs = std::move(subs), props = std::move(props),
                   handler = std::move(handler)]() mutable {
    bool valid = !subs.empty();
    for (const auto& s : subs) {
      valid = valid && valid_topic_filter(s.filter) && s.options.qos <= 2 && s.options.retain_handling <= 2;
    }
    std::error_code ec;
    if (!valid) ec = Errc::invalid_argument;
    else if (self->state_ == State::stopped || self->state_ == State::closing) ec = Errc::not_connected;
    if (ec) {
      if (handler) handler(ec, SubscribeResult{});
      return;
    }
    auto packet = self->session_.add_subscribe(std::move(subs), std::move(props), std::move(handler));
    if (!packet) {
      // Every packet id awaits an ack: far too much is pending already.
      if (handler) handler(Errc::offline_buffer_full, SubscribeResult{});
      return;
    }
    if (self->state_ == State::connected) self->send(*packet);
  });
}

void Client::async_subscribe(std::string filter, std::uint8_t qos, SubscribeHandler handler) {
  mqtt::TopicSubscription s;
  s.filter = std::move(filter);
  s.options.qos = qos;
  async_subscribe(std::vector<mqtt::TopicSubscription>{std::move(s)}, {}, std::move(handler));
}

void Client::async_unsubscribe(std::vector<std::string> filters, mqtt::Properties props,
                               UnsubscribeHandler handler) {
  asio::post(ex_, [self = shared_from_this(), filters = std::move(filters), props = std::move(props),
                   handler = std::move(handler)]() mutable {
    bool valid = !filters.empty();
    for (const auto& f : filters) valid = valid && valid_topic_filter(f);
    std::error_code ec;
    if (!valid) ec = Errc::invalid_argument;
    else if (self->state_ == State::stopped || self->state_ == State::closing) ec = Errc::not_connected;
    if (ec) {
      if (handler) handler(ec, UnsubscribeResult{});
      return;
    }
    auto packet = self->session_.add_unsubscribe(std::move(filters), std::move(props), std::move(handler));
    if (!packet) {
      if (handler) handler(Errc::offline_buffer_full, UnsubscribeResult{});
      return;
    }
    if (self->state_ == State::connected) self->send(*packet);
  });
}

void Client::async_disconnect(DisconnectHandler handler, mqtt::ReasonCode reason, mqtt::Properties props) {
  asio::post(ex_, [self = shared_from_this(), handler = std::move(handler), reason,
                   props = std::move(props)]() mutable {
    self->do_disconnect(std::move(handler), reason, std::move(props));
  });
}

void Client::do_disconnect(DisconnectHandler handler, mqtt::ReasonCode reason, mqtt::Properties props) {
  reconnect_timer_.cancel();
  if (state_ == State::closing) {
    disconnect_handlers_.push_back(std::move(handler));
    return;
  }
  if (state_ != State::connected) {
    if (link_) retire(link_, false);
    link_.reset();
    connect_timer_.cancel();
    stop(Errc::cancelled);
    finish_first_connect(Errc::cancelled, ConnectResult{});  // a connect still under way ends here
    if (handler) handler({});
    return;
  }
  state_ = State::closing;
  disconnect_handlers_.push_back(std::move(handler));
  send(mqtt::Disconnect{reason, std::move(props)});
  auto link = link_;
  link->on_closed = [weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self || self->state_ != State::closing) return;
    self->stop(Errc::cancelled);
    auto handlers = std::move(self->disconnect_handlers_);
    self->disconnect_handlers_.clear();
    for (auto& h : handlers) {
      if (h) h({});
    }
  };
  link_.reset();
  keepalive_timer_.cancel();
  connect_timer_.cancel();
  retire(link, true);
}

// ---- connection lifecycle ----

void Client::start_attempt() {
  state_ = State::connecting;
  auto link = std::make_shared<Link>(factory_(ex_), ex_, options_.max_packet_size, options_.version);
  link_ = link;
  arm_connect_timer(link);
  link->transport->async_connect(options_.host, options_.port, [weak = weak_from_this(), link](std::error_code ec) {
    if (auto self = weak.lock()) self->on_transport_connected(link, ec);
  });
}

void Client::arm_connect_timer(const std::shared_ptr<Link>& link) {
  connect_timer_.expires_after(options_.connect_timeout);
  connect_timer_.async_wait([weak = weak_from_this(), link](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || link != self->link_) return;
    if (self->state_ == State::connecting || self->state_ == State::awaiting_connack) {
      self->link_down(Errc::connect_timeout, "no CONNACK within the connect timeout");
    }
  });
}

void Client::on_transport_connected(const std::shared_ptr<Link>& link, std::error_code ec) {
  if (link != link_) return;
  if (ec) return link_down(ec, link->transport->error_detail());
  state_ = State::awaiting_connack;
  last_received_ = Clock::now();
  start_read(link);
  send(make_connect());
}

mqtt::Connect Client::make_connect() const {
  mqtt::Connect c;
  c.version = options_.version;
  c.clean_start = options_.clean_start;
  c.keep_alive = options_.keep_alive;
  c.client_id = client_id_;
  c.will = options_.will;
  c.username = options_.username;
  c.password = options_.password;
  if (mqtt::is_v5(options_.version)) {
    c.props = options_.connect_props;
  } else if (c.will) {
    c.will->props = {};
  }
  return c;
}

void Client::finish_first_connect(std::error_code ec, const ConnectResult& result) {
  if (!first_connect_pending_) return;
  first_connect_pending_ = false;
  auto h = std::move(connect_handler_);
  connect_handler_ = nullptr;
  if (h) h(ec, result);
}

void Client::link_down(std::error_code ec, std::string detail, bool flush) {
  if (!link_) return;
  retire(link_, flush);
  link_.reset();
  connect_timer_.cancel();
  keepalive_timer_.cancel();
  ping_deadline_.reset();
  const bool was_connected = state_ == State::connected;
  const bool may_retry = options_.reconnect.enabled &&
                         (!first_connect_pending_ || options_.reconnect.retry_first_connect);
  const auto reason = reason_of(ec);
  const bool refused_for_good = !was_connected && reason && !retryable_refusal(*reason);
  DisconnectInfo info{ec, std::move(detail), may_retry && !refused_for_good};
  if (info.will_reconnect) {
    schedule_reconnect();
  } else {
    stop(ec);
  }
  if (was_connected && on_disconnected_) on_disconnected_(info);
  if (!info.will_reconnect) {
    ConnectResult failed;
    failed.reason = reason.value_or(mqtt::ReasonCode::success);
    failed.detail = info.detail;
    finish_first_connect(ec, failed);
  }
}

void Client::schedule_reconnect() {
  state_ = State::backing_off;
  reconnect_timer_.expires_after(backoff_.next());
  reconnect_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->state_ != State::backing_off) return;
    self->start_attempt();
  });
}

void Client::stop(std::error_code ec) {
  state_ = State::stopped;
  // Operations still pending can never complete now: they fail with what ended the connection.
  auto failed = session_.fail_all(ec);
  run(failed.publishes);
  run(failed.requests);
}

void Client::retire(const std::shared_ptr<Link>& link, bool flush_first) {
  link->retiring = true;
  const bool unwritten = link->write_in_flight || !link->out.empty();
  if (!flush_first || !unwritten) return close_link(link);
  link->grace_timer.expires_after(kCloseGrace);
  link->grace_timer.async_wait([weak = weak_from_this(), link](const boost::system::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->close_link(link);
  });
  if (!link->write_in_flight) start_write(link);
}

void Client::close_link(const std::shared_ptr<Link>& link) {
  if (link->closed) return;
  link->closed = true;
  link->grace_timer.cancel();
  link->transport->close();
  if (auto h = std::move(link->on_closed)) h();
}

// ---- keepalive ----

void Client::arm_keepalive() {
  if (keep_alive_.count() == 0 || !link_) return;
  const auto quiet_since = std::min(last_sent_, last_received_);
  auto next = quiet_since + keep_alive_;
  if (ping_deadline_) next = std::min(next, *ping_deadline_);
  keepalive_timer_.expires_at(next);
  keepalive_timer_.async_wait([weak = weak_from_this(), link = link_](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    self->on_keepalive_timer(link);
  });
}

void Client::on_keepalive_timer(const std::shared_ptr<Link>& link) {
  if (link != link_ || state_ != State::connected) return;
  const auto now = Clock::now();
  if (ping_deadline_ && now >= *ping_deadline_) {
    return abort_link(Errc::keepalive_timeout, mqtt::ReasonCode::keep_alive_timeout,
                      "no answer to PINGREQ within the ping timeout");
  }
  // Ping when we have sent nothing, or heard nothing, for a keepalive interval: the second case
  // finds a dead broker even while we publish steadily.
  if (!ping_deadline_ && now >= std::min(last_sent_, last_received_) + keep_alive_) {
    send(mqtt::Pingreq{});
    const auto timeout = options_.ping_timeout.count() > 0
                             ? options_.ping_timeout
                             : std::chrono::duration_cast<std::chrono::milliseconds>(keep_alive_);
    ping_deadline_ = now + timeout;
  }
  arm_keepalive();
}

}  // namespace hermod::client
