// The broker test fixture: a real Broker without threads or listeners, whose workers'
// io_contexts the test runs on its own thread, clients over in-memory streams
// (fake_stream.hpp), a manual clock. Shared by the protocol and policy tests.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <stdexcept>

#include "base/clock.hpp"
#include "broker/broker.hpp"
#include "fake_stream.hpp"

namespace hermod::broker::testing_support {

using namespace std::chrono_literals;
using mqtt::ProtocolVersion;
using mqtt::ReasonCode;
using testing::FakePeer;
using testing::FakeStream;

// A retained store whose lookups for filters under "boom/" throw: a handler that fails.
class ThrowingRetained final : public RetainedStore {
 public:
  void set(const MessagePtr& m) override { inner_.set(m); }
  void match(std::string_view filter, std::vector<MessagePtr>& out) const override {
    if (filter.starts_with("boom/")) throw std::runtime_error("injected failure");
    inner_.match(filter, out);
  }
  std::size_t size() const override { return inner_.size(); }

 private:
  LocalRetainedStore inner_;
};

class BrokerTest : public ::testing::TestWithParam<ProtocolVersion> {
 protected:
  ProtocolVersion v() const { return GetParam(); }
  bool v5() const { return mqtt::is_v5(v()); }

  // `tune` adjusts the configuration before the broker is built.
  void make(unsigned workers = 1, std::uint32_t connect_timeout = 10, const std::string& data_dir = {},
            const std::function<void(Config&)>& tune = {}) {
    Config c;
    c.workers = workers;
    c.listeners.clear();
    c.sys_interval = 0;
    c.limits.connect_timeout = connect_timeout;
    if (!data_dir.empty()) {
      c.data_dir = data_dir;
      c.store_mode = "wal";
      c.ack_on_delivery_ms = 60'000;  // long: only the manual clock ends a hold
    }
    if (tune) tune(c);
    broker_ = std::make_unique<Broker>(c, Broker::Overrides{&clock_, &retained_});
    broker_->prepare();
  }

  // A fresh store directory, removed at the end of the test.
  std::string temp_store() {
    auto dir = std::filesystem::temp_directory_path() /
               ("hermod-unit-" + std::to_string(::getpid()) + "-" + std::to_string(++store_counter_));
    std::filesystem::remove_all(dir);
    stores_.push_back(dir);
    return dir.string();
  }
  void TearDown() override {
    if (broker_) {
      // Close every connection as a stop would, so no stream keeps its connection alive.
      for (std::uint32_t i = 0; i < broker_->worker_count(); ++i) broker_->worker(i).shutdown();
      run();
    }
    broker_.reset();
    for (const auto& d : stores_) std::filesystem::remove_all(d);
  }

  // Runs every worker's ready handlers until none is left (bounded).
  void run() {
    for (int round = 0; round < 1000; ++round) {
      std::size_t n = 0;
      for (std::uint32_t i = 0; i < broker_->worker_count(); ++i) {
        auto& io = broker_->worker(i).io();
        io.restart();
        n += io.poll();
      }
      if (n == 0) return;
    }
    FAIL() << "the workers never went idle";
  }

  // A client stream on worker `w` (the accepting worker).
  std::shared_ptr<FakePeer> open(std::uint32_t w = 0, std::optional<ProtocolVersion> version = {}) {
    auto peer = std::make_shared<FakePeer>(version.value_or(v()));
    auto& worker = broker_->worker(w);
    worker.adopt(std::make_unique<FakeStream>(worker.io(), peer), false)->start();
    return peer;
  }

  mqtt::Connect connect_packet(const std::string& id, bool clean = true, std::uint16_t keep_alive = 0) {
    mqtt::Connect c;
    c.version = v();
    c.client_id = id;
    c.clean_start = clean;
    c.keep_alive = keep_alive;
    return c;
  }

  // Opens a stream, sends `c` and returns the peer once its CONNACK arrived.
  std::shared_ptr<FakePeer> connect(mqtt::Connect c, std::uint32_t w = 0, mqtt::Connack* ack_out = nullptr) {
    auto peer = open(w, c.version);
    peer->send(c);
    run();
    auto packets = peer->packets();
    EXPECT_EQ(packets.size(), 1u) << "CONNACK expected";
    if (packets.empty()) return peer;
    const auto* ack = std::get_if<mqtt::Connack>(&packets[0]);
    EXPECT_NE(ack, nullptr);
    if (ack && ack_out) *ack_out = *ack;
    return peer;
  }
  std::shared_ptr<FakePeer> connect(const std::string& id, bool clean = true, std::uint32_t w = 0) {
    return connect(connect_packet(id, clean), w);
  }

  void subscribe(FakePeer& peer, const std::string& filter, std::uint8_t qos, mqtt::PacketId id = 1) {
    mqtt::Subscribe s;
    s.packet_id = id;
    s.subscriptions.push_back({filter, {qos}});
    peer.send(s);
    run();
  }

  mqtt::Publish publish_packet(const std::string& topic, const std::string& payload, std::uint8_t qos,
                               mqtt::PacketId id = 0, bool retain = false) {
    mqtt::Publish p;
    p.topic = topic;
    p.payload = payload;
    p.qos = qos;
    p.packet_id = id;
    p.retain = retain;
    return p;
  }

  // Packets of type T among `packets`.
  template <typename T>
  static std::vector<T> only(const std::vector<mqtt::Packet>& packets) {
    std::vector<T> out;
    for (const auto& p : packets) {
      if (const auto* t = std::get_if<T>(&p)) out.push_back(*t);
    }
    return out;
  }

  // A watcher of presence/#, and a persistent client "lamp" with a 5 s delayed will whose
  // connection was just lost. Returns the watcher, its earlier packets consumed.
  std::shared_ptr<FakePeer> lose_lamp_with_delayed_will() {
    make();
    auto watcher = connect("watcher");
    subscribe(*watcher, "presence/#", 0);
    (void)watcher->packets();
    auto c = connect_packet("lamp", false);
    c.props.session_expiry_interval = 300;
    c.will = mqtt::Will{"presence/lamp", "offline", 0, false, {}};
    c.will->props.will_delay_interval = 5;
    auto lamp = connect(c);
    lamp->end();
    run();
    return watcher;
  }

  std::uint32_t other_than_home(const std::string& id) {
    const auto home = broker_->services().directory.home(id);
    return (home + 1) % broker_->worker_count();
  }

  ManualClock clock_;
  ThrowingRetained retained_;
  std::unique_ptr<Broker> broker_;
  std::vector<std::filesystem::path> stores_;
  int store_counter_ = 0;
};

}  // namespace hermod::broker::testing_support
