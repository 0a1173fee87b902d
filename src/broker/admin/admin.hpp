// What the admin API asks of a running broker, as plain values: connected clients, sessions,
// subscriptions, retained messages, bans, and the actions (disconnect, end a session, publish,
// set or clear a retained message, lift a ban). No HTTP or JSON here (src/http/admin_api.cpp
// turns these into the API of docs/admin-api.yaml).
//
// Threads: called from any thread (the HTTP server's). Each query is posted to the workers that
// own what it asks about and answered from there: `done` runs on a worker thread, once, and
// must not block. Nothing takes a lock that a worker's publish path takes; a page of a list is
// one scan of each worker's sessions (O(sessions), not O(sessions x pages)) and a partial sort.
//
// Lists are paged by key (client id; client id and filter; topic): a page holds the first
// `limit` keys greater than `after`, so entries added while a list is read come on a later page
// or not at all, never twice.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace hermod::broker {
class Broker;
}

namespace hermod::broker::admin {

struct PageQuery {
  std::size_t limit = 100;
  std::string after;  // keys greater than this; empty: from the start
};

template <typename T>
struct Page {
  std::vector<T> items;
  std::optional<std::string> next;  // the last item's key when more follow
};

struct SubscriptionInfo {
  std::string client_id;
  std::string filter;
  std::uint8_t qos = 0;
  bool no_local = false;
  bool retain_as_published = false;
  std::uint8_t retain_handling = 0;
  std::uint32_t subscription_id = 0;
};

struct ClientInfo {
  std::string client_id;
  std::optional<std::string> username;
  std::string address;
  std::string listener;   // "127.0.0.1:1883"
  std::string transport;  // tcp | tls | ws | wss
  std::string protocol;   // "3.1" | "3.1.1" | "5.0"
  std::uint16_t keepalive = 0;
  std::int64_t connected_since_ms = 0;  // Unix milliseconds
  bool clean_start = false;
  std::uint32_t session_expiry = 0;
  std::size_t inflight = 0;
  std::size_t queued = 0;
  std::size_t subscriptions = 0;
  std::vector<SubscriptionInfo> filters;  // only for client()
};

struct SessionInfo {
  std::string client_id;
  bool online = false;
  bool persistent = false;
  std::uint32_t expiry_interval = 0;
  std::size_t queued = 0;
  std::size_t inflight = 0;
  std::size_t subscriptions = 0;
};

struct RetainedInfo {
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
};

struct BanInfo {
  enum class Kind { client, address } kind = Kind::client;
  std::string key;           // client id, or address group ("127.0.0.1/32")
  double seconds_left = 0;
  std::uint32_t delay_ms = 0;  // address: the delay of its next login
};

enum class SessionFilter { all, online, offline };

// One worker's sessions summed (for /metrics).
struct SessionCounts {
  std::uint64_t online = 0;
  std::uint64_t offline = 0;
  std::uint64_t queued = 0;    // messages waiting in session queues
  std::uint64_t inflight = 0;  // outgoing QoS 1/2 messages sent and not yet acknowledged
};

struct Disconnected {
  bool found = false;          // a client or session of that id existed
  bool disconnected = false;   // a connection was closed
  bool session_dropped = false;
};

struct PublishRequest {
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
  bool retain = false;
};

class Admin {
 public:
  explicit Admin(Broker& broker) : broker_(broker) {}

  void clients(PageQuery page, std::string search, std::function<void(Page<ClientInfo>)> done);
  // One connected client with its subscriptions; nullopt if no client of that id is connected.
  void client(std::string client_id, std::function<void(std::optional<ClientInfo>)> done);
  // Closes the client's connection (MQTT 5: DISCONNECT 0x98 Administrative action; its will is
  // published as for any close the client did not ask for); with `drop_session`, its session
  // ends too (also an offline one).
  void disconnect(std::string client_id, bool drop_session, std::function<void(Disconnected)> done);
  void sessions(PageQuery page, SessionFilter filter, std::function<void(Page<SessionInfo>)> done);
  // Each worker's sessions counted, in worker order: one scan of its sessions (O(sessions); no
  // counter on the publish path keeps these).
  void session_counts(std::function<void(std::vector<SessionCounts>)> done);
  void subscriptions(PageQuery page, std::optional<std::string> client_id,
                     std::function<void(Page<SubscriptionInfo>)> done);
  // Retained messages matching `filter` (a valid filter; see valid_filter()), by topic. Runs on
  // the calling thread (the retained store takes its own lock).
  Page<RetainedInfo> retained(PageQuery page, const std::string& filter) const;
  std::optional<RetainedInfo> retained_one(const std::string& topic) const;
  // Publishes as the broker (no publisher session): on worker 0, like $SYS. A retained message
  // with an empty payload clears the topic's retained message [MQTT-3.3.1-10].
  void publish(PublishRequest p, std::function<void()> done);
  void bans(std::function<void(std::vector<BanInfo>)> done);
  // Lifts a flapping ban (client id) or forgets an address group's failed logins.
  void lift_ban(BanInfo::Kind kind, std::string key, std::function<void(bool lifted)> done);

  // Checks for the API's input: an empty string if fine, else why not.
  static std::string check_topic_name(const std::string& topic);
  static std::string check_topic_filter(const std::string& filter);

 private:
  Broker& broker_;
};

}  // namespace hermod::broker::admin
