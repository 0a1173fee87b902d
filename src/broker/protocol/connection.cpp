#include "broker/protocol/connection.hpp"

#include <exception>

#include "base/log.hpp"
#include "broker/protocol/connection_auth.hpp"
#include "mqtt/encoder.hpp"

namespace hermod::broker {

namespace {
// Largest CONNECT accepted before the client is known: enough for every field at its maximum.
constexpr std::uint32_t kMaxConnectSize = 1 << 20;
// Reads per wake-up of a connection being taken over, before it is closed.
constexpr int kTakeOverReads = 4;

mqtt::ReasonCode disconnect_code(CloseReason reason) {
  switch (reason) {
    case CloseReason::keepalive_timeout: return mqtt::ReasonCode::keep_alive_timeout;
    case CloseReason::session_taken_over: return mqtt::ReasonCode::session_taken_over;
    case CloseReason::server_shutdown: return mqtt::ReasonCode::server_shutting_down;
    case CloseReason::internal_error: return mqtt::ReasonCode::implementation_specific_error;
    case CloseReason::user_removed: return mqtt::ReasonCode::not_authorized;
    case CloseReason::administrative: return mqtt::ReasonCode::administrative_action;
    default: return mqtt::ReasonCode::protocol_error;
  }
}
}  // namespace

const char* to_string(CloseReason r) {
  switch (r) {
    case CloseReason::client_disconnect: return "client disconnected";
    case CloseReason::connection_lost: return "connection lost";
    case CloseReason::protocol_error: return "protocol error";
    case CloseReason::keepalive_timeout: return "keepalive timeout";
    case CloseReason::connect_timeout: return "no CONNECT in time";
    case CloseReason::session_taken_over: return "session taken over";
    case CloseReason::refused: return "connection refused";
    case CloseReason::user_removed: return "user removed from the password file";
    case CloseReason::auth_failed: return "re-authentication failed";
    case CloseReason::address_refused: return "refused by an address limit";
    case CloseReason::server_shutdown: return "server shutting down";
    case CloseReason::store_failure: return "store write failed";
    case CloseReason::internal_error: return "internal error";
    case CloseReason::administrative: return "disconnected by an admin";
  }
  return "unknown";
}

Connection::Connection(Context& context, std::unique_ptr<net::Stream> stream, const ListenerConfig* listener)
    : Link(context, std::move(stream)), listener_(listener) {
  last_received_ = context.clock.now();
}

Connection::~Connection() {
  if (inbuf_) context_.memory.use().partial_packets -= inbuf_->size();
  if (counted_) ctx().services.connections.fetch_sub(1, std::memory_order_relaxed);
}

void Connection::on_bytes(std::string_view data) {
  if (state_ == State::connected) last_received_ = context_.clock.now();
  // A PROXY listener's first bytes come after the header: now the client's address is known.
  if (slot_.holds_listener() && !slot_.holds_address() && state_ == State::awaiting_connect &&
      !admit_proxied_client()) {
    return;
  }
  guarded([&] { process(data); });
}

void Connection::resume_after_handoff(mqtt::Connect connect, std::string leftover) {
  guarded([&] {
    handle_connect(std::move(connect));
    if (closed()) return;
    if (!leftover.empty()) process(leftover);
    if (!closed()) start_reading();
  });
}

void Connection::abort(mqtt::ReasonCode code) {
  discard_output();
  close(CloseReason::store_failure, code);
}

void Connection::take_over() {
  // Packets the client sent before its new connection arrived still count: a DISCONNECT
  // already in the socket buffer means no will. Not into the worker's scratch buffer: the
  // connection taking over is being decoded from it right now.
  std::vector<char> buffer(16 * 1024);
  read_available(kTakeOverReads, buffer.data(), buffer.size());
  close(CloseReason::session_taken_over);
}

void Connection::process(std::string_view data) {
  // Decode straight from the scratch buffer unless an incomplete packet is waiting in inbuf_.
  std::string joined;
  if (inbuf_) {
    context_.memory.use().partial_packets -= inbuf_->size();  // the memory budget's count
    joined = std::move(*inbuf_);
    inbuf_.reset();
    joined.append(data);
    data = joined;
  }
  const bool before_connack = state_ != State::connected;
  const std::uint32_t limit = before_connack ? std::min(kMaxConnectSize, config().limits.max_packet_size)
                                             : config().limits.max_packet_size;
  std::size_t pos = 0;
  // Stops early while a CONNECT waits for its password check or leaves for its home worker, and
  // while the client is over its rate: the rest waits in inbuf_ (resume_after_pause).
  while (pos < data.size() && !closed() && state_ != State::checking && !(parked_ && parked_->hand_off) &&
         !reading_paused(pause_rate)) {
    if (state_ == State::awaiting_connect && (static_cast<std::uint8_t>(data[pos]) >> 4) != 1) {
      // [MQTT-3.1.0-1]: known from the first byte; not worth waiting for the rest of it.
      return fail({mqtt::ReasonCode::protocol_error, "first packet is not CONNECT"});
    }
    auto header = mqtt::parse_fixed_header(data.substr(pos), limit);
    if (!header) return fail(header.error());
    if (!*header || data.size() - pos < (*header)->total_length()) break;
    const auto& h = **header;
    const auto body = data.substr(pos + h.header_length, h.remaining_length);
    if (state_ == State::connected) {
      // Most traffic: PUBLISH without properties and bare acknowledgements, decoded in place.
      auto publish = mqtt::decode_publish_view(h, body, version());
      if (!publish) return fail(publish.error());
      if (*publish) {
        pos += h.total_length();
        mark_publishing();
        publish_received(**publish, nullptr);
        continue;
      }
      auto ack = mqtt::decode_short_ack(h, body);
      if (!ack) return fail(ack.error());
      if (*ack) {
        pos += h.total_length();
        handle_ack(h.type(), **ack, mqtt::ReasonCode::success);
        continue;
      }
    }
    // A type only servers send is refused by its type, before its body is parsed (0x82).
    auto packet = mqtt::decode_packet(h, body, version(), mqtt::Sender::client);
    if (!packet) {
      // An MQTT 5 CONNECT that fails to decode is answered with a CONNACK carrying the reason
      // [MQTT-3.1.4-2]; the protocol level sits after the 6-byte protocol name "\0\4MQTT".
      if (state_ == State::awaiting_connect && h.type() == mqtt::PacketType::connect && body.size() > 6 &&
          body.substr(0, 6) == std::string_view("\0\4MQTT", 6) && body[6] == 5 &&
          packet.error().code != mqtt::ReasonCode::unsupported_protocol_version) {
        set_version(mqtt::ProtocolVersion::v5);
        return refuse_connect(packet.error().code);
      }
      return fail(packet.error());
    }
    pos += h.total_length();
    on_packet(std::move(*packet));
  }
  if (parked_ && parked_->hand_off) {
    auto parked = std::move(parked_);
    return hand_off(parked->home, std::move(parked->connect), std::string(data.substr(pos)));
  }
  if (!closed() && pos < data.size()) {
    if (joined.empty()) {
      inbuf_ = std::make_unique<std::string>(data.substr(pos));
    } else {
      // Keep the joined buffer instead of copying its tail: a large packet arriving in many
      // reads is then appended to, not copied again on every read.
      joined.erase(0, pos);
      inbuf_ = std::make_unique<std::string>(std::move(joined));
    }
    context_.memory.use().partial_packets += inbuf_->size();
  }
}

void Connection::fail(const hermod::Error& error) {
  if (state_ == State::awaiting_connect && error.code == mqtt::ReasonCode::unsupported_protocol_version) {
    // [MQTT-3.1.2-2]: answer an unknown protocol level with CONNACK 0x01, then close.
    return refuse_connect(error.code);
  }
  if (state_ == State::authenticating || state_ == State::checking) {
    // No DISCONNECT before a successful CONNACK [MQTT-3.14.0-1]: the CONNECT fails with the code.
    return refuse_connect(error.code, error.what);
  }
  logger("client")->info("{} {}: {}", remote(), session_ ? session_->client_id() : std::string("(no CONNECT)"),
                         error.what);
  close(CloseReason::protocol_error, error.code);
}

void Connection::on_packet(mqtt::Packet&& packet) {
  using namespace mqtt;
  // A first packet that is not CONNECT never gets here: process() refuses it by its first byte.
  if (state_ == State::authenticating && !std::holds_alternative<Auth>(packet) &&
      !std::holds_alternative<Disconnect>(packet)) {
    // [MQTT-3.1.2-30]: until CONNACK, a client authenticating with a method sends only AUTH or DISCONNECT.
    return fail({ReasonCode::protocol_error, "packet other than AUTH during enhanced authentication"});
  }
  std::visit(
      [this](auto&& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, Connect>) {
          if (state_ != State::awaiting_connect) {
            return fail({ReasonCode::protocol_error, "second CONNECT"});  // [MQTT-3.1.0-2]
          }
          handle_connect(std::move(p));
        } else if constexpr (std::is_same_v<T, Publish>) {
          mark_publishing();
          handle_publish(std::move(p));
        } else if constexpr (std::is_same_v<T, Puback> || std::is_same_v<T, Pubrec> || std::is_same_v<T, Pubrel> ||
                             std::is_same_v<T, Pubcomp>) {
          handle_ack(T::kType, p.packet_id, p.reason);
        } else if constexpr (std::is_same_v<T, Subscribe>) {
          handle_subscribe(std::move(p));
        } else if constexpr (std::is_same_v<T, Unsubscribe>) {
          handle_unsubscribe(std::move(p));
        } else if constexpr (std::is_same_v<T, Pingreq>) {
          send(Pingresp{});
        } else if constexpr (std::is_same_v<T, Disconnect>) {
          handle_disconnect(p);
        } else if constexpr (std::is_same_v<T, Auth>) {
          handle_auth(std::move(p));
        } else {
          // CONNACK, SUBACK, UNSUBACK, PINGRESP: decode_packet(Sender::client) refuses them
          // by type, so this branch only completes the visit.
          fail({ReasonCode::protocol_error, "packet a client may not send"});
        }
      },
      std::move(packet));
}

