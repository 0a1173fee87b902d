// hermod::client::Client: the asynchronous MQTT client (3.1, 3.1.1 and 5.0) on Boost.Asio.
//
// What it does: connects with every CONNECT option (ClientOptions); publishes at QoS 0/1/2 and
// completes each publish when its handshake ends (QoS 0: when handed to the transport; QoS 1:
// PUBACK; QoS 2: PUBCOMP), with the MQTT 5 reason code; subscribes and unsubscribes with a reason
// code per filter; delivers incoming messages to the message handler, answering QoS 1/2 itself
// (QoS 2 delivered once per packet id until PUBREL); sends PINGREQ when the link is quiet and
// declares it dead when nothing answers; reconnects with exponential backoff and jitter, resending
// in-flight QoS 1/2 messages with DUP and re-subscribing when the broker lost the session; queues
// publishes made while disconnected in a bounded buffer. See client_session.hpp for the rules.
//
// Threads: one owner thread. The Client and its handlers run on the executor given to create();
// the io_context behind it must be run by exactly one thread (SyncClient does that for you). The
// async_* methods may be called from any thread: they post their work to the executor and never
// complete inline. The set_*_handler methods and the queries (connected(), session()) are for the
// owner thread, or before the io_context runs.
//
// Lifetime: create() returns a shared_ptr; pending operations keep the Client alive only while they
// run. Destroying the last reference closes the connection and completes every pending operation
// with Errc::cancelled (posted to the executor, so after the destructor returns). For an orderly
// end, call async_disconnect() and wait for it.
//
// Errors: every failure is a value passed to a completion handler (see error.hpp): transport
// errors, Errc values, or MQTT reason codes from the broker. Nothing here throws.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "client/backoff.hpp"
#include "client/client_session.hpp"
#include "client/error.hpp"
#include "client/message.hpp"
#include "client/options.hpp"
#include "client/transport.hpp"
#include "mqtt/decoder.hpp"

namespace hermod::client {

class Client : public std::enable_shared_from_this<Client> {
 public:
  // Called with every packet sent (outgoing = true) or received, before it is acted on.
  using TraceHandler = std::function<void(bool outgoing, const mqtt::Packet&)>;
  using ConnectedHandler = std::function<void(const ConnectResult&)>;
  using DisconnectedHandler = std::function<void(const DisconnectInfo&)>;

