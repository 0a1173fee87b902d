// One client's byte link: its net::Stream, reading into the worker's scratch buffer, the write
// queue with one gathered write per loop turn, the outbound encoding of PUBLISH (a header cache
// shared by the worker for QoS 0 fan-out, MQTT 5 topic aliases, the client's Maximum Packet
// Size) and the acknowledgements held behind AckGates. It knows packets only as bytes to send;
// what the client's packets mean is the protocol's (protocol/connection.hpp derives from Link and
// receives the bytes read through on_bytes()).
//
// Reading: wait until the stream is readable, then read into the worker's scratch buffer and hand
// the bytes to on_bytes(); the protocol keeps only an incomplete packet's tail, so an idle link
// holds no read buffer. Writing: packets are appended to a queue and flushed once per loop turn
// (Turn::schedule_flush) as one gathered write; a large PUBLISH payload is referenced, not
// copied. When the stream is full the link waits for it and the rest goes on the next turn.
// Lifetime: shared_ptr held by the worker's registry (and, during a turn, its flush list); the
// stream calls back through StreamEvents and never after close_link(). The worker frees a
// forgotten connection at the end of the turn, not inside the callback that closed it. Worker
// thread only.
//
// The memory budget (limits/memory_budget.hpp): the bytes queued here count in the worker's
// MemoryUse. While the broker is over its budget, a link that publishes heavily (it published
// since the last sweep and a read filled the scratch buffer) or, far over it, any link that
// publishes, is not read: it waits on the worker's list (Turn::park_reader) until the worker
// resumes it below the low-water mark, and TCP slows its client down. QoS 0 to a link whose
// output is stalled (the stream did not take everything at the last flush) is dropped meanwhile.
// Links that only acknowledge or ping keep being read, so QoS 1/2 windows still drain.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.hpp"
#include "base/string_hash.hpp"
#include "broker/config/config.hpp"
#include "broker/connection/ack_gate.hpp"
#include "broker/limits/memory_budget.hpp"
#include "broker/metrics/worker_stats.hpp"
#include "broker/routing/outbound_message.hpp"
#include "mqtt/decoder.hpp"
#include "mqtt/packet.hpp"
#include "net/stream.hpp"

namespace hermod::broker {

class Link;

// The fixed header, topic and (MQTT 5) empty property length of the last QoS 0 PUBLISH encoded
// without per-recipient fields: a message fanned out to many subscribers is encoded once per
// retain flag and protocol version, and copied to the others. Holding the message keeps its
// address from being reused by another while cached. One per worker, cleared every turn.
struct PublishHeaderCache {
  MessagePtr message;
  bool retain = false;
  mqtt::ProtocolVersion version{};
  std::string bytes;
};

// One turn of the worker's loop, as links and the store writer see it (implemented by the
// worker): what they queue or write during the turn is committed and flushed at its end.
class Turn {
 public:
  // Makes sure the end of this turn runs (a store write was added to its batch).
  virtual void schedule_end_turn() = 0;
  // Puts `link` on the list of links flushed at the end of this loop turn.
  virtual void schedule_flush(std::shared_ptr<Link> link) = 0;
  // Commits this turn's store writes now (a closing link must send its last packets at once).
  // False if they failed: nothing of the turn may then be sent.
  virtual bool commit_now() = 0;
  // Keeps `link` while it lingers (see Link::close_link) and ends the lingering after a short
  // deadline, or at shutdown.
  virtual void linger(std::shared_ptr<Link> link) = 0;
  // Keeps `link`, whose reading is paused for the memory budget, until the broker is below the
  // budget's low-water mark again; then calls its resume_reading_after_budget().
  virtual void park_reader(std::shared_ptr<Link> link) = 0;

 protected:
  ~Turn() = default;
};

// The worker's things every link uses; they outlive every link of the worker.
struct LinkContext {
  Turn& turn;
  const Config& config;
  const Clock& clock;
  WorkerStats& stats;
  MemoryGauge& memory;  // the worker's queued bytes and whether the broker is over its budget
  PublishHeaderCache& header_cache;
  std::span<char> scratch;  // the worker's read buffer, used by one link at a time
};

class Link : public std::enable_shared_from_this<Link>, private net::StreamEvents {
 public:
  Link(LinkContext& context, std::unique_ptr<net::Stream> stream);
  virtual ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // Queues a packet for the next flush. False if it was not queued: the link is closed, or the
  // packet is larger than the client's Maximum Packet Size.
  bool send(const mqtt::Packet& packet);
  // Queues a PUBLISH of `out` with `packet_id`. Returns false if it was not queued: a QoS 0
  // message when the write queue is above its limit, an expired message, or one larger than the
  // client's Maximum Packet Size (discarded as if delivered [MQTT-3.1.2-25]).
  bool send_publish(const OutboundMessage& out, mqtt::PacketId packet_id, bool dup);
  // Queues an acknowledgement, or holds it while `gate` is closed or earlier ones are held
  // (acknowledgements leave in the order of their PUBLISHes).
  void send_ack(mqtt::PacketType type, mqtt::PacketId id, mqtt::ReasonCode reason = mqtt::ReasonCode::success,
                std::shared_ptr<AckGate> gate = nullptr);
  // Sends the held acknowledgements whose gates are open, up to the first that still waits.
  void release_acks();