std::optional<CloseReason> Connection::timed_out(Clock::time_point now) const {
  // A login delay is a bounded wait of the broker's choosing, not the client being slow.
  if (login_hold_) return std::nullopt;
  if (state_ == State::awaiting_connect || state_ == State::checking || state_ == State::authenticating) {
    // The connect timeout covers a password check and an enhanced authentication exchange too.
    if (now - last_received_ > std::chrono::seconds(config().limits.connect_timeout)) {
      return CloseReason::connect_timeout;
    }
    return std::nullopt;
  }
  // [MQTT-3.1.2-24]: one and a half times the keep alive without a packet closes the connection.
  // Not while the broker does not read it (memory budget): its packets wait in the socket.
  if (state_ == State::connected && keep_alive_ > 0 && !paused_for_budget() &&
      now - last_received_ > std::chrono::milliseconds(keep_alive_ * 1500)) {
    return CloseReason::keepalive_timeout;
  }
  return std::nullopt;
}

void Connection::close(CloseReason reason, mqtt::ReasonCode code) {
  if (closed()) return;
  auto keep = self();  // the registry may hold the last reference
  const bool was_connected = state_ == State::connected;
  // MQTT 5: tell the client why before closing [MQTT-4.13.1-1].
  bool told = reason == CloseReason::refused;  // a CONNACK with the reason is queued
  if (was_connected && mqtt::is_v5(version()) && reason != CloseReason::client_disconnect &&
      reason != CloseReason::connection_lost) {
    told = send(mqtt::Disconnect{code == mqtt::ReasonCode::success ? disconnect_code(reason) : code, {}});
  }
  state_ = State::closed;
  // A closed connection no longer counts against max_connections, even while it lingers to let
  // its client read why (a refused client retrying in a loop would otherwise keep the last slot).
  if (counted_) {
    counted_ = false;
    ctx().services.connections.fetch_sub(1, std::memory_order_relaxed);
  }
  slot_.release();  // the same for the listener's and the address's counts
  // What says why is read by the client before the connection ends (see Link::close_link);
  // at shutdown there is no time for that.
  close_link(reason != CloseReason::connection_lost, told && reason != CloseReason::server_shutdown);

  const bool will = reason != CloseReason::client_disconnect && reason != CloseReason::server_shutdown &&
                    reason != CloseReason::refused;
  if (was_connected) {
    count_connected(false);
    logger("client")->info("{} {} disconnected: {}", remote(), session_ ? session_->client_id() : "", to_string(reason));
  } else if (reason != CloseReason::refused) {
    logger("client")->debug("{} closed before CONNECT: {}", remote(), to_string(reason));
  }
  auto& delivery = ctx().delivery;
  if (will && will_ && session_ && ctx().policy().acl && publish_refusal(will_->topic)) {
    // The ACL was checked at CONNECT; a reload since may have taken the write grant away.
    logger("client")->info("{} {}: will to \"{}\" not published: the ACL does not allow it any more", remote(),
                           session_->client_id(), will_->topic);
    will_.reset();
  }
  if (will && will_) {
    const std::uint32_t delay = will_->props.will_delay_interval.value_or(0);
    if (delay > 0 && session_ && session_->persistent()) {
      // MQTT 5 will delay: published later unless the client comes back first [MQTT-3.1.3-9].
      const auto due = context_.clock.now() + std::chrono::seconds(delay);
      session_->pending_will() = std::make_unique<Session::PendingWill>(Session::PendingWill{make_will_message(), due});
      ctx().host.wake_at(due);  // published at its deadline, not at the next sweep
    } else {
      delivery.publish(make_will_message());
    }
  }
  will_.reset();
  parked_.reset();
  if (session_) {
    Session* s = session_;
    session_ = nullptr;
    s->detach();
    if (s->persistent()) {
      delivery.session_offline(*s);
    } else {
      delivery.end_session(*s);
    }
  }
  ctx().host.forget(*this);
}

void Connection::resume_after_pause(Pause why) {
  resume_reading(why);
  // The packets that arrived with the one that paused, first; they may pause it again.
  guarded([&] { process({}); });
}

void Connection::release_idle_buffers() {
  Link::release_idle_buffers();
  if (session_) session_->release_idle_window();
}

void Connection::count_connected(bool up) {
  auto& stats = context_.stats;
  Counter* listener = nullptr;
  if (ListenerStats* l = listener_ ? stats.listener(listener_->index) : nullptr) {
    listener = &l->connected[ListenerStats::version_index(static_cast<std::uint8_t>(version()))];
  }
  if (up) {
    stats.clients_connected.add();
    if (listener) listener->add();
  } else {
    stats.clients_connected.sub();
    if (listener) listener->sub();
  }
}

}  // namespace hermod::broker
