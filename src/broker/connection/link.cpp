#include "broker/connection/link.hpp"

#include <array>

#include "mqtt/encoder.hpp"
#include "net/endpoint_text.hpp"

namespace hermod::broker {

namespace asio = boost::asio;

namespace {
// Reads per wake-up before yielding to other connections of the worker.
constexpr int kReadsPerWakeup = 4;
// A payload at least this large is referenced by the write queue instead of copied into it.
constexpr std::size_t kCopyPayloadBelow = 512;
// Buffers per gathered write.
constexpr std::size_t kMaxIovecs = 64;
// Packets are appended to a chunk of the write queue until it holds this many bytes.
constexpr std::size_t kChunkBytes = 16384;
}  // namespace

void open_gate(AckGate& gate) {
  if (--gate.pending == 0 && gate.publisher) gate.publisher->release_acks();
}

Link::Link(LinkContext& context, std::unique_ptr<net::Stream> stream)
    : context_(context), stream_(std::move(stream)) {
  stream_->set_events(this);
}

Link::~Link() {
  drop_held_acks();
  context_.memory.use().write_buffers -= out_bytes_;  // a hand-off leaves its queue behind
}

// ---------------------------------------------------------------------------------- reading

void Link::on_stream_ready(net::Side side) {
  // What runs from here may close this link; the worker keeps it until the turn ends.
  if (side == net::Side::reading) {
    read_waiting_ = false;
    if (lingering_) return drain_now();
    if (link_closed_) return;
    on_readable();
  } else {
    write_waiting_ = false;
    if (link_closed_) return;
    // Not at once: bytes queued earlier in this turn may wait for the turn's store commit.
    schedule_flush();
  }
}

void Link::wait_readable() {
  if (read_waiting_ || read_paused_ || link_closed_) return;
  read_waiting_ = true;
  stream_->async_wait(net::Side::reading, net::Want::read);
}

void Link::resume_reading(Pause why) {
  read_paused_ &= static_cast<std::uint8_t>(~why);
  wait_readable();
}

void Link::on_readable() {
  if (hold_for_budget()) return;
  read_available(kReadsPerWakeup, context_.scratch.data(), context_.scratch.size());
  if (!link_closed_) wait_readable();
}

bool Link::hold_for_budget() {
  // Two plain loads per wake-up while the broker is under its budget.
  auto& memory = context_.memory;
  if (!memory.over() || !publishing_ || (!read_full_ && !memory.far_over())) return false;
  // The readiness stays with the stream: resuming waits for it again and reads at once.
  pause_reading(pause_budget);
  context_.stats.memory_reads_paused.add();
  context_.turn.park_reader(shared_from_this());
  return true;
}

void Link::resume_reading_after_budget() {
  if (!reading_paused(pause_budget)) return;
  // Its keepalive counts from now (Connection::timed_out skipped it while paused).
  on_resumed();
  // Judged again by what it does next, not by the flood that paused it.
  publishing_ = false;
  read_full_ = false;
  resume_reading(pause_budget);
}

void Link::read_available(int max_reads, char* buffer, std::size_t size) {
  for (int i = 0; i < max_reads && !read_paused_; ++i) {
    const auto r = stream_->try_read(buffer, size);
    if (r.closed) return on_lost();
    if (r.bytes == 0) break;  // wait_readable() waits for more (a TLS stream will need its `want`)
    context_.stats.bytes_received.add(r.bytes);
    on_bytes(std::string_view(buffer, r.bytes));
    if (link_closed_) return;
    if (r.bytes < size) break;  // drained the stream
    read_full_ = true;          // more was waiting than one read takes: a heavy sender
  }
}

// ---------------------------------------------------------------------------------- closing

void Link::close_link(bool send_queued, bool linger) {
  if (link_closed_) return;
  link_closed_ = true;
  // Best effort: a CONNACK refusal, a DISCONNECT or the last acknowledgements still go out,
  // once what they acknowledge is committed.
  if (send_queued && out_bytes_ > 0 && !write_waiting_ && context_.turn.commit_now()) write_queued(true);
  const bool all_written = out_bytes_ == 0;
  out_.clear();
  unqueued(out_bytes_);
  drop_held_acks();
  if (linger && send_queued && all_written) {
    stream_->shutdown_write();
    lingering_ = true;
    context_.turn.linger(shared_from_this());
    return drain();
  }
  stream_->close();
}

void Link::drain() {
  if (read_waiting_ || !lingering_) return;
  read_waiting_ = true;
  stream_->async_wait(net::Side::reading, net::Want::read);
}

void Link::drain_now() {
  if (!lingering_) return;
  for (int i = 0; i < kReadsPerWakeup; ++i) {
    const auto r = stream_->try_read(context_.scratch.data(), context_.scratch.size());
    if (r.closed) return end_linger();  // the client has closed its side too
    if (r.bytes == 0) break;
  }
  drain();
}

void Link::end_linger() {
  if (!lingering_) return;
  lingering_ = false;
  stream_->close();
}

void Link::discard_output() {
  out_.clear();
  out_head_ = out_offset_ = 0;
  unqueued(out_bytes_);
  stalled_ = false;
  flush_scheduled_ = false;  // taken off the worker's flush list by the caller
}

std::unique_ptr<net::DetachedStream> Link::detach_stream() {
  link_closed_ = true;
  return stream_->detach();
}

std::string Link::remote() const {
  return net::endpoint_text(stream_->remote());
}

// ---------------------------------------------------------------------------------- writing

std::string& Link::tail_chunk() {
  if (out_.size() == out_head_ || out_.back().payload_of || out_.back().bytes.size() > kChunkBytes ||
      (out_.size() - 1 == out_head_ && out_offset_ > 0)) {
    // A chunk filled with bytes means a busy connection: give the next its full size at once
    // rather than growing it by doubling. Not after a chunk that ends in a referenced payload:
    // the next one may hold only the next PUBLISH's header, and a stalled subscriber of 1 KiB
    // messages then held 17 KiB of reserved string per message queued (the memory budget's
    // measurement, docs/performance.md).
    const bool filled = out_.size() > out_head_ && !out_.back().payload_of && out_.back().bytes.size() > kChunkBytes;
    out_.push_back(OutChunk{});
    if (filled) out_.back().bytes.reserve(kChunkBytes + 1024);
  }
  return out_.back().bytes;
}

bool Link::send(const mqtt::Packet& packet) {
  if (link_closed_) return false;
  std::string& buf = tail_chunk();
  const auto before = buf.size();
  mqtt::encode(packet, version_, buf);
  if (buf.size() - before > client_max_packet_size_) {
    // Never more than the client accepts [MQTT-3.1.2-24] (CONNACK and DISCONNECT included).
    buf.resize(before);
    return false;
  }
  queued(buf.size() - before);
  schedule_flush();
  return true;
}

bool Link::send_publish(const OutboundMessage& out, mqtt::PacketId packet_id, bool dup) {
  auto dropped = [this](DropReason why) {
    context_.stats.drop(why);
    return false;
  };
  if (link_closed_) return dropped(DropReason::closed);
  const Message& m = *out.message;
  if (out.qos == 0 && out_bytes_ > 0) {
    if (out_bytes_ > context_.config.limits.max_write_buffer) return dropped(DropReason::write_buffer);
    // Over the memory budget, a subscriber that is not keeping up gets no more QoS 0.
    if (stalled_ && context_.memory.over()) return dropped(DropReason::memory_budget);
  }
  const bool expires = m.expires_at != Clock::time_point::max();
  const auto now = expires ? context_.clock.now() : Clock::time_point{};  // no clock read per recipient
  if (expires && m.expired(now)) return dropped(DropReason::expired);  // MQTT 5 message expiry [MQTT-3.3.2-5]

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
    auto& cache = context_.header_cache;
    if (cache.message.get() != &m || cache.retain != out.retain || cache.version != version_) {
      cache.message = out.message;
      cache.retain = out.retain;
      cache.version = version_;
      cache.bytes.clear();
      mqtt::encode_publish_header(h, version_, cache.bytes);
    }
    if (cache.bytes.size() + m.payload().size() > client_max_packet_size_) return dropped(DropReason::too_large);
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
    return dropped(DropReason::too_large);
  }
  std::string& buf = tail_chunk();
  const auto before = buf.size();
  mqtt::encode_publish_header(h, version_, buf);
  append_payload(buf.size() - before, out);
  return true;
}

