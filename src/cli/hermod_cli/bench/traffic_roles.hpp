// The two roles of a traffic scenario and the Stream between them.
//
// A Publisher numbers its messages 0, 1, 2, ... and writes into each payload its index, the
// number and the send time (24 bytes, then filler up to the payload size). It keeps at most
// `window` messages outstanding: sent and not yet seen by its slowest subscriber (and, for
// QoS 1/2, not yet acknowledged), so the broker's queues stay bounded and a QoS 0 loss means the
// broker dropped something it should not have. In rate mode it also waits for each message's
// due time.
//
// A Subscriber checks every delivery against the Stream of its publisher (lost, duplicated,
// reordered, misrouted, wrong QoS) and records the end-to-end latency.
//
// Thread: each role lives on one loop's thread. Across threads only the atomics are touched:
// Publisher::sent (read by subscribers to reject numbers never sent), Stream::progress (read by
// the publisher's window) and Publisher::waiting (a subscriber wakes the publisher's loop).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/bench_connection.hpp"
#include "bench/bench_options.hpp"
#include "bench/latency_histogram.hpp"
#include "bench/stream_check.hpp"

namespace hermod::cli::bench {

class Publisher;
class Subscriber;

// What every role of one run shares: read-only after the setup barrier, except the atomics.
struct RunClock {
  std::uint64_t start_ns = 0;     // publishing starts
  std::uint64_t deadline_ns = 0;  // publishing stops (by time)
};

// The messages of one publisher as one subscriber receives them.
struct Stream {
  Publisher* pub = nullptr;
  StreamCheck check;                      // the subscriber's thread
  std::atomic<std::uint64_t> progress{0};  // check.progress(), for the publisher's window
};

// Reports a connection that failed or was closed by the broker.
struct RoleFailure {
  std::string what;
};

class Publisher final : public ConnectionSink {
 public:
  // `rate`: this publisher's messages per second; 0: as fast as the window allows.
  // `ack_latency` (the loop's) records the time from sending a QoS 1/2 PUBLISH to its PUBACK or
  // PUBREC: what the broker's acknowledgement costs, including a store write before it.
  Publisher(std::uint32_t index, std::string topic, Loop& loop, std::size_t loop_index, const BenchOptions& o,
            const RunClock& clock, double rate, LatencyHistogram& ack_latency);

  std::uint32_t index() const { return index_; }
  const std::string& topic() const { return topic_; }
  std::size_t loop_index() const { return loop_index_; }
  Loop& loop() { return loop_; }
  BenchConnection& connection() { return conn_; }
  void add_stream(Stream* s) { streams_.push_back(s); }

  bool ready() const { return ready_; }
  const std::string& failure() const { return failure_; }

  // Sends what the window, the rate, the count and the socket allow now. Returns the time at
  // which it wants to be called again (0: at once, UINT64_MAX: when something arrives).
  std::uint64_t pump(std::uint64_t now);
  // Stops producing for good (end of the run).
  void stop() { stopped_ = true; }
  // Every message sent, acknowledged where the QoS asks for it.
  bool finished_sending() const { return count_ != 0 && sent_value_ >= count_; }

  std::atomic<std::uint64_t> sent{0};
  std::atomic<bool> waiting{false};

  std::uint64_t unacked() const { return unacked_; }
  std::uint64_t stalls() const { return stalls_; }
  std::uint64_t max_send_lag_ns() const { return max_lag_; }

  void on_open(BenchConnection& c) override;
  void on_packet(BenchConnection& c, mqtt::Packet&& p) override;
  void on_publish(BenchConnection&, const mqtt::PublishView&) override {}  // not subscribed
  void on_short_ack(BenchConnection& c, mqtt::PacketType type, mqtt::PacketId id) override;
  void on_closed(BenchConnection& c, std::string_view why) override;

 private:
  std::uint64_t room(std::uint64_t now);
  void emit(std::uint64_t n, std::uint64_t now);
  std::uint16_t allocate_id();
  void release_id(std::uint16_t id, std::uint8_t expected_state);
  void record_ack(std::uint16_t id);

