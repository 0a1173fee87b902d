// TLS and WebSocket for the load generator's connections: what sits between a non-blocking socket
// and the MQTT bytes when the run is not plain TCP. TLS is OpenSSL on the descriptor itself
// (SSL_set_fd: no extra copy through memory BIOs), configured by the client library's
// tls_config.hpp; WebSocket is src/net's framing (ws_frame.hpp) and handshake (ws_handshake.hpp).
// A plain TCP run has no TransportLayer at all, so its per-message path is unchanged.
//
// Per connection: handshake() drives the TLS handshake and then the WebSocket upgrade; read()
// returns MQTT bytes (decrypted, deframed in place); write() takes MQTT bytes (ws: framed as one
// masked binary frame per call into the layer's own buffer, written from there; tls: written by
// SSL_write straight from the caller's buffer, as much as the socket takes). Pongs the Deframer
// queues go out with the next write.
//
// Thread: a TransportSetup is built once per run and read by every loop (an SSL_CTX may create
// SSL objects on any thread); a TransportLayer belongs to its connection's loop thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "bench/bench_options.hpp"
#include "net/ws_frame.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace hermod::cli::bench {

class TransportLayer;

class TransportSetup {
 public:
  // Loads the TLS context for tls/wss runs. Throws std::runtime_error saying which file failed.
  explicit TransportSetup(const BenchOptions& o);
  ~TransportSetup();
  TransportSetup(const TransportSetup&) = delete;
  TransportSetup& operator=(const TransportSetup&) = delete;

  bool plain() const { return o_.transport == client::TransportKind::tcp; }
  // A connection's layer; null for plain TCP. Throws std::runtime_error if OpenSSL cannot make one.
  std::unique_ptr<TransportLayer> make_layer() const;

 private:
  friend class TransportLayer;
  const BenchOptions& o_;
  SSL_CTX* ctx_ = nullptr;
  std::string host_header_;  // WebSocket Host: host:port
};

class TransportLayer {
 public:
  enum class Step : std::uint8_t { done, want_read, want_write, failed };
  struct ReadResult {
    std::size_t n = 0;     // MQTT bytes at the start of the buffer
    bool drained = false;  // the socket had nothing more: wait for the next readiness event
    bool failed = false;   // closed or broken (after the n bytes): why() says what
  };

  explicit TransportLayer(const TransportSetup& setup);
  ~TransportLayer();
  TransportLayer(const TransportLayer&) = delete;
  TransportLayer& operator=(const TransportLayer&) = delete;

  // After the TCP connect: call on each readiness event until done or failed.
  Step handshake(int fd);
  // Reads until the socket has nothing more or `cap` bytes are there.
  ReadResult read(int fd, char* buf, std::size_t cap);
  // Takes `n` MQTT bytes; returns how many it took (ws: all; tls: what SSL_write accepted). Sets
  // `failed` (why()) on a broken connection.
  std::size_t write(int fd, const char* data, std::size_t n, bool& failed);
  // Bytes taken but not yet on the socket (ws frames, pongs).
  std::size_t pending() const { return wire_.size() - wire_off_; }
  const std::string& why() const { return why_; }

 private:
  enum class Phase : std::uint8_t { tls, ws_request, ws_response, open };
  enum class Io : std::uint8_t { ok, would_block, closed, error };

  long raw_read(int fd, char* buf, std::size_t cap, Io& io);
  long raw_write(int fd, const char* data, std::size_t n, Io& io);
  // Writes what the socket takes of wire_; false (why_) if the connection broke.
  bool flush_wire(int fd);
  Step read_response(int fd);
  void set_io_failure(Io io, const char* doing);

  const TransportSetup& setup_;
  SSL* ssl_ = nullptr;
  std::unique_ptr<net::ws::Deframer> ws_;  // ws and wss only
  Phase phase_;
  std::string key_;        // Sec-WebSocket-Key
  std::string response_;   // the upgrade response so far
  std::string leftover_;   // bytes after it: frames, returned by the first read()
  std::string wire_;       // bytes for the socket from wire_off_
  std::size_t wire_off_ = 0;
  std::string why_;
};

}  // namespace hermod::cli::bench
