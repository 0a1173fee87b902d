// The transport seam: an ordered, reliable byte stream to one client, without MQTT types.
// TCP today (tcp_stream.hpp); TLS and WebSocket keep their state in user space and plug in
// here, so the broker never sees a socket. Unit tests plug in an in-memory stream.
//
// The stream is non-blocking and readiness-driven, because the broker reads into its worker's
// shared scratch buffer only once bytes are there (an idle connection holds no read buffer) and
// writes a whole loop turn's output in one gathered call:
//   try_read / try_writev move what they can now; when they cannot go on they say what to wait
//   for (a TLS stream may need to read in order to write, hence `want` rather than a fixed
//   direction); async_wait(side, want) has the stream call its owner's on_stream_ready(side)
//   once that is possible. `side` names which of the owner's two activities waits (its reading
//   or its writing), since both may wait for the same direction.
// A wait holds no handler object: the owner (StreamEvents) owns the stream, so it outlives every
// callback, and a stream that is closed or detached calls back no more. An idle connection thus
// costs its stream's few bytes and nothing in the event loop (poller.hpp).
//
// Moving between workers: a connection whose CONNECT lands on another worker than its session's
// home moves there (docs/architecture.md, "Sessions have a home worker"). detach() takes the
// stream off its worker on the owning thread, with every byte of transport state it holds (a
// TCP descriptor; later an SSL object, a WebSocket framer), into a DetachedStream; the target
// worker's thread attach()es it to its own poller. Between the two no thread touches it.
//
// Threads: a Stream belongs to one worker thread; every call and every callback is on it.
// Invariants: at most one wait per side outstanding; after close() or detach() no callback is
// made, and no method but remote() may be called.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

namespace hermod::net {

namespace asio = boost::asio;

enum class Want : std::uint8_t { nothing, read, write };

// What a try_read or try_writev did.
struct IoResult {
  std::size_t bytes = 0;      // bytes moved (read into the buffer, or taken from the buffers)
  Want want = Want::nothing;  // nothing more can move now: wait for this, then call again
  bool closed = false;        // end of stream or a transport error: the stream is finished
  boost::system::error_code error;  // the error, when closed by one (empty at end of stream)
};

class DetachedStream;
class Poller;

// What a transport proved about its client: a verified TLS client certificate's names.
struct PeerIdentity {
  std::string common_name;  // the subject's CN (empty if it has none)
  std::string subject;      // the whole subject, RFC 2253 form
};

// Which of its owner's activities a wait is for.
enum class Side : std::uint8_t { reading, writing };

// The owner of a stream: told when a wait completes.
class StreamEvents {
 public:
  // The wait of `side` completed: the stream may go on in the direction that wait asked for
  // (or it failed meanwhile, which the next try_read or try_writev reports).
  virtual void on_stream_ready(Side side) = 0;

 protected:
  ~StreamEvents() = default;
};

class Stream {
 public:
  virtual ~Stream() = default;

  // Who is called back; set once, before the first wait.
  virtual void set_events(StreamEvents* events) = 0;

  // Reads up to `size` bytes into `data` without blocking.
  virtual IoResult try_read(char* data, std::size_t size) = 0;
  // Writes a prefix of `buffers` (in order) without blocking.
  virtual IoResult try_writev(std::span<const asio::const_buffer> buffers) = 0;
  // Calls on_stream_ready(side) once the stream can go on in direction `want` (read or write),
  // never from inside this call.
  virtual void async_wait(Side side, Want want) = 0;
  // Ends the sending direction after what was written (a TCP FIN, a TLS close_notify, a
  // WebSocket close frame); reads may go on, so a client can be drained before close().
  virtual void shutdown_write() = 0;
  // Closes the stream at once, cancelling waits (no callback follows). Idempotent.
  virtual void close() = 0;
  // The peer's address (for logs and limits; a proxy-aware stream reports the real client's).
  virtual const asio::ip::tcp::endpoint& remote() const = 0;
  // Takes the stream off its worker (see above). Null if it cannot be moved: the stream is then
  // closed. Only with no wait outstanding.
  virtual std::unique_ptr<DetachedStream> detach() = 0;
  // The client's verified certificate, once a TLS handshake has checked one; nullopt otherwise.
  virtual std::optional<PeerIdentity> peer_identity() const { return std::nullopt; }
};

// A stream in transit between two workers. Destroying one that was never attached closes it.
class DetachedStream {
 public:
  virtual ~DetachedStream() = default;
  // On the target worker's thread: the stream, now driven by that worker's `poller`. Null if
  // that failed.
  virtual std::unique_ptr<Stream> attach(Poller& poller) = 0;
};

}  // namespace hermod::net
