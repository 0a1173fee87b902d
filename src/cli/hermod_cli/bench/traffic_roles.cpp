#include "bench/traffic_roles.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "mqtt/encoder.hpp"

namespace hermod::cli::bench {

namespace {

constexpr std::uint64_t kStallAfterNs = 1'000'000'000;
constexpr std::uint64_t kForever = std::numeric_limits<std::uint64_t>::max();
// Messages one publisher writes per loop turn at most, so one publisher cannot starve the reads.
constexpr std::uint64_t kMaxBatch = 1024;
// ... and at most a quarter of its window: a publisher that sends its whole window at once and
// then waits for the slowest subscriber turns the run into stop-and-wait rounds, where the broker
// and this generator take turns instead of working at the same time.
constexpr std::uint64_t kWindowSlices = 4;

mqtt::Connect make_connect(const std::string& client_id, std::uint16_t keepalive, mqtt::ProtocolVersion v,
                           bool persistent = false) {
  mqtt::Connect c;
  c.version = v;
  // A persistent subscriber starts fresh too (clean start) but keeps its session afterwards.
  c.clean_start = !persistent || mqtt::is_v5(v);
  if (persistent && mqtt::is_v5(v)) c.props.session_expiry_interval = 300;
  c.keep_alive = keepalive;
  c.client_id = client_id;
  return c;
}

// Acknowledgements are the most frequent packets the generator writes: the codec encodes one
// of each type once, and each acknowledgement copies those four bytes with its packet id.
// Without properties and with a success reason every version encodes them as
// [type|flags, 2, id_hi, id_lo].
void append_ack(std::string& out, mqtt::PacketType type, mqtt::PacketId id, mqtt::ProtocolVersion v) {
  struct Templates {
    std::string puback, pubrec, pubrel, pubcomp;
  };
  static const Templates t3{mqtt::encode(mqtt::Puback{1}, mqtt::ProtocolVersion::v3_1_1),
                            mqtt::encode(mqtt::Pubrec{1}, mqtt::ProtocolVersion::v3_1_1),
                            mqtt::encode(mqtt::Pubrel{1}, mqtt::ProtocolVersion::v3_1_1),
                            mqtt::encode(mqtt::Pubcomp{1}, mqtt::ProtocolVersion::v3_1_1)};
  static const Templates t5{mqtt::encode(mqtt::Puback{1}, mqtt::ProtocolVersion::v5),
                            mqtt::encode(mqtt::Pubrec{1}, mqtt::ProtocolVersion::v5),
                            mqtt::encode(mqtt::Pubrel{1}, mqtt::ProtocolVersion::v5),
                            mqtt::encode(mqtt::Pubcomp{1}, mqtt::ProtocolVersion::v5)};
  const Templates& t = mqtt::is_v5(v) ? t5 : t3;
  const std::string* s = type == mqtt::PacketType::puback   ? &t.puback
                         : type == mqtt::PacketType::pubrec ? &t.pubrec
                         : type == mqtt::PacketType::pubrel ? &t.pubrel
                                                            : &t.pubcomp;
  const auto at = out.size();
  out.append(*s);
  out[at + s->size() - 2] = static_cast<char>(id >> 8);
  out[at + s->size() - 1] = static_cast<char>(id & 0xFF);
}

}  // namespace

std::string bench_client_id(const char* what, std::uint32_t index) {
  return "hb" + std::to_string(getpid()) + "-" + what + std::to_string(index);
}

// -------------------------------------------------------------------------------- Publisher

Publisher::Publisher(std::uint32_t index, std::string topic, Loop& loop, std::size_t loop_index, const BenchOptions& o,
                     const RunClock& clock, double rate, LatencyHistogram& ack_latency)
    : index_(index),
      topic_(std::move(topic)),
      loop_(loop),
      loop_index_(loop_index),
      clock_(clock),
      ack_latency_(ack_latency),
      conn_(loop, *this, o.version),
      qos_(o.qos),
      size_(std::max(o.size, kPayloadHeaderSize)),
      window_(std::min<std::uint32_t>(o.window, o.qos > 0 ? 65535 : o.window)),
      count_(o.count),
      interval_ns_(rate > 0 ? std::max<std::uint64_t>(1, static_cast<std::uint64_t>(1e9 / rate)) : 0),
      keepalive_(o.keepalive),
      filler_(size_ - kPayloadHeaderSize, 'x') {
  if (qos_ > 0) {
    ids_.assign(65536, 0);
    sent_at_.assign(65536, 0);
  }
}

void Publisher::on_open(BenchConnection& c) { c.send(make_connect(bench_client_id("pub", index_), keepalive_, c.version())); }

void Publisher::on_closed(BenchConnection&, std::string_view why) {
  if (failure_.empty()) failure_ = "publisher " + std::to_string(index_) + ": " + std::string(why);
}

void Publisher::on_short_ack(BenchConnection&, mqtt::PacketType type, mqtt::PacketId id) {
  switch (type) {
    case mqtt::PacketType::puback:
      if (id < ids_.size() && ids_[id] == 1) record_ack(id);
      return release_id(id, 1);
    case mqtt::PacketType::pubrec:
      if (id < ids_.size() && ids_[id] == 2) {
        record_ack(id);
        ids_[id] = 3;
        append_ack(conn_.out(), mqtt::PacketType::pubrel, id, conn_.version());
        conn_.queued();
      }
      return;
    case mqtt::PacketType::pubcomp:
      return release_id(id, 3);
    default:
      return;
  }
}

void Publisher::on_packet(BenchConnection& c, mqtt::Packet&& p) {
  // Acknowledgements with a reason code or properties (MQTT 5) come this way.
  if (auto* a = std::get_if<mqtt::Puback>(&p)) return on_short_ack(c, mqtt::PacketType::puback, a->packet_id);
  if (auto* r = std::get_if<mqtt::Pubrec>(&p)) return on_short_ack(c, mqtt::PacketType::pubrec, r->packet_id);
  if (auto* m = std::get_if<mqtt::Pubcomp>(&p)) return on_short_ack(c, mqtt::PacketType::pubcomp, m->packet_id);
  if (auto* ack = std::get_if<mqtt::Connack>(&p)) {
    if (ack->reason != mqtt::ReasonCode::success) {
      failure_ = "publisher " + std::to_string(index_) + ": CONNACK refused";
      return;
    }
    // MQTT 5: the broker's Receive Maximum bounds our unacknowledged QoS 1/2 publishes [MQTT-3.3.4-7].
    if (mqtt::is_v5(conn_.version())) receive_maximum_ = ack->props.receive_maximum.value_or(65535);
    ready_ = true;
  }
}

void Publisher::record_ack(std::uint16_t id) {
  const std::uint64_t now = now_ns();
  ack_latency_.record(now > sent_at_[id] ? now - sent_at_[id] : 0);
}

void Publisher::release_id(std::uint16_t id, std::uint8_t expected_state) {
  if (id >= ids_.size() || ids_[id] != expected_state) return;  // not ours: ignored
  ids_[id] = 0;
  --unacked_;
}

std::uint16_t Publisher::allocate_id() {
  // Precondition: unacked_ < 65535, so a free id exists.
  do {
    next_id_ = static_cast<std::uint16_t>(next_id_ == 65535 ? 1 : next_id_ + 1);
  } while (ids_[next_id_] != 0);
  ids_[next_id_] = qos_ == 1 ? 1 : 2;
  ++unacked_;
  return next_id_;
}

std::uint64_t Publisher::room(std::uint64_t now) {
  std::uint64_t slowest = kForever;
  for (Stream* s : streams_) slowest = std::min(slowest, s->progress.load(std::memory_order_acquire));
  if (streams_.empty()) slowest = sent_value_;
  if (slowest != last_progress_ || last_progress_ns_ == 0) {
    last_progress_ = slowest;
    last_progress_ns_ = now;
  }
  const std::uint64_t floor = std::max(slowest, window_floor_);
  std::uint64_t undelivered = sent_value_ - std::min(floor, sent_value_);
  if (undelivered >= window_ && now - last_progress_ns_ > kStallAfterNs) {
    // Nothing arrived for a second with a full window: those messages are lost (the checks will
    // say so); open the window again so the run goes on.
    ++stalls_;
    window_floor_ = sent_value_;
    last_progress_ns_ = now;
    undelivered = 0;
  }
  std::uint64_t room = undelivered >= window_ ? 0 : window_ - undelivered;
  if (qos_ > 0) {
    // Unacknowledged QoS 1/2 publishes: within the window and the broker's Receive Maximum.
    const std::uint64_t limit = std::min<std::uint64_t>(window_, receive_maximum_);
    room = std::min(room, unacked_ >= limit ? 0 : limit - unacked_);
  }
  return room;
}

std::uint64_t Publisher::pump(std::uint64_t now) {
  if (stopped_ || !ready_ || !conn_.is_open() || conn_.congested()) return kForever;
  if (count_ != 0 && sent_value_ >= count_) return kForever;
  std::uint64_t n = room(now);
  std::uint64_t next = 0;
  if (interval_ns_ > 0) {
    // Messages due by now: number k is due at start + k * interval.
    const std::uint64_t due = now < clock_.start_ns ? 0 : (now - clock_.start_ns) / interval_ns_ + 1;
    const std::uint64_t owed = due > sent_value_ ? due - sent_value_ : 0;
    if (owed > 0) max_lag_ = std::max(max_lag_, now - (clock_.start_ns + sent_value_ * interval_ns_));
    n = std::min(n, owed);
  }
  if (count_ != 0) n = std::min(n, count_ - sent_value_);
  n = std::min({n, kMaxBatch, std::max<std::uint64_t>(1, window_ / kWindowSlices)});
  if (n > 0) emit(n, now);
  if (interval_ns_ > 0) next = clock_.start_ns + sent_value_ * interval_ns_;
  if (room(now) == 0) {
    // Full window: ask subscribers on other loops to wake us, then check once more so a
    // delivery that raced with setting the flag is not missed.
    waiting.store(true, std::memory_order_release);
    if (room(now) == 0) return std::max<std::uint64_t>(next, now + kStallAfterNs / 4);
    waiting.store(false, std::memory_order_relaxed);
  }
  if (count_ != 0 && sent_value_ >= count_) return kForever;
  return next;
}

void Publisher::emit(std::uint64_t n, std::uint64_t now) {
  std::string& out = conn_.out();
  mqtt::PublishHeader h{topic_, size_, static_cast<std::uint8_t>(qos_), false, false, 0, nullptr};
  PayloadHeader ph{index_, kPayloadMagic, 0, now};
  for (std::uint64_t i = 0; i < n; ++i) {
    if (qos_ > 0) {
      h.packet_id = allocate_id();
      sent_at_[h.packet_id] = now;
    }
    mqtt::encode_publish_header(h, conn_.version(), out);
    ph.seq = sent_value_ + i;
    out.append(reinterpret_cast<const char*>(&ph), sizeof ph);
    out.append(filler_);
  }
  sent_value_ += n;
  // Published before the bytes leave (they are written at the end of the turn): a subscriber
  // never sees a number larger than `sent`.
  sent.store(sent_value_, std::memory_order_release);
  conn_.queued();
}

// ------------------------------------------------------------------------------- Subscriber

Subscriber::Subscriber(std::uint32_t index, std::string filter, Loop& loop, std::size_t loop_index,
                       const BenchOptions& o, const RunClock& clock, LatencyHistogram& latency)
    : index_(index),
      filter_(std::move(filter)),
      loop_index_(loop_index),
      clock_(clock),
      latency_(latency),
      conn_(loop, *this, o.version),
      qos_(o.qos),
      keepalive_(o.keepalive),
      persistent_(o.persistent) {}

void Subscriber::expect(std::uint32_t first_publisher, std::vector<Stream*> streams) {
  first_publisher_ = first_publisher;
  streams_ = std::move(streams);
}

void Subscriber::on_open(BenchConnection& c) {
  c.send(make_connect(bench_client_id("sub", index_), keepalive_, c.version(), persistent_));
}

void Subscriber::on_closed(BenchConnection&, std::string_view why) {
  if (failure_.empty()) failure_ = "subscriber " + std::to_string(index_) + ": " + std::string(why);
}

void Subscriber::on_short_ack(BenchConnection& c, mqtt::PacketType type, mqtt::PacketId id) {
  if (type != mqtt::PacketType::pubrel) return;
  append_ack(c.out(), mqtt::PacketType::pubcomp, id, c.version());
  c.queued();
}

void Subscriber::on_packet(BenchConnection& c, mqtt::Packet&& p) {
  // A PUBLISH with properties (MQTT 5) or a PUBREL with a reason code comes this way.
  if (auto* pub = std::get_if<mqtt::Publish>(&p)) {
    return on_publish(c, mqtt::PublishView{pub->topic, pub->payload, pub->qos, pub->retain, pub->dup, pub->packet_id});
  }
  if (auto* rel = std::get_if<mqtt::Pubrel>(&p)) return on_short_ack(c, mqtt::PacketType::pubrel, rel->packet_id);
  if (auto* ack = std::get_if<mqtt::Connack>(&p)) {
    if (ack->reason != mqtt::ReasonCode::success) {
      failure_ = "subscriber " + std::to_string(index_) + ": CONNACK refused";
      return;
    }
    mqtt::Subscribe s;
    s.packet_id = 1;
    s.subscriptions.push_back({filter_, mqtt::SubscribeOptions{static_cast<std::uint8_t>(qos_)}});
    c.send(s);
    return;
  }
  if (auto* sa = std::get_if<mqtt::Suback>(&p)) {
    if (sa->reasons.size() != 1 || static_cast<int>(sa->reasons[0]) != qos_) {
      failure_ = "subscriber " + std::to_string(index_) + ": SUBACK did not grant QoS " + std::to_string(qos_);
      return;
    }
    ready_ = true;
  }
}

void Subscriber::on_publish(BenchConnection&, const mqtt::PublishView& p) {
  const std::uint64_t now = now_ns();
  if (p.qos == 1) append_ack(conn_.out(), mqtt::PacketType::puback, p.packet_id, conn_.version());
  if (p.qos == 2) append_ack(conn_.out(), mqtt::PacketType::pubrec, p.packet_id, conn_.version());
  if (p.qos > 0) conn_.queued();
  if (p.qos != qos_) ++counts_.wrong_qos;

  PayloadHeader h;
  if (p.payload.size() < sizeof h) {
    ++counts_.corrupt;
    return;
  }
  std::memcpy(&h, p.payload.data(), sizeof h);
  if (h.magic != kPayloadMagic) {
    ++counts_.corrupt;
    return;
  }
  if (h.publisher < first_publisher_ || h.publisher - first_publisher_ >= streams_.size()) {
    ++counts_.misrouted;  // one of our messages, from a publisher this subscriber does not follow
    return;
  }
  Stream& s = *streams_[h.publisher - first_publisher_];
  if (p.topic != s.pub->topic()) ++counts_.misrouted;
  if (h.seq >= s.pub->sent.load(std::memory_order_acquire)) {
    ++counts_.corrupt;  // a number never sent: not a message of this run
    return;
  }
  if (s.check.on_message(h.seq) == StreamCheck::Verdict::duplicate) return;
  s.progress.store(s.check.progress(), std::memory_order_release);
  ++counts_.fresh;
  if (now <= clock_.deadline_ns) ++counts_.in_window;
  counts_.last_delivery_ns = now;
  latency_.record(now > h.sent_ns ? now - h.sent_ns : 0);
  if (s.pub->loop_index() != loop_index_ && s.pub->waiting.load(std::memory_order_acquire) &&
      s.pub->waiting.exchange(false, std::memory_order_acq_rel)) {
    s.pub->loop().wake();
  }
}

}  // namespace hermod::cli::bench