  // `factory` makes one transport per connection attempt; the default is plain TCP.
  static std::shared_ptr<Client> create(const boost::asio::any_io_executor& ex, ClientOptions options,
                                        TransportFactory factory = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // ---- handlers: set before async_connect, from the owner thread ----
  // Every message the broker delivers, in arrival order.
  void set_message_handler(MessageHandler h) { on_message_ = std::move(h); }
  // Every accepted CONNACK, including those of reconnects.
  void set_connected_handler(ConnectedHandler h) { on_connected_ = std::move(h); }
  // Every loss of an established connection, saying why and whether a reconnect follows.
  void set_disconnected_handler(DisconnectedHandler h) { on_disconnected_ = std::move(h); }
  void set_trace_handler(TraceHandler h) { on_trace_ = std::move(h); }

  // ---- operations: any thread ----
  // Connects (TCP, CONNECT, CONNACK) and completes with the outcome of the first connection:
  // success with the CONNACK, a transport error, Errc::connect_timeout, or the broker's refusal as
  // a reason code (reason_of(ec)). Later connections are reported to the connected/disconnected
  // handlers. Fails with Errc::already_connecting if a connection exists or is being made. A Client
  // that was disconnected may connect again (its subscription registry and state are kept).
  void async_connect(ConnectHandler handler);

  // Publishes `msg` (topic, payload, qos, retain, props). Accepted at any time before
  // async_disconnect(): while disconnected it waits in the offline buffer. Fails with
  // Errc::invalid_argument (bad topic name, QoS > 2, too large), Errc::offline_buffer_full,
  // Errc::not_connected (stopped: reconnect disabled and the connection gone, or disconnected),
  // a PUBACK/PUBREC failure reason, Errc::session_lost, or Errc::cancelled.
  void async_publish(Message msg, PublishHandler handler = {});

  // Subscribes; the result has one reason code per filter (granted QoS or failure). Granted
  // filters are remembered and restored if the broker later loses the session. Requests made while
  // disconnected are sent on connect. Fails with Errc::invalid_argument for an empty list or an
  // invalid filter or option, Errc::offline_buffer_full if all 65535 packet ids await an ack.
  void async_subscribe(std::vector<mqtt::TopicSubscription> subs, mqtt::Properties props,
                       SubscribeHandler handler);
  void async_subscribe(std::string filter, std::uint8_t qos, SubscribeHandler handler);

  void async_unsubscribe(std::vector<std::string> filters, mqtt::Properties props,
                         UnsubscribeHandler handler);

  // Sends DISCONNECT (with `reason` and `props` on MQTT 5), closes the connection once the queued
  // bytes are written (or after a short grace time), stops reconnecting, and fails everything still
  // pending with Errc::cancelled. A will is published by the broker only for reasons that ask
  // for it (MQTT 5 disconnect_with_will_message).
  void async_disconnect(DisconnectHandler handler = {},
                        mqtt::ReasonCode reason = mqtt::ReasonCode::success, mqtt::Properties props = {});

  // ---- queries: owner thread ----
  bool connected() const { return state_ == State::connected; }
  // The client id in use: the configured one, or the one an MQTT 5 broker assigned.
  const std::string& client_id() const { return client_id_; }
  const ClientSession& session() const { return session_; }
  const ClientOptions& options() const { return options_; }
  const boost::asio::any_io_executor& executor() const { return ex_; }

 private:
  enum class State { idle, connecting, awaiting_connack, connected, backing_off, closing, stopped };
  struct Link;

  Client(const boost::asio::any_io_executor& ex, ClientOptions options, TransportFactory factory);

  // Connection lifecycle (client.cpp).
  void start_attempt();
  void on_transport_connected(const std::shared_ptr<Link>& link, std::error_code ec);
  // The current connection is over: close it (after writing what is queued if `flush`), then
  // reconnect or stop.
  void link_down(std::error_code ec, std::string detail, bool flush = false);
  void abort_link(Errc errc, mqtt::ReasonCode reason, std::string_view detail);
  void retire(const std::shared_ptr<Link>& link, bool flush_first);
  void close_link(const std::shared_ptr<Link>& link);
  void schedule_reconnect();
  void stop(std::error_code ec);
  void finish_first_connect(std::error_code ec, const ConnectResult& result);
  void arm_connect_timer(const std::shared_ptr<Link>& link);
  void arm_keepalive();
  void on_keepalive_timer(const std::shared_ptr<Link>& link);
  void do_publish(Message msg, PublishHandler handler);
  void do_disconnect(DisconnectHandler handler, mqtt::ReasonCode reason, mqtt::Properties props);

  // Bytes and packets (client_io.cpp).
  void send(const mqtt::Packet& packet);
  void start_write(const std::shared_ptr<Link>& link);
  void on_write(const std::shared_ptr<Link>& link, std::error_code ec);
  void start_read(const std::shared_ptr<Link>& link);
  void on_read(const std::shared_ptr<Link>& link, std::error_code ec, std::size_t n);
  void handle_packet(mqtt::Packet&& packet);
  void handle_connack(const mqtt::Connack& c);
  void handle_publish(mqtt::Publish&& p);
  void handle_pubrel(const mqtt::Pubrel& r);
  void handle_pubrec(const mqtt::Pubrec& r);
  void handle_disconnect(const mqtt::Disconnect& d);
  void send_sendable();
  void run(std::vector<PublishCompletion>& done);
  void run(std::optional<PublishCompletion>& done);
  void run(std::optional<RequestCompletion>& done);
  void run(std::vector<RequestCompletion>& done);
  mqtt::Connect make_connect() const;

  boost::asio::any_io_executor ex_;
  ClientOptions options_;
  TransportFactory factory_;
  ClientSession session_;
  Backoff backoff_;
  State state_ = State::idle;
  std::string client_id_;
  std::shared_ptr<Link> link_;  // the current connection, if any

  bool first_connect_pending_ = false;
  ConnectHandler connect_handler_;
  std::vector<DisconnectHandler> disconnect_handlers_;

  boost::asio::steady_timer connect_timer_;
  boost::asio::steady_timer keepalive_timer_;
  boost::asio::steady_timer reconnect_timer_;
  std::chrono::seconds keep_alive_{0};  // in force on this connection (server keep alive wins)
  std::chrono::steady_clock::time_point last_sent_{};
  std::chrono::steady_clock::time_point last_received_{};
  std::optional<std::chrono::steady_clock::time_point> ping_deadline_;
  std::unordered_map<std::uint16_t, std::string> topic_aliases_;  // incoming, per connection

  MessageHandler on_message_;
  ConnectedHandler on_connected_;
  DisconnectedHandler on_disconnected_;
  TraceHandler on_trace_;
};

}  // namespace hermod::client
