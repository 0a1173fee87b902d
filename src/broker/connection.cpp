#include "broker/connection.hpp"

#include <span>

#include <boost/asio/buffer.hpp>

#include "broker/auth/connection_auth.hpp"
#include "broker/broker.hpp"
#include "broker/log.hpp"
#include "broker/worker.hpp"
#include "mqtt/encoder.hpp"

namespace hermod::broker {

namespace {
// Largest CONNECT accepted before the client is known: enough for every field at its maximum.
constexpr std::uint32_t kMaxConnectSize = 1 << 20;
// Reads per wake-up before yielding to other connections of the worker.
constexpr int kReadsPerWakeup = 4;
// A payload at least this large is referenced by the write queue instead of copied into it.
constexpr std::size_t kCopyPayloadBelow = 512;
// iovec entries per gathered write.
constexpr std::size_t kMaxIovecs = 64;
// Packets are appended to a chunk of the write queue until it holds this many bytes.
constexpr std::size_t kChunkBytes = 16384;
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
    case CloseReason::auth_failed: return "re-authentication failed";
    case CloseReason::server_shutdown: return "server shutting down";
    case CloseReason::store_failure: return "store write failed";
  }
  return "unknown";
}

Connection::Connection(Worker& worker, Socket socket, asio::ip::tcp::endpoint remote)
    : worker_(worker), socket_(std::move(socket)), remote_(std::move(remote)) {
  last_received_ = Clock::now();
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
}

Connection::~Connection() {
  drop_held_acks();
  if (counted_) worker_.broker().connection_count().fetch_sub(1, std::memory_order_relaxed);
}

void Connection::start() { wait_readable(); }

void Connection::resume_after_handoff(mqtt::Connect connect, std::string leftover) {
  handle_connect(std::move(connect));
  if (closed()) return;
  if (!leftover.empty()) process(leftover);
  if (!closed()) wait_readable();
}

void Connection::wait_readable() {
  if (read_waiting_ || closed()) return;
  read_waiting_ = true;
  socket_.async_wait(asio::ip::tcp::socket::wait_read,
                     [self = shared_from_this()](const boost::system::error_code& ec) {
                       self->read_waiting_ = false;
                       if (ec || self->closed()) return;
                       self->on_readable();
                     });
}

void Connection::on_readable() {
  read_available(kReadsPerWakeup, worker_.scratch(), worker_.scratch_size());
  if (!closed()) wait_readable();
}

void Connection::abort(mqtt::ReasonCode code) {
  out_.clear();
  out_head_ = out_offset_ = out_bytes_ = 0;
  flush_scheduled_ = false;  // taken off the worker's flush list by the caller
  close(CloseReason::store_failure, code);
}

void Connection::take_over() {
  // Packets the client sent before its new connection arrived still count: a DISCONNECT
  // already in the socket buffer means no will. Not into the worker's scratch buffer: the
  // connection taking over is being decoded from it right now.
  std::vector<char> buffer(16 * 1024);
  read_available(kReadsPerWakeup, buffer.data(), buffer.size());
  close(CloseReason::session_taken_over);
}

void Connection::read_available(int max_reads, char* buffer, std::size_t size) {
  for (int i = 0; i < max_reads; ++i) {
    boost::system::error_code ec;
    const std::size_t n = socket_.read_some(asio::buffer(buffer, size), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) break;
    if (ec) {
      close(CloseReason::connection_lost);
      return;
    }
    if (state_ == State::connected) last_received_ = Clock::now();
    worker_.stats().bytes_received.add(n);
    process(std::string_view(buffer, n));
    if (closed()) return;
    if (n < size) break;  // drained the socket
  }
}

