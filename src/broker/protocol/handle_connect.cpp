// CONNECT, DISCONNECT and the will: session set-up and tear-down for one connection. A CONNECT
// goes: admission checks (handle_connect) → hand-off to the client id's home worker →
// authentication there (handle_auth.cpp) → session set-up and CONNACK (accept_connect).
#include "base/log.hpp"
#include "broker/protocol/connection.hpp"
#include "broker/protocol/connection_auth.hpp"

namespace hermod::broker {

using namespace mqtt;

void Connection::handle_connect(Connect&& c) {
  set_version(c.version);
  const auto& limits = config().limits;
  if (limits.max_connections != 0 &&
      ctx().services.connections.load(std::memory_order_relaxed) > limits.max_connections) {
    return refuse_connect(is_v5(version()) ? ReasonCode::server_busy : ReasonCode::server_unavailable);
  }
  if (c.client_id.empty()) {
    // [MQTT-3.1.3-7] [MQTT-3.1.3-8]: an empty id needs clean session in 3.1.1; 3.1 needs an id.
    if (version() == ProtocolVersion::v3_1 || (!c.clean_start && !is_v5(version()))) {
      return refuse_connect(ReasonCode::client_identifier_not_valid);
    }
    c.client_id = ctx().sessions.generate_client_id();
    if (is_v5(version())) c.props.assigned_client_identifier = c.client_id;
  }
  const auto home = ctx().services.directory.home(c.client_id);
  if (home != ctx().worker) {
    // Finish in process(): the bytes after this CONNECT travel with the stream.
    parked_ = std::make_unique<Parked>(Parked{std::move(c), home, true});
    return;
  }
  if (!flap_check(c.client_id)) return;
  authenticate(std::move(c));
}

void Connection::hand_off(std::uint32_t home, Connect&& c, std::string leftover) {
  // The stream, with whatever transport state it holds, moves to the home worker; this object
  // stays behind, closed, and dies with its last handler.
  auto stream = detach_stream();
  state_ = State::handed_off;
  if (!stream) {
    logger("client")->warn("{}: cannot hand connection to worker {}", remote(), home);
    ctx().host.forget(*this);
    return;
  }
  const bool counted = counted_;
  counted_ = false;
  ctx().host.forget(*this);
  ctx().host.hand_off(home, HandOff{std::move(stream), std::move(c), std::move(leftover), listener_, counted,
                                    std::move(slot_)});
}

void Connection::refuse_connect(ReasonCode reason, std::string_view why, Properties props, bool summed) {
  Connack ack;
  ack.reason = reason;
  ack.props = std::move(props);
  send(ack);
  const auto level = summed ? spdlog::level::debug : spdlog::level::info;
  if (why.empty()) {
    logger("client")->log(level, "{} refused: {}", remote(), to_string(reason));
  } else {
    logger("client")->log(level, "{} refused: {} ({})", remote(), to_string(reason), why);
  }
  close(CloseReason::refused);
}

void Connection::accept_connect(Connect&& c) {
  const bool v5 = is_v5(version());
  const auto& limits = config().limits;
  const auth::Acl* acl = ctx().policy().acl.get();
  std::unique_ptr<auth::AclCache> identity;
  if (acl || c.username) {
    identity = std::make_unique<auth::AclCache>(auth_ ? std::optional<std::string>(auth_->user) : c.username,
                                                c.client_id);
  }
  if (c.will && acl && !identity->may_publish(*acl, c.will->topic)) {
    // The will is a PUBLISH the client asks for in advance: it needs write access, checked now
    // rather than when it is due, so the client learns of it.
    return refuse_connect(ReasonCode::not_authorized, "the ACL does not allow the will topic "" + c.will->topic + """);
  }
  if (c.will && !c.will->topic.empty() && c.will->topic.front() == '$' && !acl) {
    // A will is the client's PUBLISH: '$' topics are the broker's (section 4.7.2). MQTT 5 refuses
    // the CONNECT with 0x87; 3.1.1 has no code for it, so the client connects without its will.
    if (v5) return refuse_connect(ReasonCode::not_authorized, "will topic starts with '$'");
    logger("client")->info("{} {}: will to \"{}\" dropped: '$' topics are the broker's", remote(), c.client_id,
                           c.will->topic);
    c.will.reset();
  }
  if (v5 && c.will) {
    // [MQTT-3.2.2-12] [MQTT-3.2.2-13]: a will the broker could not publish as asked is refused.
    if (c.will->qos > limits.max_qos) return refuse_connect(ReasonCode::qos_not_supported);
    if (c.will->retain && !config().features.retain_available) {
      return refuse_connect(ReasonCode::retain_not_supported);
    }
  }
  // How long the session outlives the connection: MQTT 5 asks for it; a 3.1.1 clean session 0
  // means "until the client comes back".
  std::uint32_t expiry = v5 ? c.props.session_expiry_interval.value_or(0)
                            : (c.clean_start ? 0 : Session::kNeverExpires);
  if (limits.max_session_expiry != 0 && expiry > limits.max_session_expiry) expiry = limits.max_session_expiry;

  auto& sessions = ctx().sessions;
  auto& delivery = ctx().delivery;
  Session* s = sessions.find(c.client_id);
  if (s && s->connection()) {
    // [MQTT-3.1.4-2]: the existing connection of this client id is closed (its will published).
    // Every link a session is attached to is a Connection.
    static_cast<Connection*>(s->connection())->take_over();
    s = sessions.find(c.client_id);  // a non-persistent session died with its connection
  }
  bool session_present = false;
  if (s) delivery.session_reconnecting(*s);
  if (s && c.clean_start) {
    delivery.end_session(*s);
    s = nullptr;
  }
  if (s) {
    session_present = true;
    const bool was_persistent = s->persistent();
    s->set_expiry_interval(expiry);
    // Resumed with session expiry 0: its deliveries are no longer stored.
    if (was_persistent != s->persistent()) delivery.update_route_persistence(*s);
    delivery.session_online(*s);
  } else {
    s = &sessions.create(c.client_id, expiry);
  }
  session_ = s;
  s->attach(this);
  s->set_identity(std::move(identity));
  if (c.will) will_ = std::make_unique<Will>(std::move(*c.will));
  keep_alive_ = c.keep_alive;
  clean_start_ = c.clean_start;
  connected_since_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
  if (v5) {
    if (limits.max_keepalive != 0 && (keep_alive_ == 0 || keep_alive_ > limits.max_keepalive)) {
      keep_alive_ = limits.max_keepalive;
    }
    set_negotiated(std::min(limits.max_inflight, c.props.receive_maximum.value_or(65535)),
                   c.props.maximum_packet_size.value_or(kMaxPacketSize), c.props.topic_alias_maximum.value_or(0));
  } else {
    set_negotiated(limits.max_inflight, kMaxPacketSize, 0);
  }
  state_ = State::connected;
  last_received_ = context_.clock.now();  // keepalive counts from here
  ctx().flaps.connected(c.client_id, FlapRules::of(ctx().policy().limits()));
  count_connected(true);
  if (s->persistent()) {
    ctx().writer.store_session(*s);  // committed before the CONNACK leaves
  } else if (s->stored()) {
    ctx().writer.unstore_session(*s);  // resumed without expiry: it ends with this connection
  }

  Connack ack;
  // MQTT 3.1's CONNACK has no Session Present flag: its first byte is reserved (0).
  ack.session_present = session_present && version() != ProtocolVersion::v3_1;
  if (v5) ack.props = connack_properties(c, expiry);
  if (!send(ack)) {
    // Larger than the client's Maximum Packet Size [MQTT-3.1.2-24]: nothing can be said.
    logger("client")->info("{} {}: CONNACK exceeds the client's maximum packet size of {} bytes; closing", remote(),
                           c.client_id, client_max_packet_size());
    return close(CloseReason::refused);
  }
  logger("client")->info("{} connected as {} (MQTT {}, keepalive {}, {}{})", remote(), c.client_id,
                         to_string(version()), keep_alive_, session_present ? "session resumed" : "new session",
                         user_for_log(c));
  if (session_present) delivery.resume(*s);
}

const std::string* Connection::password_user() const {
  if (state_ != State::connected || user_from_certificate_ || !session_ || !session_->identity()) return nullptr;
  if (config().auth.password_file.empty()) return nullptr;
  const auto& user = session_->identity()->user();
  return user ? &*user : nullptr;
}

std::string Connection::user_for_log(const Connect& c) const {
  if (auth_) return fmt::format(", user \"{}\" by {}", auth_->user, auth_->method->name());
  if (user_from_certificate_) return fmt::format(", user \"{}\" by certificate", *c.username);
  if (c.username && !config().auth.password_file.empty()) return fmt::format(", user \"{}\"", *c.username);
  return {};
}

Properties Connection::connack_properties(const Connect& c, std::uint32_t granted_expiry) const {
  const auto& limits = config().limits;
  const auto& features = config().features;
  Properties p;
  if (c.props.authentication_method) {
    // Enhanced authentication: the method again [MQTT-4.12.0-5] and the method's final data,
    // which auth_succeeded() put in place of the client's.
    p.authentication_method = c.props.authentication_method;
    p.authentication_data = c.props.authentication_data;
  }
  if (c.props.assigned_client_identifier) p.assigned_client_identifier = c.props.assigned_client_identifier;
  if (granted_expiry != c.props.session_expiry_interval.value_or(0)) p.session_expiry_interval = granted_expiry;
  if (keep_alive_ != c.keep_alive) p.server_keep_alive = keep_alive_;
  if (limits.receive_maximum != 65535) p.receive_maximum = limits.receive_maximum;
  if (limits.max_packet_size < kMaxPacketSize) p.maximum_packet_size = limits.max_packet_size;
  if (limits.topic_alias_maximum > 0) p.topic_alias_maximum = limits.topic_alias_maximum;
  if (limits.max_qos < 2) p.maximum_qos = limits.max_qos;
  if (!features.retain_available) p.retain_available = 0;
  if (!features.wildcard_subscriptions) p.wildcard_subscription_available = 0;
  if (!features.subscription_identifiers) p.subscription_identifier_available = 0;
  if (!features.shared_subscriptions) p.shared_subscription_available = 0;
  return p;
}

void Connection::handle_disconnect(const Disconnect& d) {
  if (state_ == State::authenticating) return close(CloseReason::client_disconnect);  // no session yet
  if (d.props.session_expiry_interval) {
    // [MQTT-3.14.2-2]: a session that was to end with the connection cannot be extended now.
    if (session_->expiry_interval() == 0 && *d.props.session_expiry_interval != 0) {
      return fail({ReasonCode::protocol_error, "session expiry set on DISCONNECT after 0 on CONNECT"});
    }
    session_->set_expiry_interval(*d.props.session_expiry_interval);
  }
  // [MQTT-3.14.4-3]: a DISCONNECT discards the will; MQTT 5's 0x04 asks to publish it anyway.
  if (d.reason != ReasonCode::disconnect_with_will_message) will_.reset();
  close(d.reason == ReasonCode::disconnect_with_will_message ? CloseReason::connection_lost
                                                             : CloseReason::client_disconnect);
}

MessagePtr Connection::make_will_message() {
  auto m = make_message(will_->topic, will_->payload);
  m->qos = will_->qos;
  m->retain = will_->retain;
  m->origin_session = session_ ? session_->uid() : 0;
  if (will_->props.message_expiry_interval) {
    m->expires_at = context_.clock.now() + std::chrono::seconds(*will_->props.message_expiry_interval);
  }
  if (!will_->props.empty()) m->props = std::make_shared<Properties>(std::move(will_->props));
  will_.reset();
  return m;
}

}  // namespace hermod::broker
