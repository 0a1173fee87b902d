// An in-memory net::Stream for driving the broker's connections without a network: the test
// plays the client. FakePeer is the test's end: it feeds bytes (or an end of stream) to the
// broker and decodes what the broker wrote. Waits complete by posting to the worker's
// io_context, never inline, like a real socket's readiness; a closed or detached stream calls
// back no more. The peer outlives a hand-off: the
// detached stream carries it to the other worker.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "mqtt/decoder.hpp"
#include "mqtt/encoder.hpp"
#include "net/poller.hpp"
#include "net/stream.hpp"

namespace hermod::broker::testing {

namespace asio = boost::asio;

struct FakePeer {
  explicit FakePeer(mqtt::ProtocolVersion v) : decoder(mqtt::kMaxPacketSize, v) {}

  std::string input;             // bytes the client sent that the broker has not read
  bool input_ended = false;      // the client closed its side
  std::string output;            // every byte the broker wrote
  bool closed_by_broker = false;
  bool write_shut = false;
  bool stall_writes = false;     // the client reads nothing: writes take no byte, waits never end
  mqtt::StreamDecoder decoder;   // over `output`, for packets()
  std::function<void()> wake;    // set by the stream: a read wait completes
  int streams = 0;               // streams attached so far (2 after a hand-off)

  // The broker ended the connection: closed it, or shut its sending side to linger after an
  // error DISCONNECT (it then reads until the client closes).
  bool ended_by_broker() const { return closed_by_broker || write_shut; }

  // Sends `packet` as the client would.
  void send(const mqtt::Packet& packet) { send_bytes(mqtt::encode(packet, decoder.version())); }
  void send_bytes(std::string_view bytes) {
    input.append(bytes);
    if (wake) wake();
  }
  void end() {
    input_ended = true;
    if (wake) wake();
  }
  // The packets the broker wrote since the last call.
  std::vector<mqtt::Packet> packets() {
    std::vector<mqtt::Packet> out;
    decoder.feed(std::exchange(pending_output_, std::string()));
    for (;;) {
      auto next = decoder.next();
      if (!next || !*next) break;
      out.push_back(std::move(**next));
    }
    return out;
  }
  void wrote(std::string_view bytes) {
    output.append(bytes);
    pending_output_.append(bytes);
  }

 private:
  std::string pending_output_;
};

class FakeStream final : public net::Stream {
 public:
  FakeStream(asio::io_context& io, std::shared_ptr<FakePeer> peer)
      : io_(io), peer_(std::move(peer)), alive_(std::make_shared<bool>(true)) {
    ++peer_->streams;
    peer_->wake = [this] { complete_read_wait(); };
  }
  ~FakeStream() override {
    *alive_ = false;
    if (peer_->wake && !detached_) peer_->wake = nullptr;
  }

  void set_events(net::StreamEvents* events) override { events_ = events; }

  net::IoResult try_read(char* data, std::size_t size) override {
    if (closed_) return {0, net::Want::nothing, true, asio::error::bad_descriptor};
    if (peer_->input.empty()) {
      if (peer_->input_ended) return {0, net::Want::nothing, true};
      return {0, net::Want::read};
    }
    const std::size_t n = std::min(size, peer_->input.size());
    peer_->input.copy(data, n);
    peer_->input.erase(0, n);
    return {n};
  }

  net::IoResult try_writev(std::span<const asio::const_buffer> buffers) override {
    if (closed_ || peer_->write_shut) return {0, net::Want::nothing, true, asio::error::broken_pipe};
    if (peer_->stall_writes) return {0, net::Want::write};
    std::size_t n = 0;
    for (const auto& b : buffers) {
      peer_->wrote(std::string_view(static_cast<const char*>(b.data()), b.size()));
      n += b.size();
    }
    return {n};
  }

  void async_wait(net::Side side, net::Want want) override {
    if (closed_ || detached_) return;
    if (side == net::Side::writing || want == net::Want::write) {
      if (!peer_->stall_writes) call_back(side);  // the peer takes more (unless it stalls)
      return;
    }
    read_waiting_ = true;
    if (!peer_->input.empty() || peer_->input_ended) complete_read_wait();
  }

  void shutdown_write() override { peer_->write_shut = true; }
  void close() override {
    if (closed_) return;
    closed_ = true;
    read_waiting_ = false;
    peer_->closed_by_broker = true;
  }
  const asio::ip::tcp::endpoint& remote() const override { return remote_; }

  std::unique_ptr<net::DetachedStream> detach() override;

 private:
  void complete_read_wait() {
    if (!read_waiting_) return;
    read_waiting_ = false;
    call_back(net::Side::reading);
  }
  // Posted, and dropped if the stream is gone or closed by then.
  void call_back(net::Side side) {
    asio::post(io_, [this, side, alive = alive_] {
      if (*alive && !closed_ && !detached_ && events_) events_->on_stream_ready(side);
    });
  }

  asio::io_context& io_;
  std::shared_ptr<FakePeer> peer_;
  std::shared_ptr<bool> alive_;
  net::StreamEvents* events_ = nullptr;
  asio::ip::tcp::endpoint remote_{asio::ip::make_address("127.0.0.1"), 40000};
  bool read_waiting_ = false;
  bool closed_ = false;
  bool detached_ = false;
};

class DetachedFake final : public net::DetachedStream {
 public:
  explicit DetachedFake(std::shared_ptr<FakePeer> peer) : peer_(std::move(peer)) {}
  std::unique_ptr<net::Stream> attach(net::Poller& poller) override {
    return std::make_unique<FakeStream>(poller.io(), peer_);
  }

 private:
  std::shared_ptr<FakePeer> peer_;
};

inline std::unique_ptr<net::DetachedStream> FakeStream::detach() {
  detached_ = true;
  peer_->wake = nullptr;
  return std::make_unique<DetachedFake>(peer_);
}

}  // namespace hermod::broker::testing
