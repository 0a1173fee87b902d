// TLS for the broker's listeners over OpenSSL 3: a TlsContext (certificate, key, CAs, CRL,
// versions, ciphers: one SSL_CTX built whole from TlsSettings, so a reload swaps all of it or
// nothing) and a TlsStream, the server side of TLS over another Stream.
//
// TlsStream reads and writes its inner stream through a BIO of our own instead of handing
// OpenSSL the descriptor, so the inner stream keeps its own readiness (poller.hpp) and the TLS
// layer stays free of I/O: the same TlsStream runs over TCP now and could run over a PROXY-
// protocol stream later. The handshake runs inside the first try_read/try_writev; a client that
// stalls in it costs only its own stream (the connection's CONNECT deadline ends it).
// Small buffers of one gathered write are copied into one record (up to 16 KiB): a turn's
// acknowledgements to a client go out as one TLS record, not one per packet. OpenSSL's read
// and write buffers are released while a connection is idle (SSL_MODE_RELEASE_BUFFERS).
//
// Moving between workers: detach() takes the SSL object with the inner stream; attach() binds
// both to the target worker's poller. OpenSSL allows an SSL object to change threads while no
// thread uses it, which the hand-off guarantees.
//
// Threads: TlsContext is immutable once built and shared by every worker (SSL_CTX is thread-safe
// for creating SSL objects); a TlsStream belongs to one worker thread, as every Stream.
#pragma once

#include <memory>
#include <string>

#include "net/handshake_gauge.hpp"
#include "net/poller.hpp"
#include "net/stream.hpp"
#include "net/tls_settings.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace hermod::net {

class TlsContext {
 public:
  // Builds a context from `settings`. Null, with `error` saying which file or setting failed and
  // OpenSSL's reason, if anything does not load; `key` (if given) names that setting.
  static std::shared_ptr<const TlsContext> load(const TlsSettings& settings, std::string& error,
                                                std::string* key = nullptr);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* native() const { return ctx_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

class TlsStream final : public Stream, private StreamEvents, private Poller::Target {
 public:
  // Server side of a new TLS connection over `inner`. Null if OpenSSL cannot make the SSL object.
  // `gauge` (if given, outliving the stream) counts the handshake while it is in progress.
  static std::unique_ptr<TlsStream> accept(std::unique_ptr<Stream> inner, std::shared_ptr<const TlsContext> context,
                                           Poller& poller, HandshakeGauge* gauge = nullptr);
  // Used by accept() and by a hand-off's attach(); owns `ssl`.
  TlsStream(std::unique_ptr<Stream> inner, std::shared_ptr<const TlsContext> context, SSL* ssl, Poller& poller,
            bool handshake_done);
  ~TlsStream() override;

  void set_events(StreamEvents* events) override { events_ = events; }
  IoResult try_read(char* data, std::size_t size) override;
  IoResult try_writev(std::span<const asio::const_buffer> buffers) override;
  void async_wait(Side side, Want want) override;
  void shutdown_write() override;
  void close() override;
  const asio::ip::tcp::endpoint& remote() const override { return inner_->remote(); }
  std::unique_ptr<DetachedStream> detach() override;
  std::optional<PeerIdentity> peer_identity() const override;

  // For the BIO (tls.cpp): the inner stream's results.
  IoResult inner_read(char* data, std::size_t size);
  IoResult inner_write(const char* data, std::size_t size);

 private:
  void on_stream_ready(Side side) override;  // the inner stream's wait completed
  void on_poll(std::uint32_t events) override;  // a deferred completion (bytes already decrypted)
  // Runs the handshake; nothing when done. Otherwise the result to return (a wait or the end).
  std::optional<IoResult> handshake();
  void end_handshake();  // releases the gauge, once
  // Maps an SSL call's failure to a result, remembering what the side waits for.
  IoResult failed(int ret, Side side, const char* what);

  std::unique_ptr<Stream> inner_;
  std::shared_ptr<const TlsContext> context_;
  SSL* ssl_;
  Poller& poller_;
  Poller::Token token_ = 0;  // for deferred completions (no descriptor)
  HandshakeGauge* gauge_ = nullptr;  // set while the handshake counts against the worker's bound
  StreamEvents* events_ = nullptr;
  boost::system::error_code inner_error_;  // what ended the inner stream, for the results
  Want wants_[2] = {Want::read, Want::write};  // per Side: what the TLS layer needs next
  bool waiting_[2] = {false, false};
  bool handshake_done_ = false;
  bool inner_closed_ = false;
  bool closed_ = false;
};

}  // namespace hermod::net