void Connection::process(std::string_view data) {
  // Decode straight from the scratch buffer unless an incomplete packet is waiting in inbuf_.
  std::string joined;
  if (inbuf_) {
    joined = std::move(*inbuf_);
    inbuf_.reset();
    joined.append(data);
    data = joined;
  }
  const std::uint32_t limit = state_ == State::awaiting_connect || state_ == State::authenticating
                                  ? std::min(kMaxConnectSize, worker_.config().limits.max_packet_size)
                                  : worker_.config().limits.max_packet_size;
  std::size_t pos = 0;
  while (pos < data.size() && !closed()) {
    auto header = mqtt::parse_fixed_header(data.substr(pos), limit);
    if (!header) return fail(header.error());
    if (!*header || data.size() - pos < (*header)->total_length()) break;
    const auto& h = **header;
    const auto body = data.substr(pos + h.header_length, h.remaining_length);
    if (state_ == State::connected) {
      // Most traffic: PUBLISH without properties and bare acknowledgements, decoded in place.
      auto publish = mqtt::decode_publish_view(h, body, version_);
      if (!publish) return fail(publish.error());
      if (*publish) {
        pos += h.total_length();
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
    auto packet = mqtt::decode_packet(h, body, version_);
    if (!packet) {
      // An MQTT 5 CONNECT that fails to decode is answered with a CONNACK carrying the reason
      // [MQTT-3.1.4-2]; the protocol level sits after the 6-byte protocol name "\0\4MQTT".
      if (state_ == State::awaiting_connect && h.type() == mqtt::PacketType::connect && body.size() > 6 &&
          body.substr(0, 6) == std::string_view("\0\4MQTT", 6) && body[6] == 5 &&
          packet.error().code != mqtt::ReasonCode::unsupported_protocol_version) {
        version_ = mqtt::ProtocolVersion::v5;
        return refuse_connect(packet.error().code);
      }
      return fail(packet.error());
    }
    pos += h.total_length();
    on_packet(std::move(*packet));
    if (rare_ && rare_->pending_handoff) {
      auto handoff = std::move(rare_->pending_handoff);
      auto& [connect, home] = *handoff;
      return hand_off(home, std::move(connect), std::string(data.substr(pos)));
    }
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
  }
}

void Connection::fail(const hermod::Error& error) {
  if (state_ == State::awaiting_connect && error.code == mqtt::ReasonCode::unsupported_protocol_version) {
    // [MQTT-3.1.2-2]: answer an unknown protocol level with CONNACK 0x01, then close.
    return refuse_connect(error.code);
  }
  if (state_ == State::authenticating) {
    // No DISCONNECT before a successful CONNACK [MQTT-3.14.0-1]: the CONNECT fails with the code.
    return refuse_connect(error.code, error.what);
  }
  logger("client")->info("{} {}: {}", remote(), session_ ? session_->client_id() : std::string("(no CONNECT)"),
                         error.what);
  close(CloseReason::protocol_error, error.code);
}

void Connection::on_packet(mqtt::Packet&& packet) {
  using namespace mqtt;
  if (state_ == State::awaiting_connect && !std::holds_alternative<Connect>(packet)) {
    // [MQTT-3.1.0-1]: the first packet must be CONNECT.
    return fail({ReasonCode::protocol_error, "first packet is not CONNECT"});
  }
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
          // CONNACK, SUBACK, UNSUBACK, PINGRESP only travel from server to client.
          fail({ReasonCode::protocol_error, "packet a client may not send"});
        }
      },
      std::move(packet));
}

std::optional<CloseReason> Connection::timed_out(Clock::time_point now) const {
  if (state_ == State::awaiting_connect || state_ == State::authenticating) {
    // The connect timeout covers an enhanced authentication exchange too.
    if (now - last_received_ > std::chrono::seconds(worker_.config().limits.connect_timeout)) {
      return CloseReason::connect_timeout;
    }
    return std::nullopt;
  }
  // [MQTT-3.1.2-24]: one and a half times the keep alive without a packet closes the connection.
  if (state_ == State::connected && keep_alive_ > 0 &&
      now - last_received_ > std::chrono::milliseconds(keep_alive_ * 1500)) {
    return CloseReason::keepalive_timeout;
  }
  return std::nullopt;
}

namespace {
mqtt::ReasonCode disconnect_code(CloseReason reason) {
  switch (reason) {
    case CloseReason::keepalive_timeout: return mqtt::ReasonCode::keep_alive_timeout;
    case CloseReason::session_taken_over: return mqtt::ReasonCode::session_taken_over;
    case CloseReason::server_shutdown: return mqtt::ReasonCode::server_shutting_down;
    default: return mqtt::ReasonCode::protocol_error;
  }
}
}  // namespace

void Connection::close(CloseReason reason, mqtt::ReasonCode code) {
  if (closed()) return;
  auto self = shared_from_this();  // the registry may hold the last reference
  const bool was_connected = state_ == State::connected;
  // MQTT 5: tell the client why before closing [MQTT-4.13.1-1].
  if (was_connected && mqtt::is_v5(version_) && reason != CloseReason::client_disconnect &&
      reason != CloseReason::connection_lost) {
    send(mqtt::Disconnect{code == mqtt::ReasonCode::success ? disconnect_code(reason) : code, {}});
  }
  state_ = State::closed;
  // Best effort: a CONNACK refusal, a DISCONNECT or the last acknowledgements still go out,
  // once what they acknowledge is committed.
  if (out_bytes_ > 0 && !write_waiting_ && reason != CloseReason::connection_lost && worker_.commit_now()) {
    write_queued(true);
  }
  boost::system::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  out_.clear();
  out_bytes_ = 0;
  drop_held_acks();

  const bool will = reason != CloseReason::client_disconnect && reason != CloseReason::server_shutdown &&
                    reason != CloseReason::refused;
  if (was_connected) {
    worker_.stats().clients_connected.sub();
    logger("client")->info("{} {} disconnected: {}", remote(), session_ ? session_->client_id() : "", to_string(reason));
  } else if (reason != CloseReason::refused) {
    logger("client")->debug("{} closed before CONNECT: {}", remote(), to_string(reason));
  }
  if (will && will_) {
    const std::uint32_t delay = will_->props.will_delay_interval.value_or(0);
    if (delay > 0 && session_ && session_->persistent()) {
      // MQTT 5 will delay: published later unless the client comes back first [MQTT-3.1.3-9].
      session_->pending_will() = std::make_unique<Session::PendingWill>(
          Session::PendingWill{make_will_message(), Clock::now() + std::chrono::seconds(delay)});
    } else {
      worker_.publish(make_will_message());
    }
  }
  will_.reset();
  if (session_) {
    Session* s = session_;
    session_ = nullptr;
    s->detach();
    if (s->persistent()) {
      worker_.session_offline(*s);
    } else {
      worker_.destroy_session(*s);
    }
  }
  worker_.remove_connection(this);
}

