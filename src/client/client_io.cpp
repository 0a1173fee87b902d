// Client: bytes in and out, and what each received packet does. Lifecycle is in client.cpp.
#include <boost/asio/buffer.hpp>

#include "client/client.hpp"
#include "client/client_link.hpp"
#include "mqtt/encoder.hpp"

namespace hermod::client {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using mqtt::ReasonCode;

// ---- writing ----

void Client::send(const mqtt::Packet& packet) {
  if (!link_) return;
  if (on_trace_) on_trace_(true, packet);
  mqtt::encode(packet, options_.version, link_->out);
  last_sent_ = Clock::now();
  // Packets queued while a write is in flight go out together in the next one.
  if (!link_->write_in_flight) start_write(link_);
}

void Client::start_write(const std::shared_ptr<Link>& link) {
  if (link->out.empty() || link->closed) return;
  link->writing.swap(link->out);
  link->out.clear();
  link->write_in_flight = true;
  link->transport->async_write(asio::buffer(link->writing),
                               [weak = weak_from_this(), link](std::error_code ec, std::size_t) {
                                 if (auto self = weak.lock()) self->on_write(link, ec);
                               });
}

void Client::on_write(const std::shared_ptr<Link>& link, std::error_code ec) {
  link->write_in_flight = false;
  link->writing.clear();
  if (link->retiring) {
    // A closing link only drains: once its last bytes are out (or cannot be), close it.
    if (ec || link->out.empty()) return close_link(link);
    return start_write(link);
  }
  if (link != link_) return;
  if (ec) return link_down(Errc::connection_lost, "write failed: " + ec.message());
  start_write(link);
}

// ---- reading ----

void Client::start_read(const std::shared_ptr<Link>& link) {
  link->transport->async_read_some(asio::buffer(link->read_buffer),
                                   [weak = weak_from_this(), link](std::error_code ec, std::size_t n) {
                                     if (auto self = weak.lock()) self->on_read(link, ec, n);
                                   });
}

void Client::on_read(const std::shared_ptr<Link>& link, std::error_code ec, std::size_t n) {
  if (link != link_) return;
  if (ec) {
    const bool connecting = state_ == State::awaiting_connack;
    const std::string transport_detail = link->transport->error_detail();
    return link_down(Errc::connection_lost, (connecting ? "closed before CONNACK: " : "") + ec.message() +
                                                (transport_detail.empty() ? "" : " (" + transport_detail + ")"));
  }
  last_received_ = Clock::now();
  ping_deadline_.reset();  // any packet proves the broker alive
  link->decoder.feed(std::string_view(link->read_buffer.data(), n));
  for (;;) {
    auto next = link->decoder.next();
    if (!next) {
      const Errc errc = next.error().code == ReasonCode::malformed_packet ? Errc::malformed_packet
                                                                          : Errc::protocol_error;
      return abort_link(errc, next.error().code, next.error().what);
    }
    if (!*next) break;
    handle_packet(std::move(**next));
    if (link != link_) return;  // the packet ended this connection
  }
  start_read(link);
}

// Ends the current connection because of something the broker did: tell an MQTT 5 broker why
// with DISCONNECT (4.13), then let the usual reconnect logic decide what comes next.
void Client::abort_link(Errc errc, ReasonCode reason, std::string_view detail) {
  if (!link_) return;
  const bool tell = mqtt::is_v5(options_.version) && state_ == State::connected;
  if (tell) send(mqtt::Disconnect{reason, {}});
  link_down(errc, std::string(detail), tell);
}

// ---- dispatch ----

void Client::handle_packet(mqtt::Packet&& packet) {
  if (on_trace_) on_trace_(false, packet);
  if (state_ == State::awaiting_connack && !std::holds_alternative<mqtt::Connack>(packet)) {
    return abort_link(Errc::protocol_error, ReasonCode::protocol_error, "first packet from broker is not CONNACK");
  }
  std::visit(
      [this](auto&& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, mqtt::Connack>) {
          handle_connack(p);
        } else if constexpr (std::is_same_v<T, mqtt::Publish>) {
          handle_publish(std::move(p));
        } else if constexpr (std::is_same_v<T, mqtt::Puback>) {
          auto done = session_.on_puback(p);
          send_sendable();
          run(done);
        } else if constexpr (std::is_same_v<T, mqtt::Pubrec>) {
          handle_pubrec(p);
        } else if constexpr (std::is_same_v<T, mqtt::Pubrel>) {
          handle_pubrel(p);
        } else if constexpr (std::is_same_v<T, mqtt::Pubcomp>) {
          auto done = session_.on_pubcomp(p);
          send_sendable();
          run(done);
        } else if constexpr (std::is_same_v<T, mqtt::Suback>) {
          auto done = session_.on_suback(p);
          run(done);
        } else if constexpr (std::is_same_v<T, mqtt::Unsuback>) {
          auto done = session_.on_unsuback(p);
          run(done);
        } else if constexpr (std::is_same_v<T, mqtt::Pingresp>) {
          // Liveness is recorded in on_read for every packet.
        } else if constexpr (std::is_same_v<T, mqtt::Disconnect>) {
          handle_disconnect(p);
        } else {
          // CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ and AUTH never come from a broker to us.
          abort_link(Errc::protocol_error, ReasonCode::protocol_error, "unexpected packet type from broker");
        }
      },
      std::move(packet));
}

