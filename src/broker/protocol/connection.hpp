// One client's MQTT protocol state over its Link: the state before and after CONNECT, the
// session it is attached to, keepalive, the will, enhanced authentication, and the dispatch of
// decoded packets to the handlers, one file per packet family: handle_connect.cpp,
// handle_auth.cpp, handle_publish.cpp, handle_subscribe.cpp. Handlers reach the rest of the
// broker only through the Context (context.hpp).
//
// Decoding: every complete packet in the bytes of a read is decoded where it lies (the worker's
// scratch buffer); only an incomplete packet's tail is kept here. PUBLISH without properties and
// bare acknowledgements take a fast path without building a Packet.
// Errors: malformed input and protocol violations close this connection with the reason code
// the standard names; an exception escaping a handler closes this connection only (MQTT 5:
// DISCONNECT 0x83), and the worker goes on serving the others.
// Lifetime: as Link. Worker thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "base/log.hpp"
#include "broker/connection/link.hpp"
#include "broker/limits/token_bucket.hpp"
#include "broker/protocol/context.hpp"
#include "broker/session/session.hpp"
#include "mqtt/decoder.hpp"
#include "mqtt/packet.hpp"

namespace hermod::broker {

struct ConnectionAuth;
namespace auth {
struct AuthStep;
enum class PasswordCheck;
}  // namespace auth

enum class CloseReason {
  client_disconnect,  // DISCONNECT received: no will
  connection_lost,    // EOF or stream error
  protocol_error,     // malformed packet or protocol violation
  keepalive_timeout,
  connect_timeout,
  session_taken_over,
  refused,            // CONNACK with a failure code sent
  user_removed,       // a reload removed the client's user from the password file
  auth_failed,        // MQTT 5 re-authentication failed
  address_refused,    // PROXY protocol: the client the header named is over an address limit (no MQTT answer)
  server_shutdown,
  store_failure,      // the store could not write what this turn would have acknowledged
  internal_error,     // a handler failed (an exception): this client only
  administrative,     // the admin API disconnected it (MQTT 5: 0x98)
};
const char* to_string(CloseReason r);

class Connection final : public Link {
 public:
  // `listener`: the configuration of the listener that accepted it (null in unit tests); it
  // outlives the connection.
  Connection(Context& context, std::unique_ptr<net::Stream> stream, const ListenerConfig* listener = nullptr);
  ~Connection() override;

  // Starts reading a freshly accepted connection.
  void start() { start_reading(); }
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

  // The CONNECT or keepalive deadline that has passed at `now`, if one has.
  std::optional<CloseReason> timed_out(Clock::time_point now) const;
  void release_idle_buffers() override;
  // Lifts a pause of reading: decodes what waits in inbuf_, then reads again.
  void resume_after_pause(Pause why);

  Session* session() const { return session_; }
  // For the admin API: the keepalive the client asked for, the listener that accepted it (null
  // in unit tests), and when its CONNECT was accepted (Unix milliseconds; 0 before).
  std::uint16_t keep_alive() const { return keep_alive_; }
  const ListenerConfig* listener() const { return listener_; }
  std::int64_t connected_since_ms() const { return connected_since_ms_; }
  bool clean_start() const { return clean_start_; }  // its CONNECT's Clean Start / Clean Session
  // The user name this client proved with the password file (a password or SCRAM), or null.
  const std::string* password_user() const;
  void mark_counted() { counted_ = true; }
  // Its place in the listener's and address's counts, released when it closes (or moved along
  // with a hand-off).
  void hold(AdmissionTable::Slot slot) { slot_ = std::move(slot); }

 protected:
  void on_bytes(std::string_view data) override;
  void on_lost() override { close(CloseReason::connection_lost); }
  void on_resumed() override {
    if (state_ == State::connected) last_received_ = context_.clock.now();
  }

 private:
  // checking: CONNECT received, its password is being checked off the worker thread.
  // authenticating: an enhanced authentication exchange runs (no CONNACK yet).
  enum class State : std::uint8_t { awaiting_connect, checking, authenticating, connected, closed, handed_off };
  // A CONNECT parked while something finishes: its hand-off to the home worker (home set), or
  // its password check.
  struct Parked {
    mqtt::Connect connect;
    std::uint32_t home = 0;
    bool hand_off = false;
  };

  Context& ctx() const { return static_cast<Context&>(context_); }
  const Config& config() const { return context_.config; }

  // Runs `f`; an exception it throws closes this connection (0x83), never the worker.
  template <typename F>
  void guarded(F&& f);
  // Decodes every complete packet in `data`; keeps an incomplete tail in inbuf_.
  void process(std::string_view data);
  void on_packet(mqtt::Packet&& packet);
  void fail(const hermod::Error& error);

