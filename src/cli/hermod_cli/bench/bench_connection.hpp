// One MQTT client connection of the load generator: a non-blocking TCP socket (TCP_NODELAY) on a
// Loop, the bytes of an incomplete incoming packet, and an output buffer written once per loop
// turn. For a TLS or WebSocket run a TransportLayer sits between the socket and the MQTT bytes
// (its handshakes run before on_open); a plain TCP connection has none and takes the same path
// as before it existed. Incoming bytes are read into the loop's scratch buffer and decoded with the project's
// codec (parse_fixed_header + decode_packet); every packet goes to the Sink. Nothing here knows
// about publishers or subscribers.
// Thread: the loop's thread only. The Sink must outlive the connection.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "bench/event_loop.hpp"
#include "bench/transport_layer.hpp"
#include "mqtt/decoder.hpp"
#include "mqtt/packet.hpp"

namespace hermod::cli::bench {

class BenchConnection;

// The IPv4 address of `host` (a name or a dotted quad) with `port`. Throws std::runtime_error.
sockaddr_in resolve_ipv4(const std::string& host, int port);

// What a connection reports to its owner.
class ConnectionSink {
 public:
  // TCP (and TLS, WebSocket) is up; the owner sends CONNECT.
  virtual void on_open(BenchConnection& c) = 0;
  virtual void on_packet(BenchConnection& c, mqtt::Packet&& p) = 0;
  // The per-message packets come without building an mqtt::Packet (its Properties and strings
  // were two thirds of the generator's CPU on fanout): a PUBLISH without properties as views
  // into the read buffer, and a 2-byte PUBACK/PUBREC/PUBREL/PUBCOMP as its type and id.
  virtual void on_publish(BenchConnection& c, const mqtt::PublishView& p) = 0;
  virtual void on_short_ack(BenchConnection& c, mqtt::PacketType type, mqtt::PacketId id) = 0;
  // The output buffer drained below the high-water mark after having been above it.
  virtual void on_writable(BenchConnection&) {}
  // The connection failed or the broker closed it; `why` is a static description.
  virtual void on_closed(BenchConnection& c, std::string_view why) = 0;

 protected:
  ~ConnectionSink() = default;
};

class BenchConnection final : public Loop::Handler {
 public:
  // Output bytes above which the owner should stop producing until on_writable().
  static constexpr std::size_t kHighWater = 256 * 1024;

  BenchConnection(Loop& loop, ConnectionSink& sink, mqtt::ProtocolVersion version);
  ~BenchConnection();
  BenchConnection(const BenchConnection&) = delete;
  BenchConnection& operator=(const BenchConnection&) = delete;

  // Starts a non-blocking connect to `to`, from `from` if given (any port), with `layer` (TLS,
  // WebSocket) on top if given. False with errno set when the socket cannot even be created.
  bool open(const sockaddr_in& to, const sockaddr_in* from, std::unique_ptr<TransportLayer> layer = nullptr);
  // Sends what is queued (best effort) and closes.
  void close_gracefully();
  bool is_open() const { return fd_ >= 0; }

  // The output buffer: append encoded packets, then call queued().
  std::string& out() { return out_; }
  void queued();
  void send(const mqtt::Packet& p);
  bool congested() const { return out_.size() - out_off_ + (layer_ ? layer_->pending() : 0) > kHighWater; }

  mqtt::ProtocolVersion version() const { return version_; }
  Loop& loop() { return loop_; }

  void on_event(std::uint32_t events) override;
  void on_flush() override;

 private:
  void read_ready();
  void read_ready_layered();
  void handshake();
  // Writes out_ through the layer; false if the connection failed (and was closed).
  bool write_layered();
  void process(std::string_view data);
  void fail(std::string_view why);
  void update_interest();
  void set_interest(bool write);

  Loop& loop_;
  ConnectionSink& sink_;
  mqtt::ProtocolVersion version_;
  int fd_ = -1;
  bool connecting_ = false;
  bool handshaking_ = false;  // TCP is up, the layer's handshakes are not done
  bool dirty_ = false;
  bool want_write_ = false;
  bool was_congested_ = false;
  std::string in_;   // bytes of an incomplete packet
  std::string out_;  // bytes not yet written, from out_off_
  std::size_t out_off_ = 0;
  std::unique_ptr<TransportLayer> layer_;  // null: plain TCP
};

}  // namespace hermod::cli::bench
