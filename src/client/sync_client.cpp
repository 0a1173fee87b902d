#include "client/sync_client.hpp"

#include <future>

#include <boost/asio/post.hpp>

namespace hermod::client {

SyncClient::SyncClient(ClientOptions options, TransportFactory factory)
    : work_(io_.get_executor()),
      client_(Client::create(io_.get_executor(), std::move(options), std::move(factory))) {
  client_->set_message_handler([this](const Message& m) {
    {
      std::lock_guard lock(mutex_);
      inbox_.push_back(m);
    }
    arrived_.notify_one();
  });
  thread_ = std::thread([this] { io_.run(); });
}

SyncClient::~SyncClient() {
  try {
    disconnect(std::chrono::seconds(2));
  } catch (...) {
    // Best effort: a destructor has nobody to report to.
  }
  // The Client is destroyed on its own thread, so its timers and sockets are never touched by two
  // threads at once; then the loop stops, whatever is left in it.
  boost::asio::post(io_, [this, client = std::move(client_)]() mutable {
    client.reset();
    io_.stop();
  });
  thread_.join();
}

// Starts an operation on the client thread with a handler that fulfils a promise, then waits.
template <typename Result, typename Start>
Result SyncClient::wait_for(Duration timeout, Start start) {
  auto promise = std::make_shared<std::promise<std::pair<std::error_code, Result>>>();
  auto future = promise->get_future();
  start([promise](std::error_code ec, const Result& r) {
    promise->set_value({ec, r});
  });
  if (future.wait_for(timeout) != std::future_status::ready) {
    throw ClientError(Errc::timeout, "no answer within " + std::to_string(timeout.count()) + " ms");
  }
  auto [ec, result] = future.get();
  if (ec) throw ClientError(ec, "");
  return result;
}

ConnectResult SyncClient::connect(Duration timeout) {
  return wait_for<ConnectResult>(timeout, [&](auto handler) { client_->async_connect(std::move(handler)); });
}

PublishResult SyncClient::publish(std::string topic, std::string payload, std::uint8_t qos, bool retain,
                                  mqtt::Properties props, Duration timeout) {
  Message m;
  m.topic = std::move(topic);
  m.payload = std::move(payload);
  m.qos = qos;
  m.retain = retain;
  m.props = std::move(props);
  return wait_for<PublishResult>(timeout, [&](auto handler) {
    client_->async_publish(std::move(m), std::move(handler));
  });
}

SubscribeResult SyncClient::subscribe(std::string filter, std::uint8_t qos, Duration timeout) {
  mqtt::TopicSubscription s;
  s.filter = std::move(filter);
  s.options.qos = qos;
  return subscribe(std::vector<mqtt::TopicSubscription>{std::move(s)}, {}, timeout);
}

SubscribeResult SyncClient::subscribe(std::vector<mqtt::TopicSubscription> subs, mqtt::Properties props,
                                      Duration timeout) {
  return wait_for<SubscribeResult>(timeout, [&](auto handler) {
    client_->async_subscribe(std::move(subs), std::move(props), std::move(handler));
  });
}

UnsubscribeResult SyncClient::unsubscribe(std::vector<std::string> filters, Duration timeout) {
  return wait_for<UnsubscribeResult>(timeout, [&](auto handler) {
    client_->async_unsubscribe(std::move(filters), {}, std::move(handler));
  });
}

std::optional<Message> SyncClient::receive(Duration timeout) {
  std::unique_lock lock(mutex_);
  if (!arrived_.wait_for(lock, timeout, [this] { return !inbox_.empty(); })) return std::nullopt;
  Message m = std::move(inbox_.front());
  inbox_.pop_front();
  return m;
}

void SyncClient::disconnect(Duration timeout) {
  auto promise = std::make_shared<std::promise<void>>();
  auto future = promise->get_future();
  client_->async_disconnect([promise](std::error_code) { promise->set_value(); });
  if (future.wait_for(timeout) != std::future_status::ready) {
    throw ClientError(Errc::timeout, "disconnect did not finish");
  }
}

}  // namespace hermod::client