  // Writes as much of the queue as the stream takes now; waits for it for the rest.
  void flush();
  // Gives back the write queue's storage when nothing is queued (called a few times a second):
  // a busy link keeps it from one flush to the next, an idle one holds none.
  virtual void release_idle_buffers();
  // Reads again after a pause for the memory budget (see park_reader). Idempotent.
  void resume_reading_after_budget();

  // What the client negotiated at CONNECT.
  mqtt::ProtocolVersion version() const { return version_; }
  // Unacknowledged QoS 1/2 PUBLISHes this client may have: the broker's max_inflight, lowered
  // by an MQTT 5 client's Receive Maximum.
  std::uint16_t inflight_limit() const { return inflight_limit_; }
  bool link_closed() const { return link_closed_; }
  // Ends a lingering close: the stream is closed now. Idempotent; the worker's thread.
  void end_linger();
  bool lingering() const { return lingering_; }
  // Not read for now because the broker is over its memory budget (its client may well be
  // sending: a keepalive must not count this time against it).
  bool paused_for_budget() const { return (read_paused_ & pause_budget) != 0; }
  // "address:port" of the client, for log lines.
  std::string remote() const;
  const boost::asio::ip::tcp::endpoint& remote_endpoint() const { return stream_->remote(); }
  // The client's verified certificate (TLS listeners), if any.
  std::optional<net::PeerIdentity> peer_identity() const { return stream_->peer_identity(); }

 protected:
  // The bytes of one read, in the scratch buffer (valid until this returns).
  virtual void on_bytes(std::string_view data) = 0;
  // The stream ended or failed while reading or writing.
  virtual void on_lost() = 0;
  // Reading resumes after a pause for the memory budget.
  virtual void on_resumed() {}

  void start_reading() { wait_readable(); }
  // While paused for any reason no read is attempted: a CONNECT waits for its password check, a
  // client over its message or byte rate waits for its bucket, publishers wait while the memory
  // budget is spent. Reading resumes when the last reason is lifted.
  enum Pause : std::uint8_t { pause_check = 1, pause_rate = 2, pause_budget = 4 };
  void pause_reading(Pause why) { read_paused_ |= why; }
  void resume_reading(Pause why);
  bool reading_paused(Pause why) const { return (read_paused_ & why) != 0; }
  // The client sent a PUBLISH: reading it may pause while the broker is over its memory budget.
  void mark_publishing() { publishing_ = true; }
  // Reads into `buffer` and hands what the stream has to on_bytes(), at most `max_reads` reads;
  // does not wait for more.
  void read_available(int max_reads, char* buffer, std::size_t size);

  // Closes the link; first writes what is queued if `send_queued` and this turn's writes are
  // committed. Drops the queue and the held acknowledgements. Idempotent. With `linger`, once
  // everything queued is written, only the sending side is shut and what the client still sends
  // is read and discarded until it closes too or the worker ends the wait (Turn::linger): a
  // client that is still writing then reads the DISCONNECT or CONNACK that says why, instead of
  // a reset that discards it.
  void close_link(bool send_queued, bool linger = false);
  // Drops everything queued (it was not stored, so it must not be sent).
  void discard_output();
  // Takes the stream away for a hand-off to another worker; the link is closed afterwards.
  std::unique_ptr<net::DetachedStream> detach_stream();

  void set_version(mqtt::ProtocolVersion v) { version_ = v; }
  void set_negotiated(std::uint16_t inflight_limit, std::uint32_t client_max_packet_size,
                      std::uint16_t client_topic_alias_max) {
    inflight_limit_ = inflight_limit;
    client_max_packet_size_ = client_max_packet_size;
    client_topic_alias_max_ = client_topic_alias_max;
  }
  // MQTT 5 topic aliases the client set towards the broker: alias N at index N-1.
  std::vector<std::string>& inbound_aliases() { return aliases().inbound; }
  std::uint32_t client_max_packet_size() const { return client_max_packet_size_; }

  LinkContext& context_;

