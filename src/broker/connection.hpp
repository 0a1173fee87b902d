// One client's network connection: its socket, the bytes of an incomplete packet, the write
// queue, and the protocol state before and after CONNECT. Packet handling is split by packet
// family into handle_connect.cpp, handle_auth.cpp, handle_publish.cpp, handle_subscribe.cpp.
//
// Reading: wait for readability, then read into the worker's scratch buffer and decode every
// complete packet there; only an incomplete packet's bytes are kept here, so an idle connection
// holds no big buffer. Writing: packets are appended to a queue and flushed once per loop turn as
// one gathered write; a PUBLISH payload is referenced, not copied, when it is large.
// Lifetime: shared_ptr held by the worker's registry and by pending handlers; close() cancels I/O
// and the object dies when the last handler returns. Worker thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "broker/ack_gate.hpp"
#include "broker/message.hpp"
#include "broker/session.hpp"
#include "broker/string_hash.hpp"
#include "mqtt/decoder.hpp"
#include "mqtt/packet.hpp"

namespace hermod::broker {

namespace asio = boost::asio;
class Worker;
struct ConnectionAuth;
namespace auth {
struct AuthStep;
}

enum class CloseReason {
  client_disconnect,  // DISCONNECT received: no will
  connection_lost,    // EOF or socket error
  protocol_error,     // malformed packet or protocol violation
  keepalive_timeout,
  connect_timeout,
  session_taken_over,
  refused,            // CONNACK with a failure code sent
  auth_failed,        // MQTT 5 re-authentication failed
  server_shutdown,
  store_failure,      // the store could not write what this turn would have acknowledged
};
const char* to_string(CloseReason r);

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Clock = std::chrono::steady_clock;
  // Bound to the worker's io_context's own executor: a type-erased any_io_executor would cost
  // every socket and every pending wait some 40 bytes more.
  using Socket = asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type>;

  Connection(Worker& worker, Socket socket, asio::ip::tcp::endpoint remote);
  ~Connection();

  // Starts reading a freshly accepted connection.
  void start();
  // Continues a connection handed over from another worker after its CONNECT was decoded there.
  void resume_after_handoff(mqtt::Connect connect, std::string leftover);

  // Closes the connection. To an MQTT 5 client past CONNECT, a DISCONNECT with `code` (or the
  // reason's usual code when `code` is success) goes out first, for every reason but the client's
  // own DISCONNECT and a lost connection.
  void close(CloseReason reason, mqtt::ReasonCode code = mqtt::ReasonCode::success);
  // Drops everything queued for this client (it was not stored, so it must not be sent) and
  // closes the connection, telling an MQTT 5 client `code`.
  void abort(mqtt::ReasonCode code);
  // Closes this connection because a new one took its session over, after reading what the
  // client already sent.
  void take_over();
  bool closed() const { return state_ == State::closed || state_ == State::handed_off; }

  // The CONNECT or keepalive deadline that has passed, if one has.
  std::optional<CloseReason> timed_out(Clock::time_point now) const;

  // Queues a packet for the next flush.
  void send(const mqtt::Packet& packet);
  // Queues a PUBLISH of `out` with `packet_id`. Returns false if it was dropped: a QoS 0 message
  // when the write queue is above its limit.
  bool send_publish(const OutboundMessage& out, mqtt::PacketId packet_id, bool dup);
  // Writes as much of the queue as the socket takes now; waits for writability for the rest.
  void flush();
  // Gives back the write queue's storage when nothing is queued (called a few times a second):
  // a busy connection keeps it from one flush to the next, an idle one holds none.
  void release_idle_buffers();

  // Sends the acknowledgements held for deliveries that are now acknowledged or stored, up to
  // the first that still waits (acknowledgements leave in the order of their PUBLISHes).
  void release_acks();

  // Unacknowledged QoS 1/2 PUBLISHes this client may have: the broker's max_inflight, lowered
  // by an MQTT 5 client's Receive Maximum.
  std::uint16_t inflight_limit() const { return inflight_limit_; }

