// An in-memory Transport for driving Client without a network: the test plays the broker. It
// sees every packet the client wrote (decoded), injects packets or raw bytes, refuses or drops
// connections. Everything runs on the test's io_context; completions are posted, never inline,
// like a real socket's.
#pragma once

#include <cstring>
#include <functional>

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "client/transport.hpp"
#include "mqtt/decoder.hpp"
#include "mqtt/encoder.hpp"

namespace hermod::client::testing {

// Asio's error enums convert to boost::system::error_code, and that to std::error_code.
template <typename E>
std::error_code asio_error(E e) {
  return boost::system::error_code(e);
}

class FakeTransport : public Transport, public std::enable_shared_from_this<FakeTransport> {
 public:
  FakeTransport(const boost::asio::any_io_executor& ex, std::error_code connect_error)
      : ex_(ex), connect_error_(connect_error) {}

  void async_connect(const std::string&, std::uint16_t, ConnectHandler handler) override {
    boost::asio::post(ex_, [handler = std::move(handler), ec = connect_error_] { handler(ec); });
  }

  void async_read_some(boost::asio::mutable_buffer buffer, IoHandler handler) override {
    read_buffer_ = buffer;
    read_handler_ = std::move(handler);
    complete_read();
  }

  void async_write(boost::asio::const_buffer buffer, IoHandler handler) override {
    const std::string_view bytes(static_cast<const char*>(buffer.data()), buffer.size());
    written_bytes += bytes;
    decoder_.feed(bytes);
    for (;;) {
      auto next = decoder_.next();
      if (!next || !*next) break;
      received.push_back(std::move(**next));
      if (responder) responder(*this, received.back());
    }
    boost::asio::post(ex_, [handler = std::move(handler), n = buffer.size(), closed = closed_] {
      handler(closed ? asio_error(boost::asio::error::broken_pipe) : std::error_code{}, n);
    });
  }

  void close() override {
    closed_ = true;
    complete_read();
  }

  // ---- the test's side ----
  void inject(const mqtt::Packet& p, mqtt::ProtocolVersion v) { inject_bytes(mqtt::encode(p, v)); }
  void inject_bytes(std::string_view bytes) {
    inbound_ += bytes;
    complete_read();
  }
  // The broker closes the connection (end of stream on the client's next read).
  void drop() {
    eof_ = true;
    complete_read();
  }
  bool closed() const { return closed_; }

  template <typename T>
  std::vector<T> sent() const {
    std::vector<T> out;
    for (const auto& p : received) {
      if (auto* t = std::get_if<T>(&p)) out.push_back(*t);
    }
    return out;
  }

  std::vector<mqtt::Packet> received;  // every packet the client wrote, in order
  std::string written_bytes;
  // If set, called (on the io thread) with each packet the client writes: a scripted broker.
  std::function<void(FakeTransport&, const mqtt::Packet&)> responder;

 private:
  void complete_read() {
    if (!read_handler_) return;
    auto handler = std::move(read_handler_);
    read_handler_ = nullptr;
    if (closed_) {
      boost::asio::post(ex_, [handler] { handler(asio_error(boost::asio::error::operation_aborted), 0); });
    } else if (!inbound_.empty()) {
      const std::size_t n = std::min(inbound_.size(), read_buffer_.size());
      std::memcpy(read_buffer_.data(), inbound_.data(), n);
      inbound_.erase(0, n);
      boost::asio::post(ex_, [handler, n] { handler({}, n); });
    } else if (eof_) {
      boost::asio::post(ex_, [handler] { handler(asio_error(boost::asio::error::eof), 0); });
    } else {
      read_handler_ = std::move(handler);  // wait for data
    }
  }

  boost::asio::any_io_executor ex_;
  std::error_code connect_error_;
  mqtt::StreamDecoder decoder_;
  boost::asio::mutable_buffer read_buffer_;
  IoHandler read_handler_;
  std::string inbound_;
  bool eof_ = false;
  bool closed_ = false;
};

// Hands out FakeTransports and keeps them for inspection; `refuse` makes the next connects fail.
struct FakeNetwork {
  std::vector<std::shared_ptr<FakeTransport>> connections;
  int refuse_next = 0;
  std::function<void(FakeTransport&, const mqtt::Packet&)> responder;  // given to each connection

  TransportFactory factory() {
    return [this](const boost::asio::any_io_executor& ex) {
      std::error_code ec;
      if (refuse_next > 0) {
        --refuse_next;
        ec = asio_error(boost::asio::error::connection_refused);
      }
      auto t = std::make_shared<FakeTransport>(ex, ec);
      t->responder = responder;
      connections.push_back(t);
      return t;
    };
  }
};

}  // namespace hermod::client::testing