std::string& Connection::tail_chunk() {
  if (out_.size() == out_head_ || out_.back().payload_of || out_.back().bytes.size() > kChunkBytes ||
      (out_.size() - 1 == out_head_ && out_offset_ > 0)) {
    out_.push_back(OutChunk{});
    // A second chunk in one turn means a busy connection: give it its full size at once rather
    // than growing it by doubling.
    if (out_.size() > 1) out_.back().bytes.reserve(kChunkBytes + 1024);
  }
  return out_.back().bytes;
}

void Connection::send(const mqtt::Packet& packet) {
  if (closed()) return;
  std::string& buf = tail_chunk();
  const auto before = buf.size();
  mqtt::encode(packet, version_, buf);
  out_bytes_ += buf.size() - before;
  schedule_flush();
}

bool Connection::send_publish(const OutboundMessage& out, mqtt::PacketId packet_id, bool dup) {
  if (closed()) return false;
  const Message& m = *out.message;
  if (out.qos == 0 && out_bytes_ > worker_.config().limits.max_write_buffer) return false;
  const bool expires = m.expires_at != Clock::time_point::max();
  const auto now = expires ? Clock::now() : Clock::time_point{};  // no clock read per recipient
  if (expires && m.expired(now)) return false;  // MQTT 5 message expiry [MQTT-3.3.2-5]

  const mqtt::Properties* props = m.props.get();
  std::optional<mqtt::Properties> local;  // MQTT 5 fields that differ per recipient, when any do
  std::string_view topic = m.topic();
  std::uint16_t alias = 0;
  bool send_topic = true;
  if (mqtt::is_v5(version_)) {
    if (client_topic_alias_max_ > 0) alias = outbound_alias(m.topic(), send_topic);
    if (expires || !out.subscription_ids().empty() || alias != 0) {
      local.emplace(props ? *props : mqtt::Properties{});
      if (expires) {
        // The interval forwarded is what is left of it [MQTT-3.3.2-6], rounded up.
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(m.expires_at - now).count();
        local->message_expiry_interval = static_cast<std::uint32_t>((left + 999) / 1000);
      }
      local->subscription_identifiers = out.subscription_ids();
      if (alias != 0) local->topic_alias = alias;
      if (!send_topic) topic = {};
      props = &*local;
    }
  }
  mqtt::PublishHeader h{topic, m.payload().size(), out.qos, out.retain, dup, packet_id, props};
  if (packet_id == 0 && props == nullptr) {
    // Nothing in this QoS 0 header differs per recipient (a topic alias, subscription ids or a
    // remaining expiry would have set `props` above): encode it once per message.
    auto& cache = worker_.publish_header_cache();
    if (cache.message.get() != &m || cache.retain != out.retain || cache.version != version_) {
      cache.message = out.message;
      cache.retain = out.retain;
      cache.version = version_;
      cache.bytes.clear();
      mqtt::encode_publish_header(h, version_, cache.bytes);
    }
    if (cache.bytes.size() + m.payload().size() > client_max_packet_size_) return false;
    tail_chunk().append(cache.bytes);
    append_payload(cache.bytes.size(), out);
    return true;
  }
  if (mqtt::publish_size(h, version_) > client_max_packet_size_) {
    // Larger than the client accepts: discarded as if delivered [MQTT-3.1.2-25]. A topic alias
    // first used here stays unused; it is only ever announced together with its topic.
    if (alias != 0 && send_topic) {
      if (auto it = aliases().outbound.find(m.topic()); it != aliases().outbound.end()) aliases().outbound.erase(it);
    }
    return false;
  }
  std::string& buf = tail_chunk();
  const auto before = buf.size();
  mqtt::encode_publish_header(h, version_, buf);
  append_payload(buf.size() - before, out);
  return true;
}