  // Packet handlers, one file per family.
  void handle_connect(mqtt::Connect&& c);
  // On the home worker: checks user name and password (off the worker when that is slow), or
  // starts enhanced authentication; accept_connect() follows once the client is authenticated.
  void authenticate(mqtt::Connect&& c);
  void password_checked(auth::PasswordCheck verdict, mqtt::Connect&& c);
  // A listener with identity_as_username: the verified client certificate names the user. True
  // if that decided the CONNECT (accepted or refused); false if the client has no certificate.
  bool authenticate_by_certificate(mqtt::Connect& c);
  void start_enhanced_auth(mqtt::Connect&& c);
  void handle_auth(mqtt::Auth&& a);
  // Feeds the client's Authentication Data to the running exchange and acts on its answer.
  void auth_step(std::string_view client_data);
  void auth_succeeded(auth::AuthStep&& step);
  void auth_failed(auth::AuthStep&& step);
  void accept_connect(mqtt::Connect&& c);
  // CONNACK with `reason` (logged with `why`, at debug level when `summed`: a RateLimitedLog
  // counts it), then close.
  void refuse_connect(mqtt::ReasonCode reason, std::string_view why = {}, mqtt::Properties props = {},
                      bool summed = false);
  // PROXY protocol: the deny and allow lists and the per-address limits for the client the
  // header named, on its first bytes. False after closing the connection.
  bool admit_proxied_client();
  // The flapping ban (limits.flapping_*) for a CONNECT on its home worker. False after refusing it.
  bool flap_check(const std::string& client_id);
  // limits.login_failure_*: this client's address group, and whether a CONNECT with credentials
  // must wait before its check (then `c` is parked and checked when the wait is over).
  AddressGroup login_group() const;
  bool login_wait(mqtt::Connect& c);
  // A failed login (wrong password, unknown user, failed SCRAM exchange): refused, the answer
  // held for the address group's delay.
  void login_failed(mqtt::ReasonCode reason, std::string why, mqtt::Properties props = {});
  // A successful login with credentials: the address group's failures are forgotten.
  void login_succeeded(const mqtt::Connect& c);
  // The connected gauges, overall and of its listener and protocol version (up: past CONNACK).
  void count_connected(bool up);
  // Runs `f` on this connection after `delay` (a login delay), reading paused meanwhile.
  template <typename F>
  void after_login_delay(Clock::duration delay, F&& f);
  void hand_off(std::uint32_t home, mqtt::Connect&& c, std::string leftover);
  // A PUBLISH with properties (MQTT 5): their checks, then publish_received().
  void handle_publish(mqtt::Publish&& p);
  // Routes and acknowledges a PUBLISH; `props` null when it had none (the fast path).
  void publish_received(const mqtt::PublishView& p, mqtt::Properties* props);
  // limits.message_rate and byte_rate for one PUBLISH: takes its tokens and pauses reading
  // while the client is over a rate. Returns success, or the MQTT 5 code refusing it (0x97)
  // for a QoS 1/2 PUBLISH that the bucket cannot pay for.
  mqtt::ReasonCode rate_check(const mqtt::PublishView& p, const Limits& limits);
  // Why this client may not publish to `topic` (the ACL, or a '$' topic without one), or null.
  const char* publish_refusal(std::string_view topic);
  // PUBACK, PUBREC, PUBREL or PUBCOMP from the client.
  void handle_ack(mqtt::PacketType type, mqtt::PacketId id, mqtt::ReasonCode reason);
  void handle_puback(mqtt::PacketId id);
  void handle_pubrec(mqtt::PacketId id, mqtt::ReasonCode reason);
  void handle_pubrel(mqtt::PacketId id);
  void handle_pubcomp(mqtt::PacketId id);
  void handle_subscribe(mqtt::Subscribe&& s);
  // Whether the ACL in force lets this client subscribe to `filter` (logged once if not).
  bool may_subscribe(std::string_view filter);
  struct AcceptedSubscription {
    mqtt::TopicSubscription sub;
    bool existed;  // replaced a subscription of the same filter
  };
  // Every replica routes to the new subscriptions: SUBACK, then retained messages.
  void subscribed(const mqtt::Suback& ack, const std::vector<AcceptedSubscription>& accepted,
                  std::uint32_t subscription_id);
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
  std::shared_ptr<Connection> self() { return std::static_pointer_cast<Connection>(shared_from_this()); }

  State state_ = State::awaiting_connect;
  bool counted_ = false;  // counted in Services::connections
  bool login_waited_ = false;  // this CONNECT already waited for its address group's login delay
  bool login_hold_ = false;    // a login delay holds this CONNECT or its refusal (no connect timeout)
  bool warned_refused_ = false;  // logged a PUBLISH dropped by the ACL or for its '$' topic
  bool warned_subscribe_ = false;  // logged a SUBSCRIBE filter the ACL refused
  bool warned_rate_ = false;       // logged that the client went over its message or byte rate
  bool clean_start_ = false;
  bool user_from_certificate_ = false;  // the user name is the client certificate's identity
  std::uint16_t keep_alive_ = 0;
  std::int64_t connected_since_ms_ = 0;
  Session* session_ = nullptr;
  const ListenerConfig* listener_;
  // Heap-held: most connections have no will and are never handed over.
  std::unique_ptr<mqtt::Will> will_;
  // Until CONNECT is accepted: when the connection was accepted (the connect timeout counts from
  // there, however slowly bytes trickle in). Afterwards: when bytes last arrived (keepalive).
  Clock::time_point last_received_;
  std::unique_ptr<std::string> inbuf_;    // bytes of an incomplete packet; null when there are none
  std::unique_ptr<ConnectionAuth> auth_;  // null unless the client uses enhanced authentication
  std::unique_ptr<Parked> parked_;        // null unless a CONNECT waits for a hand-off or a check
  struct PublishRate {
    TokenBucket messages;
    TokenBucket bytes;
    std::unique_ptr<boost::asio::steady_timer> timer;  // ends a pause
  };
  std::unique_ptr<PublishRate> rate_;     // null unless the client is under a message or byte rate
  std::unique_ptr<boost::asio::steady_timer> login_timer_;  // null unless a login delay held this CONNECT
  AdmissionTable::Slot slot_;
};

template <typename F>
void Connection::guarded(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    // A bug or an exhausted resource while serving this client: it alone pays for it.
    logger("client")->error("{} {}: internal error, closing the connection: {}", remote(),
                            session_ ? session_->client_id() : std::string("(no CONNECT)"), e.what());
    if (!closed()) close(CloseReason::internal_error, mqtt::ReasonCode::implementation_specific_error);
  }
}

}  // namespace hermod::broker