void Link::append_payload(std::size_t header_size, const OutboundMessage& out) {
  // The header was just appended to the tail chunk; the payload follows it there or, when
  // large, is written from the message itself.
  const std::string_view payload = out.message->payload();
  if (payload.size() < kCopyPayloadBelow) {
    out_.back().bytes.append(payload);
  } else {
    out_.back().payload_of = out.message;
  }
  queued(header_size + payload.size());
  context_.stats.sent.count(out.qos, payload.size());
  schedule_flush();
}

std::uint16_t Link::outbound_alias(std::string_view topic, bool& send_topic) {
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

void Link::send_ack(mqtt::PacketType type, mqtt::PacketId id, mqtt::ReasonCode reason, std::shared_ptr<AckGate> gate) {
  if (link_closed_) {
    if (gate) gate->publisher = nullptr;
    return;
  }
  auto* held = held_acks();
  if ((gate && gate->pending > 0) || (held && !held->empty())) {
    if (!held) held = (rare().held_acks = std::make_unique<std::deque<HeldAck>>()).get();
    if (gate && gate->pending == 0) gate.reset();
    held->push_back(HeldAck{type, id, reason, std::move(gate)});
    return;
  }
  write_ack(type, id, reason);
}

void Link::release_acks() {
  if (!held_acks() || link_closed_) return;
  auto& held = *held_acks();
  while (!held.empty() && (!held.front().gate || held.front().gate->pending == 0)) {
    HeldAck a = std::move(held.front());
    held.pop_front();
    write_ack(a.type, a.id, a.reason);
  }
}

void Link::drop_held_acks() {
  auto* held = held_acks();
  if (!held) return;
  for (auto& a : *held) {
    if (a.gate) a.gate->publisher = nullptr;
  }
  rare_->held_acks.reset();
}

void Link::write_ack(mqtt::PacketType type, mqtt::PacketId id, mqtt::ReasonCode reason) {
  using mqtt::PacketType;
  if (reason != mqtt::ReasonCode::success && mqtt::is_v5(version_)) {
    switch (type) {
      case PacketType::puback: (void)send(mqtt::Puback{id, reason}); return;
      case PacketType::pubrec: (void)send(mqtt::Pubrec{id, reason}); return;
      case PacketType::pubrel: (void)send(mqtt::Pubrel{id, reason}); return;
      default: (void)send(mqtt::Pubcomp{id, reason}); return;
    }
  }
  // Without a reason code or properties, every version encodes [type|flags, 2, id]; PUBREL's
  // flags are 0b0010.
  const char bytes[4] = {static_cast<char>((static_cast<unsigned>(type) << 4) | (type == PacketType::pubrel ? 2 : 0)), 2,
                         static_cast<char>(id >> 8), static_cast<char>(id & 0xFF)};
  if (client_max_packet_size_ < sizeof bytes) return;  // [MQTT-3.1.2-24]
  tail_chunk().append(bytes, sizeof bytes);
  queued(sizeof bytes);
  schedule_flush();
}

void Link::schedule_flush() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  context_.turn.schedule_flush(shared_from_this());
}