  Session* session() const { return session_; }
  mqtt::ProtocolVersion version() const { return version_; }
  // "address:port" of the client, for log lines.
  std::string remote() const;
  void mark_counted() { counted_ = true; }

 private:
  // authenticating: CONNECT received, an enhanced authentication exchange runs (no CONNACK yet).
  enum class State : std::uint8_t { awaiting_connect, authenticating, connected, closed, handed_off };

  struct OutChunk {
    std::string bytes;
    MessagePtr payload_of;  // when set, this message's payload follows `bytes` on the wire
  };

  void wait_readable();
  void on_readable();
  // Reads into `buffer` and processes what the socket has, at most `max_reads` reads; does not
  // wait for more.
  void read_available(int max_reads, char* buffer, std::size_t size);
  // Decodes every complete packet in `data`; keeps an incomplete tail in inbuf_.
  void process(std::string_view data);
  void on_packet(mqtt::Packet&& packet);
  void fail(const hermod::Error& error);

  // Packet handlers, one file per family.
  void handle_connect(mqtt::Connect&& c);
  // On the home worker: checks user name and password, or starts enhanced authentication;
  // accept_connect() follows only once the client is authenticated.
  void authenticate(mqtt::Connect&& c);
  void start_enhanced_auth(mqtt::Connect&& c);
  void handle_auth(mqtt::Auth&& a);
  // Feeds the client's Authentication Data to the running exchange and acts on its answer.
  void auth_step(std::string_view client_data);
  void auth_succeeded(auth::AuthStep&& step);
  void auth_failed(auth::AuthStep&& step);
  void accept_connect(mqtt::Connect&& c);
  // CONNACK with `reason` (logged with `why`), then close.
  void refuse_connect(mqtt::ReasonCode reason, std::string_view why = {}, mqtt::Properties props = {});
  void hand_off(std::uint32_t home, mqtt::Connect&& c, std::string leftover);
  // A PUBLISH with properties (MQTT 5): their checks, then publish_received().
  void handle_publish(mqtt::Publish&& p);
  // Routes and acknowledges a PUBLISH; `props` null when it had none (the fast path).
  void publish_received(const mqtt::PublishView& p, mqtt::Properties* props);
  // PUBACK, PUBREC, PUBREL or PUBCOMP from the client.
  void handle_ack(mqtt::PacketType type, mqtt::PacketId id, mqtt::ReasonCode reason);
  void handle_puback(mqtt::PacketId id);
  void handle_pubrec(mqtt::PacketId id, mqtt::ReasonCode reason);
  void handle_pubrel(mqtt::PacketId id);
  void handle_pubcomp(mqtt::PacketId id);
  // Queues an acknowledgement, or holds it while `gate` is closed or earlier ones are held.
  void send_ack(mqtt::PacketType type, mqtt::PacketId id, mqtt::ReasonCode reason = mqtt::ReasonCode::success,
                std::shared_ptr<AckGate> gate = nullptr);
  // Queues an acknowledgement now; a successful one is 4 bytes copied without building a packet.
  void write_ack(mqtt::PacketType type, mqtt::PacketId id, mqtt::ReasonCode reason);
  // Forgets the held acknowledgements (the connection is closing: they are never sent).
  void drop_held_acks();
  void handle_subscribe(mqtt::Subscribe&& s);
  void handle_unsubscribe(mqtt::Unsubscribe&& u);
  void handle_disconnect(const mqtt::Disconnect& d);
  // The will as a message to route; consumes will_.
  MessagePtr make_will_message();
  // MQTT 5: properties of CONNACK, from the config and what the client asked for.
  mqtt::Properties connack_properties(const mqtt::Connect& c, std::uint32_t granted_expiry) const;
  // ", user ..." for the connect log line when the client authenticated, else empty.
  std::string user_for_log(const mqtt::Connect& c) const;
  // MQTT 5: resolves an inbound topic alias; false after closing the connection.
  bool resolve_topic_alias(mqtt::Publish& p);
  // MQTT 5: the per-recipient topic alias for an outgoing PUBLISH (0: none) and whether the
  // topic must still be sent with it.
  std::uint16_t outbound_alias(std::string_view topic, bool& send_topic);

