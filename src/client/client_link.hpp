// Internal to Client: one network connection's transport, decoder and write buffers. A Link is
// replaced, never reused, on reconnect; I/O handlers hold it by shared_ptr, so its buffers outlive
// the operations that use them, and compare it with Client::link_ to ignore a connection that is
// no longer current. Owner thread only.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/steady_timer.hpp>

#include "client/client.hpp"

namespace hermod::client {

struct Client::Link {
  Link(std::shared_ptr<Transport> t, const boost::asio::any_io_executor& ex, std::uint32_t max_packet_size,
       mqtt::ProtocolVersion version)
      : transport(std::move(t)), decoder(max_packet_size, version), grace_timer(ex) {}

  std::shared_ptr<Transport> transport;
  mqtt::StreamDecoder decoder;
  std::array<char, 16 * 1024> read_buffer{};
  std::string out;       // encoded packets waiting for the write in flight to finish
  std::string writing;   // the bytes of the write in flight
  bool write_in_flight = false;
  bool retiring = false;  // no longer current: write what is queued, then close
  bool closed = false;
  boost::asio::steady_timer grace_timer;  // bounds how long a retiring link may take to flush
  std::function<void()> on_closed;        // run once when the transport is closed
};

}  // namespace hermod::client