 private:
  struct OutChunk {
    std::string bytes;
    MessagePtr payload_of;  // when set, this message's payload follows `bytes` on the wire
  };
  struct TopicAliases {
    std::vector<std::string> inbound;
    std::unordered_map<std::string, std::uint16_t, StringHash, std::equal_to<>> outbound;
  };
  struct HeldAck {
    mqtt::PacketType type;
    mqtt::PacketId id;
    mqtt::ReasonCode reason;
    std::shared_ptr<AckGate> gate;  // null: waits only for the ones before it
  };
  // What few links use, behind one pointer (an idle connection's bytes are counted): MQTT 5
  // topic aliases and held acknowledgements (kept while in use, like out_;
  // release_idle_buffers() frees them).
  struct Rare {
    std::unique_ptr<TopicAliases> aliases;
    std::unique_ptr<std::deque<HeldAck>> held_acks;
    bool empty() const { return !aliases && !held_acks; }
  };

  // net::StreamEvents: a wait of the stream completed.
  void on_stream_ready(net::Side side) override;
  void wait_readable();
  void on_readable();
  // Lingering: waits for the client's bytes and discards them (drain_now) until its end.
  void drain();
  void drain_now();
  // Queues an acknowledgement now; a successful one is 4 bytes copied without building a packet.
  void write_ack(mqtt::PacketType type, mqtt::PacketId id, mqtt::ReasonCode reason);
  void drop_held_acks();
  // MQTT 5: the per-recipient topic alias for an outgoing PUBLISH (0: none) and whether the
  // topic must still be sent with it.
  std::uint16_t outbound_alias(std::string_view topic, bool& send_topic);
  std::string& tail_chunk();
  // After a PUBLISH header of `header_size` bytes went into the tail chunk: its payload, the
  // byte count, the statistics and the flush.
  void append_payload(std::size_t header_size, const OutboundMessage& out);
  void schedule_flush();
  // Bytes entering and leaving the write queue, counted in out_bytes_ and the worker's MemoryUse.
  void queued(std::size_t n) {
    out_bytes_ += n;
    context_.memory.use().write_buffers += n;
  }
  void unqueued(std::size_t n) {
    out_bytes_ -= n;
    context_.memory.use().write_buffers -= n;
  }
  // Over the memory budget, a publishing link stops here instead of reading (parked).
  bool hold_for_budget();
  // Writes queued bytes until done or the stream is full; `closing`: do not wait for more room.
  void write_queued(bool closing);
  void wait_writable(net::Want want);

  Rare& rare() {
    if (!rare_) rare_ = std::make_unique<Rare>();
    return *rare_;
  }
  TopicAliases& aliases() {
    auto& a = rare().aliases;
    if (!a) a = std::make_unique<TopicAliases>();
    return *a;
  }
  std::deque<HeldAck>* held_acks() const { return rare_ ? rare_->held_acks.get() : nullptr; }

  // Members are ordered so that the small ones fill the gaps: an idle connection's size is a
  // measured target (docs/performance.md), and padding counts.
  std::unique_ptr<net::Stream> stream_;
  std::unique_ptr<Rare> rare_;
  std::vector<OutChunk> out_;
  std::size_t out_bytes_ = 0;    // bytes queued and not yet written
  std::uint32_t out_head_ = 0;   // first chunk not yet fully written
  std::uint32_t out_offset_ = 0; // bytes of that chunk already written (chunks stay below 4 GiB)
  std::uint32_t client_max_packet_size_ = mqtt::kMaxPacketSize;  // MQTT 5 Maximum Packet Size
  std::uint16_t inflight_limit_ = 20;
  std::uint16_t client_topic_alias_max_ = 0;  // MQTT 5 Topic Alias Maximum
  mqtt::ProtocolVersion version_ = mqtt::ProtocolVersion::v3_1_1;
  bool write_waiting_ = false;   // a wait for the stream to take more is pending
  bool flush_scheduled_ = false; // on the worker's flush list for this turn
  bool read_waiting_ = false;
  std::uint8_t read_paused_ = 0;  // Pause bits
  bool link_closed_ = false;
  bool lingering_ = false;
  // The memory budget's view of the link, in one byte (its pause is the pause_budget bit of
  // read_paused_). publishing_ and read_full_ are cleared every sweep (release_idle_buffers),
  // so they describe the last quarter second or so.
  bool publishing_ : 1 = false;  // a PUBLISH arrived since the last sweep
  bool read_full_ : 1 = false;   // a read filled the scratch buffer since the last sweep
  bool stalled_ : 1 = false;     // the last flush left bytes the stream did not take
};

}  // namespace hermod::broker
