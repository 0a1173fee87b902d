// The transport seam: an ordered, reliable byte stream to one client, without MQTT types.
// TCP today (tcp_stream.hpp); TLS and WebSocket keep their state in user space and plug in
// here, so the broker never sees a socket. Unit tests plug in an in-memory stream.
//
// The stream is non-blocking and readiness-driven, because the broker reads into its worker's
// shared scratch buffer only once bytes are there (an idle connection holds no read buffer) and
// writes a whole loop turn's output in one gathered call:
//   try_read / try_writev move what they can now; when they cannot go on they say what to wait
//   for (a TLS stream may need to read in order to write, hence `want` rather than a fixed
//   direction); async_wait(want, handler) calls back once that is possible or the wait failed.
//
// Moving between workers: a connection whose CONNECT lands on another worker than its session's
// home moves there (docs/architecture.md, "Sessions have a home worker"). detach() takes the
// stream off its io_context on the owning thread, with every byte of transport state it holds
// (a TCP descriptor; later an SSL object, a WebSocket framer), into a DetachedStream; the target
// worker's thread attach()es it to its own io_context. Between the two no thread touches it.
//
// Threads: a Stream belongs to one worker thread; every call and every handler is on it.
// Invariants: at most one wait per direction outstanding; after close() no handler is called
// with success, and no method but remote() may be called.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

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

class Stream {
 public:
  using WaitHandler = std::function<void(const boost::system::error_code&)>;

  virtual ~Stream() = default;

  // Reads up to `size` bytes into `data` without blocking.
  virtual IoResult try_read(char* data, std::size_t size) = 0;
  // Writes a prefix of `buffers` (in order) without blocking.
  virtual IoResult try_writev(std::span<const asio::const_buffer> buffers) = 0;
  // Calls `handler` once the stream can go on in direction `want` (read or write), or with an
  // error when the wait was cancelled by close() or failed.
  virtual void async_wait(Want want, WaitHandler handler) = 0;
  // Ends the sending direction after what was written (a TCP FIN, a TLS close_notify, a
  // WebSocket close frame); reads may go on, so a client can be drained before close().
  virtual void shutdown_write() = 0;
  // Closes the stream at once, cancelling waits. Idempotent.
  virtual void close() = 0;
  // The peer's address (for logs and limits; a proxy-aware stream reports the real client's).
  virtual const asio::ip::tcp::endpoint& remote() const = 0;
  // Takes the stream off its worker (see above). Null if it cannot be moved: the stream is then
  // closed. Only with no wait outstanding.
  virtual std::unique_ptr<DetachedStream> detach() = 0;
};

// A stream in transit between two workers. Destroying one that was never attached closes it.
class DetachedStream {
 public:
  virtual ~DetachedStream() = default;
  // On the target worker's thread: the stream, now driven by `io`. Null if that failed.
  virtual std::unique_ptr<Stream> attach(asio::io_context& io) = 0;
};

}  // namespace hermod::net