void Connection::append_payload(std::size_t header_size, const OutboundMessage& out) {
  // The header was just appended to the tail chunk; the payload follows it there or, when
  // large, is written from the message itself.
  const std::string_view payload = out.message->payload();
  if (payload.size() < kCopyPayloadBelow) {
    out_.back().bytes.append(payload);
  } else {
    out_.back().payload_of = out.message;
  }
  out_bytes_ += header_size + payload.size();
  worker_.stats().messages_sent.add();
  schedule_flush();
}

std::uint16_t Connection::outbound_alias(std::string_view topic, bool& send_topic) {
  auto& outbound = aliases().outbound;
  auto it = outbound.find(topic);
  if (it != outbound.end()) {
    send_topic = false;
    return it->second;
  }
  // First come, first aliased, until the client's maximum is reached; later topics go in full.
  if (outbound.size() >= client_topic_alias_max_) return 0;
  const auto alias = static_cast<std::uint16_t>(outbound.size() + 1);
  outbound.emplace(std::string(topic), alias);
  send_topic = true;
  return alias;
}

void Connection::schedule_flush() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  worker_.schedule_flush(shared_from_this());
}

void Connection::flush() {
  flush_scheduled_ = false;
  if (closed() || write_waiting_ || out_bytes_ == 0) return;
  write_queued(false);
}

std::string Connection::remote() const {
  return remote_.address().to_string() + ":" + std::to_string(remote_.port());
}

void Connection::release_idle_buffers() {
  if (out_bytes_ == 0 && out_.capacity() != 0 && !write_waiting_) {
    std::vector<OutChunk>().swap(out_);
    out_head_ = 0;
    out_offset_ = 0;
  }
  if (session_) session_->release_idle_window();
  if (rare_) {
    if (rare_->held_acks && rare_->held_acks->empty()) rare_->held_acks.reset();
    if (rare_->empty()) rare_.reset();
  }
}

void Connection::write_queued(bool closing) {
  while (out_head_ < out_.size()) {
    std::array<asio::const_buffer, kMaxIovecs> bufs;
    std::size_t n = 0;
    std::size_t skip = out_offset_;
    for (std::size_t i = out_head_; i < out_.size() && n + 2 <= kMaxIovecs; ++i) {
      const auto& c = out_[i];
      std::string_view a = c.bytes;
      std::string_view b = c.payload_of ? std::string_view(c.payload_of->payload()) : std::string_view();
      // Skip what an earlier partial write already sent.
      const auto sa = std::min(skip, a.size());
      a.remove_prefix(sa);
      skip -= sa;
      const auto sb = std::min(skip, b.size());
      b.remove_prefix(sb);
      skip -= sb;
      if (!a.empty()) bufs[n++] = asio::buffer(a.data(), a.size());
      if (!b.empty()) bufs[n++] = asio::buffer(b.data(), b.size());
    }
    boost::system::error_code ec;
    std::size_t written = socket_.write_some(std::span(bufs.data(), n), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      if (closing) return;
      write_waiting_ = true;
      socket_.async_wait(asio::ip::tcp::socket::wait_write,
                         [self = shared_from_this()](const boost::system::error_code& e) {
                           self->write_waiting_ = false;
                           if (e || self->closed()) return;
                           self->on_writable();
                         });
      return;
    }
    if (ec) {
      if (!closing) close(CloseReason::connection_lost);
      return;
    }
    worker_.stats().bytes_sent.add(written);
    out_bytes_ -= written;
    // Drop the chunks the write completed.
    while (out_head_ < out_.size()) {
      const auto& c = out_[out_head_];
      const std::size_t size = c.bytes.size() + (c.payload_of ? c.payload_of->payload().size() : 0);
      const std::size_t left = size - out_offset_;
      if (written < left) {
        out_offset_ += written;
        break;
      }
      written -= left;
      out_offset_ = 0;
      ++out_head_;
    }
  }
  // Everything written: release the chunks (and with them the payload references) but the
  // first one's buffer, which the next turn writes into: a busy connection would otherwise grow a
  // fresh string by doubling, and free it, every turn. release_idle_buffers() gives it back once
  // the connection is quiet.
  OutChunk keep = std::move(out_.front());
  keep.bytes.clear();
  keep.payload_of.reset();
  out_.clear();
  if (out_.capacity() > 16) std::vector<OutChunk>().swap(out_);
  out_.push_back(std::move(keep));
  out_head_ = 0;
  out_offset_ = 0;
}

void Connection::on_writable() {
  // Not at once: bytes queued earlier in this turn may wait for the turn's store commit.
  schedule_flush();
}

}  // namespace hermod::broker
