// SyncClient: a blocking facade over Client for simple programs, scripts and examples.
//
//   hermod::client::SyncClient c({.host = "127.0.0.1", .client_id = "sensor-1"});
//   c.connect();
//   c.subscribe("cmd/#", 1);
//   c.publish("sensor/1/temp", "21.5", 1);
//   if (auto m = c.receive(std::chrono::seconds(5))) std::cout << m->topic << " " << m->payload;
//   c.disconnect();
//
// It owns an io_context and one background thread running it; the async Client lives there.
// Every call blocks until the operation completes or its timeout passes, and throws ClientError
// (error.hpp) on failure: exceptions are this layer's way of reporting, the async core has none.
// Incoming messages are queued without bound until receive() takes them.
//
// Threads: the methods may be called from any one thread at a time, but never from inside a
// handler running on the background thread (that would wait for itself). Destruction
// disconnects (best effort, bounded) and joins the thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "client/client.hpp"

namespace hermod::client {

class SyncClient {
 public:
  using Duration = std::chrono::milliseconds;
  static constexpr Duration kDefaultTimeout = std::chrono::seconds(10);

  explicit SyncClient(ClientOptions options, TransportFactory factory = {});
  ~SyncClient();
  SyncClient(const SyncClient&) = delete;
  SyncClient& operator=(const SyncClient&) = delete;

  // Connects; throws ClientError on refusal (reason_of(e.code())), transport error or timeout.
  ConnectResult connect(Duration timeout = kDefaultTimeout);
  // Publishes and waits for the handshake of its QoS to finish.
  PublishResult publish(std::string topic, std::string payload, std::uint8_t qos = 0, bool retain = false,
                        mqtt::Properties props = {}, Duration timeout = kDefaultTimeout);
  // Subscribes; returns the per-filter reason codes (failures are reported there, not thrown).
  SubscribeResult subscribe(std::string filter, std::uint8_t qos, Duration timeout = kDefaultTimeout);
  SubscribeResult subscribe(std::vector<mqtt::TopicSubscription> subs, mqtt::Properties props = {},
                            Duration timeout = kDefaultTimeout);
  UnsubscribeResult unsubscribe(std::vector<std::string> filters, Duration timeout = kDefaultTimeout);
  // The next message, waiting up to `timeout`; nullopt if none came.
  std::optional<Message> receive(Duration timeout);
  void disconnect(Duration timeout = kDefaultTimeout);

  // The async client underneath, for what the facade does not cover. Its handlers run on the
  // background thread; set them before connect().
  Client& async() { return *client_; }

 private:
  template <typename Result, typename Start>
  Result wait_for(Duration timeout, Start start);

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::shared_ptr<Client> client_;
  std::thread thread_;

  std::mutex mutex_;
  std::condition_variable arrived_;
  std::deque<Message> inbox_;
};

}  // namespace hermod::client