void Link::flush() {
  flush_scheduled_ = false;
  if (link_closed_ || write_waiting_ || out_bytes_ == 0) return;
  write_queued(false);
}

void Link::release_idle_buffers() {
  if (out_bytes_ == 0 && out_.capacity() != 0 && !write_waiting_) {
    std::vector<OutChunk>().swap(out_);
    out_head_ = 0;
    out_offset_ = 0;
  }
  if (rare_) {
    if (rare_->held_acks && rare_->held_acks->empty()) rare_->held_acks.reset();
    if (rare_->empty()) rare_.reset();
  }
  if (!reading_paused(pause_budget)) {
    publishing_ = false;
    read_full_ = false;
  }
}

void Link::write_queued(bool closing) {
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
    const auto r = stream_->try_writev(std::span<const asio::const_buffer>(bufs.data(), n));
    if (r.closed) {
      if (!closing) on_lost();
      return;
    }
    if (r.bytes == 0) {
      stalled_ = true;
      if (!closing) wait_writable(r.want == net::Want::nothing ? net::Want::write : r.want);
      return;
    }
    std::size_t written = r.bytes;
    context_.stats.bytes_sent.add(written);
    unqueued(written);
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
  stalled_ = false;
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

void Link::wait_writable(net::Want want) {
  if (write_waiting_) return;
  write_waiting_ = true;
  stream_->async_wait(net::Side::writing, want);
}

}  // namespace hermod::broker