  std::string& tail_chunk();
  // After a PUBLISH header of `header_size` bytes went into the tail chunk: its payload, the
  // byte count, the statistics and the flush.
  void append_payload(std::size_t header_size, const OutboundMessage& out);
  // Puts this connection on the worker's list of connections to flush at the end of the turn,
  // once per turn however many packets it queues.
  void schedule_flush();
  // Writes queued bytes until done or the socket is full; `closing`: do not wait for more room.
  void write_queued(bool closing);
  void on_writable();

  // Members are ordered so that the small ones fill the gaps: an idle connection's size is a
  // measured target (docs/performance.md), and padding counts.
  Worker& worker_;
  Socket socket_;
  asio::ip::tcp::endpoint remote_;  // 28 bytes, formatted only when logged
  State state_ = State::awaiting_connect;
  mqtt::ProtocolVersion version_ = mqtt::ProtocolVersion::v3_1_1;
  std::uint16_t keep_alive_ = 0;
  std::uint16_t inflight_limit_ = 20;
  std::uint16_t client_topic_alias_max_ = 0;                      // MQTT 5 Topic Alias Maximum
  std::uint32_t client_max_packet_size_ = mqtt::kMaxPacketSize;  // MQTT 5 Maximum Packet Size
  Session* session_ = nullptr;
  // Heap-held: most connections have no will and are never handed over, and inline these two
  // would take 1.7 KiB of every idle connection.
  std::unique_ptr<mqtt::Will> will_;
  // MQTT 5 topic aliases of this connection, created when the first one is used.
  struct TopicAliases {
    std::vector<std::string> inbound;  // alias N at index N-1
    std::unordered_map<std::string, std::uint16_t, StringHash, std::equal_to<>> outbound;
  };
  // Until CONNECT is accepted: when the connection was accepted (the connect timeout counts from
  // there, however slowly bytes trickle in). Afterwards: when bytes last arrived (keepalive).
  Clock::time_point last_received_;
  std::unique_ptr<std::string> inbuf_;  // bytes of an incomplete packet; null when there are none
  std::unique_ptr<ConnectionAuth> auth_;  // null unless the client uses enhanced authentication
  // Acknowledgements waiting for deliveries (see ack_gate.hpp).
  struct HeldAck {
    mqtt::PacketType type;
    mqtt::PacketId id;
    mqtt::ReasonCode reason;
    std::shared_ptr<AckGate> gate;  // null: waits only for the ones before it
  };
  // What few connections use, behind one pointer (an idle connection's bytes are counted): MQTT 5
  // topic aliases, a CONNECT on its way to the client id's home worker, held acknowledgements
  // (kept while in use, like out_; release_idle_buffers() frees them).
  struct Rare {
    std::unique_ptr<TopicAliases> aliases;
    std::unique_ptr<std::pair<mqtt::Connect, std::uint32_t>> pending_handoff;
    std::unique_ptr<std::deque<HeldAck>> held_acks;
    bool empty() const { return !aliases && !pending_handoff && !held_acks; }
  };
  std::unique_ptr<Rare> rare_;
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

  std::vector<OutChunk> out_;
  std::uint32_t out_head_ = 0;   // first chunk not yet fully written
  std::uint32_t out_offset_ = 0; // bytes of that chunk already written (chunks stay below 4 GiB)
  std::size_t out_bytes_ = 0;    // bytes queued and not yet written
  bool write_waiting_ = false;   // a wait for writability is pending
  bool flush_scheduled_ = false; // on the worker's flush list for this turn
  bool read_waiting_ = false;
  bool counted_ = false;         // counted in Broker::connection_count
};

}  // namespace hermod::broker