void Client::handle_connack(const mqtt::Connack& c) {
  if (state_ != State::awaiting_connack) {
    return abort_link(Errc::protocol_error, ReasonCode::protocol_error, "second CONNACK");
  }
  connect_timer_.cancel();
  const ConnectResult result{c.session_present, c.reason, c.props};
  if (mqtt::is_failure(c.reason)) {
    auto detail = c.props.reason_string.value_or("");
    // A refused first connection completes async_connect with the refusal.
    return link_down(make_error_code(c.reason), std::move(detail));
  }
  state_ = State::connected;
  backoff_.reset();
  topic_aliases_.clear();
  if (c.props.assigned_client_identifier) client_id_ = *c.props.assigned_client_identifier;
  keep_alive_ = std::chrono::seconds(c.props.server_keep_alive.value_or(options_.keep_alive));
  session_.set_connection(options_.version, c.props.receive_maximum.value_or(65535),
                          c.props.maximum_packet_size.value_or(0));
  auto resume = session_.resume(c.session_present);
  for (const auto& p : resume.packets) send(p);
  send_sendable();
  arm_keepalive();
  run(resume.done);
  auto link = link_;
  finish_first_connect({}, result);
  if (link == link_ && on_connected_) on_connected_(result);
}

void Client::handle_publish(mqtt::Publish&& p) {
  if (p.props.topic_alias) {
    // Aliases exist only if we allowed them in CONNECT (topic_alias_maximum); honour them then.
    const auto alias = *p.props.topic_alias;
    if (!p.topic.empty()) {
      topic_aliases_[alias] = p.topic;
    } else if (auto it = topic_aliases_.find(alias); it != topic_aliases_.end()) {
      p.topic = it->second;
    } else {
      return abort_link(Errc::protocol_error, ReasonCode::topic_alias_invalid, "unknown topic alias");
    }
  }
  const auto id = p.packet_id;
  const auto qos = p.qos;
  // QoS 2: deliver on the first PUBLISH of a packet id, never again until PUBREL frees it.
  const bool deliver = qos < 2 || session_.receive_qos2(id);
  if (deliver && on_message_) {
    Message m{std::move(p.topic), std::move(p.payload), qos, p.retain, p.dup, id, std::move(p.props)};
    on_message_(m);
  }
  if (!link_) return;
  // Acknowledge after the handler ran: a QoS 1 message is acked once it has been processed.
  if (qos == 1) send(mqtt::Puback{id, ReasonCode::success, {}});
  if (qos == 2) send(mqtt::Pubrec{id, ReasonCode::success, {}});
}

void Client::handle_pubrec(const mqtt::Pubrec& r) {
  auto outcome = session_.on_pubrec(r);
  if (outcome.reply) {
    if (!mqtt::is_v5(options_.version)) outcome.reply->reason = ReasonCode::success;
    send(*outcome.reply);
  }
  if (outcome.done) {
    send_sendable();
    run(outcome.done);
  }
}

void Client::handle_pubrel(const mqtt::Pubrel& r) {
  const bool known = session_.release_qos2(r.packet_id);
  const bool v5 = mqtt::is_v5(options_.version);
  send(mqtt::Pubcomp{r.packet_id, known || !v5 ? ReasonCode::success : ReasonCode::packet_identifier_not_found, {}});
}

void Client::handle_disconnect(const mqtt::Disconnect& d) {
  link_down(make_error_code(d.reason), d.props.reason_string.value_or("the broker closed the connection"));
}

// ---- completions ----

void Client::send_sendable() {
  if (state_ != State::connected) return;
  auto s = session_.take_sendable();
  for (const auto& p : s.packets) send(p);
  run(s.done);
}

void Client::run(std::vector<PublishCompletion>& done) {
  for (auto& c : done) {
    if (c.handler) c.handler(c.ec, c.result);
  }
}

void Client::run(std::optional<PublishCompletion>& done) {
  if (done && done->handler) done->handler(done->ec, done->result);
}

void Client::run(std::optional<RequestCompletion>& done) {
  if (done && done->handler) done->handler(done->ec, done->result);
}

void Client::run(std::vector<RequestCompletion>& done) {
  for (auto& c : done) {
    if (c.handler) c.handler(c.ec, c.result);
  }
}

}  // namespace hermod::client
