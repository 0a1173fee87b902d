// The PROXY protocol (HAProxy's, versions 1 and 2) without I/O, and ProxyStream, which reads a
// connection's PROXY header before anything else and then reports the client the proxy saw.
//
// A load balancer in front of the broker connects from its own address; with the PROXY protocol
// it first sends one header naming the real client (and, in version 2, whether it terminated TLS
// for it and the client certificate's CN). Only proxies the listener trusts may send one: the
// header is a claim, so a listener that takes it must not be reachable by anyone else
// (docs/listeners.md). The header is required on such a listener; without one, or with a broken
// one, the connection is closed.
//
// Threads: parse_proxy_header is a pure function; ProxyStream is a Stream (one worker thread).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/rate_limited_log.hpp"
#include "net/poller.hpp"
#include "net/stream.hpp"

namespace hermod::net {

struct ProxyHeader {
  enum class Status : std::uint8_t { incomplete, complete, invalid };
  Status status = Status::incomplete;
  std::size_t size = 0;  // bytes of the header (complete)
  std::string why;       // invalid: what was wrong
  // The client's address; unset for a v1 "UNKNOWN" or v2 LOCAL header (the proxy's own
  // connection, a health check): the peer address stays.
  std::optional<asio::ip::tcp::endpoint> source;
  // Version 2's TLS information (PP2_TYPE_SSL): the proxy terminated TLS for this client.
  bool tls = false;
  bool certificate_verified = false;  // a client certificate was presented (now or for the resumed session) and verified
  std::string common_name;            // its CN (PP2_SUBTYPE_SSL_CN)
  std::string tls_version;            // PP2_SUBTYPE_SSL_VERSION, e.g. "TLSv1.3"
};

// Reads the PROXY header at the start of `bytes` (received so far): a version 1 line is at most
// 107 bytes, a version 2 header 16 plus the length it states (at most 65535), so what must be
// held before deciding is bounded.
ProxyHeader parse_proxy_header(std::string_view bytes);

class ProxyStream final : public Stream, private StreamEvents, private Poller::Target {
 public:
  // `refusals` (may be null: one log line per connection): where a missing or broken header is
  // logged, at most one line per interval; it outlives the stream.
  ProxyStream(std::unique_ptr<Stream> inner, Poller& poller, RateLimitedLog* refusals = nullptr);
  ~ProxyStream() override;

  void set_events(StreamEvents* events) override { events_ = events; }
  IoResult try_read(char* data, std::size_t size) override;
  IoResult try_writev(std::span<const asio::const_buffer> buffers) override;
  void async_wait(Side side, Want want) override;
  void shutdown_write() override { inner_->shutdown_write(); }
  void close() override;
  const asio::ip::tcp::endpoint& remote() const override { return remote_; }
  std::unique_ptr<DetachedStream> detach() override;
  // The certificate the proxy verified, when it says so (version 2 with TLS information).
  std::optional<PeerIdentity> peer_identity() const override;

  // For a hand-off: the state after the header.
  struct State {
    asio::ip::tcp::endpoint remote;
    std::optional<PeerIdentity> identity;
    std::string pending;  // bytes read past the header
  };
  ProxyStream(std::unique_ptr<Stream> inner, Poller& poller, State state);

 private:
  void on_stream_ready(Side side) override;
  void on_poll(std::uint32_t events) override;
  // Reads the header; nothing once it is read, else what try_read returns.
  std::optional<IoResult> read_header();

  std::unique_ptr<Stream> inner_;
  Poller& poller_;
  Poller::Token token_ = 0;
  StreamEvents* events_ = nullptr;
  asio::ip::tcp::endpoint remote_;
  std::optional<PeerIdentity> identity_;
  RateLimitedLog* refusals_ = nullptr;
  std::string buffer_;  // the header received so far; then the bytes read past it
  bool header_done_ = false;
  bool closed_ = false;
};

}  // namespace hermod::net