  const std::uint32_t index_;
  const std::string topic_;
  Loop& loop_;
  const std::size_t loop_index_;
  const RunClock& clock_;
  LatencyHistogram& ack_latency_;
  BenchConnection conn_;
  const int qos_;
  const std::size_t size_;
  const std::uint32_t window_;
  const std::uint64_t count_;
  const std::uint64_t interval_ns_;  // rate mode: time between two messages; 0: no rate
  const std::uint16_t keepalive_;
  std::vector<Stream*> streams_;
  std::string filler_;
  bool ready_ = false;
  bool stopped_ = false;
  std::string failure_;
  std::uint64_t sent_value_ = 0;  // this thread's copy of `sent`

  // QoS 1/2: per packet id 0 free, 1 awaiting PUBACK, 2 awaiting PUBREC, 3 awaiting PUBCOMP.
  std::vector<std::uint8_t> ids_;
  std::vector<std::uint64_t> sent_at_;  // per packet id: when its PUBLISH was produced
  std::uint16_t next_id_ = 0;
  std::uint64_t unacked_ = 0;
  std::uint32_t receive_maximum_ = 65535;  // MQTT 5 CONNACK Receive Maximum

  // A window that makes no progress for a second is re-opened (and counted): the broker lost
  // the messages it waits for, and the run must still end.
  std::uint64_t window_floor_ = 0;
  std::uint64_t last_progress_ = 0;
  std::uint64_t last_progress_ns_ = 0;
  std::uint64_t stalls_ = 0;
  std::uint64_t max_lag_ = 0;
};

// Counters of one subscriber; summed over all at the end.
struct SubscriberCounts {
  std::uint64_t fresh = 0;       // distinct deliveries
  std::uint64_t in_window = 0;   // ... before the deadline
  std::uint64_t misrouted = 0;  // wrong topic, or a publisher this subscriber does not follow
  std::uint64_t corrupt = 0;
  std::uint64_t wrong_qos = 0;
  std::uint64_t last_delivery_ns = 0;
};

class Subscriber final : public ConnectionSink {
 public:
  // `first_publisher`..+`streams.size()`: the publishers whose messages this subscriber expects.
  Subscriber(std::uint32_t index, std::string filter, Loop& loop, std::size_t loop_index, const BenchOptions& o,
             const RunClock& clock, LatencyHistogram& latency);

  void expect(std::uint32_t first_publisher, std::vector<Stream*> streams);
  const std::vector<Stream*>& streams() const { return streams_; }
  BenchConnection& connection() { return conn_; }
  bool ready() const { return ready_; }
  const std::string& failure() const { return failure_; }
  const SubscriberCounts& counts() const { return counts_; }

  void on_open(BenchConnection& c) override;
  void on_packet(BenchConnection& c, mqtt::Packet&& p) override;
  void on_publish(BenchConnection& c, const mqtt::PublishView& p) override;
  void on_short_ack(BenchConnection& c, mqtt::PacketType type, mqtt::PacketId id) override;
  void on_closed(BenchConnection& c, std::string_view why) override;

 private:

  const std::uint32_t index_;
  const std::string filter_;
  const std::size_t loop_index_;
  const RunClock& clock_;
  LatencyHistogram& latency_;
  BenchConnection conn_;
  const int qos_;
  const std::uint16_t keepalive_;
  const bool persistent_;
  std::uint32_t first_publisher_ = 0;
  std::vector<Stream*> streams_;
  bool ready_ = false;
  std::string failure_;
  SubscriberCounts counts_;
};

// The payload's first bytes: who sent it, its number, when.
struct PayloadHeader {
  std::uint32_t publisher = 0;
  std::uint32_t magic = 0;
  std::uint64_t seq = 0;
  std::uint64_t sent_ns = 0;
};
inline constexpr std::uint32_t kPayloadMagic = 0x48524d44;  // "HRMD"
inline constexpr std::size_t kPayloadHeaderSize = sizeof(PayloadHeader);
static_assert(kPayloadHeaderSize == 24);

// The client id of role `what` number `index` in this process.
std::string bench_client_id(const char* what, std::uint32_t index);

}  // namespace hermod::cli::bench
