// The Poller and TcpStream over real sockets: waits complete on the next edge or, when the
// stream is already ready, from the loop (never inline); closed, detached and destroyed streams
// are never called back, even when another stream's callback removes them mid-round; a stream
// moves between pollers; accept_stream takes a loopback connection with its peer's address.
#include "net/poller.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "net/tcp_stream.hpp"

namespace hermod::net {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Records the callbacks a stream makes; `then` runs inside each one.
struct Recorder final : StreamEvents {
  std::vector<Side> calls;
  std::function<void(Side)> then;
  void on_stream_ready(Side side) override {
    calls.push_back(side);
    if (then) then(side);
  }
};

// A connected pair of non-blocking stream sockets: `ours` for a TcpStream, `peer` for the test.
struct Pair {
  int ours = -1;
  int peer = -1;
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    ours = fds[0];
    peer = fds[1];
  }
  ~Pair() {
    if (peer >= 0) ::close(peer);
  }
  void send(const std::string& s) const { ASSERT_EQ(::write(peer, s.data(), s.size()), static_cast<ssize_t>(s.size())); }
};

struct PollerTest : ::testing::Test {
  asio::io_context io;
  Poller poller{io};

  std::unique_ptr<TcpStream> open(int fd, Recorder& r) {
    boost::system::error_code ec;
    auto s = TcpStream::open(poller, fd, {}, ec);
    EXPECT_FALSE(ec) << ec.message();
    s->set_events(&r);
    return s;
  }
  // Runs the loop until `done` or a second has passed.
  void run_until(const std::function<bool()>& done) {
    const auto until = std::chrono::steady_clock::now() + 1s;
    while (!done() && std::chrono::steady_clock::now() < until) io.run_for(10ms);
  }
  // Runs what is ready now and a little more, for "nothing happens" checks.
  void settle() {
    for (int i = 0; i < 5; ++i) io.run_for(10ms);
  }
  // Reads what is there (nothing, usually), so the stream is not readable, then waits to read.
  static void drain_and_wait(Stream& s) {
    char buf[4];
    s.try_read(buf, sizeof buf);
    s.async_wait(Side::reading, Want::read);
  }
  static std::string read_all(Stream& s) {
    std::string out;
    char buf[64];
    for (;;) {
      auto r = s.try_read(buf, sizeof buf);
      if (r.bytes == 0) return out;
      out.append(buf, r.bytes);
    }
  }
};

TEST_F(PollerTest, ReadWaitCompletesWhenBytesArrive) {
  Pair p;
  Recorder r;
  auto s = open(p.ours, r);
  char buf[16];
  EXPECT_EQ(s->try_read(buf, sizeof buf).want, Want::read);
  s->async_wait(Side::reading, Want::read);
  settle();
  EXPECT_TRUE(r.calls.empty()) << "nothing to read yet";
  p.send("hello");
  run_until([&] { return !r.calls.empty(); });
  ASSERT_EQ(r.calls, std::vector<Side>{Side::reading});
  EXPECT_EQ(read_all(*s), "hello");
}

TEST_F(PollerTest, AWaitOnAReadyStreamCompletesFromTheLoopNotInline) {
  Pair p;
  Recorder r;
  auto s = open(p.ours, r);
  p.send("0123456789");
  settle();  // the edges of registration and arrival pass with no wait pending
  char buf[4];
  ASSERT_EQ(s->try_read(buf, sizeof buf).bytes, 4u);  // a full read: more may be there
  s->async_wait(Side::reading, Want::read);
  EXPECT_TRUE(r.calls.empty()) << "called back inside async_wait";
  run_until([&] { return !r.calls.empty(); });
  ASSERT_EQ(r.calls.size(), 1u) << "the bytes left must not wait for a new edge";
  EXPECT_EQ(read_all(*s), "456789");
}

TEST_F(PollerTest, ClosedStreamIsNotCalledBack) {
  Pair p;
  Recorder r;
  auto s = open(p.ours, r);
  drain_and_wait(*s);
  p.send("x");
  s->close();
  settle();
  EXPECT_TRUE(r.calls.empty());
  char buf[4];
  EXPECT_TRUE(s->try_read(buf, sizeof buf).closed);
}

TEST_F(PollerTest, ACallbackMayDestroyAnotherStreamOfTheSameRound) {
  Pair a, b;
  Recorder ra, rb;
  auto sa = open(a.ours, ra);
  auto sb = open(b.ours, rb);
  drain_and_wait(*sa);
  drain_and_wait(*sb);
  // Whichever is called first destroys the other and registers a new stream, which takes the
  // freed slot: the destroyed one's event of this round must reach neither.
  Pair c;
  Recorder rc;
  std::unique_ptr<TcpStream> sc;
  const auto replace = [&](std::unique_ptr<TcpStream>& other) {
    other.reset();
    sc = open(c.ours, rc);
    drain_and_wait(*sc);  // nothing there: only a stray event could complete this wait
  };
  ra.then = [&](Side) { replace(sb); };
  rb.then = [&](Side) { replace(sa); };
  a.send("a");
  b.send("b");
  run_until([&] { return !ra.calls.empty() || !rb.calls.empty(); });
  EXPECT_EQ(ra.calls.size() + rb.calls.size(), 1u);
  EXPECT_TRUE(!sa || !sb);
  ASSERT_TRUE(sc);
  EXPECT_TRUE(rc.calls.empty()) << "an event of the destroyed stream reached the slot's new owner";
}

TEST_F(PollerTest, ACallbackMayDestroyItsOwnStreamWhileTheOtherSideWaits) {
  Pair p;
  Recorder r;
  auto s = open(p.ours, r);
  drain_and_wait(*s);
  s->async_wait(Side::writing, Want::write);  // writable at once: completes from the loop
  r.then = [&](Side) { s.reset(); };
  p.send("x");
  run_until([&] { return !r.calls.empty(); });
  settle();
  EXPECT_EQ(r.calls.size(), 1u) << "the second side's wait must die with the stream";
}

TEST_F(PollerTest, WriteWaitCompletesWhenTheSendBufferDrains) {
  Pair p;
  Recorder r;
  auto s = open(p.ours, r);
  const std::string chunk(64 * 1024, 'z');
  std::size_t sent = 0;
  for (int i = 0; i < 1000; ++i) {
    asio::const_buffer b(chunk.data(), chunk.size());
    auto w = s->try_writev(std::span<const asio::const_buffer>(&b, 1));
    ASSERT_FALSE(w.closed);
    sent += w.bytes;
    if (w.want == Want::write) break;
  }
  ASSERT_GT(sent, 0u);
  s->async_wait(Side::writing, Want::write);
  settle();
  EXPECT_TRUE(r.calls.empty()) << "the buffer is still full";
  std::vector<char> sink(1 << 20);
  while (::read(p.peer, sink.data(), sink.size()) > 0) {
  }
  run_until([&] { return !r.calls.empty(); });
  EXPECT_EQ(r.calls, std::vector<Side>{Side::writing});
}

TEST_F(PollerTest, EndOfStreamCompletesAReadWait) {
  Pair p;
  Recorder r;
  auto s = open(p.ours, r);
  drain_and_wait(*s);
  ::close(p.peer);
  p.peer = -1;
  run_until([&] { return !r.calls.empty(); });
  ASSERT_EQ(r.calls.size(), 1u);
  char buf[4];
  auto end = s->try_read(buf, sizeof buf);
  EXPECT_TRUE(end.closed);
  EXPECT_FALSE(end.error) << "a clean end of stream is not an error";
}

TEST_F(PollerTest, AStreamMovesToAnotherPoller) {
  asio::io_context other_io;
  Poller other(other_io);
  Pair p;
  Recorder r;
  auto s = open(p.ours, r);
  drain_and_wait(*s);
  auto detached = s->detach();
  ASSERT_TRUE(detached);
  p.send("moved");
  settle();
  EXPECT_TRUE(r.calls.empty()) << "a detached stream calls back no more";
  auto moved = detached->attach(other);
  ASSERT_TRUE(moved);
  Recorder r2;
  moved->set_events(&r2);
  moved->async_wait(Side::reading, Want::read);
  const auto until = std::chrono::steady_clock::now() + 1s;
  while (r2.calls.empty() && std::chrono::steady_clock::now() < until) other_io.run_for(10ms);
  ASSERT_EQ(r2.calls.size(), 1u);
  EXPECT_EQ(read_all(*moved), "moved");
  EXPECT_TRUE(r.calls.empty());
}

TEST_F(PollerTest, TheRoundHookRunsAfterTheRoundsCallbacks) {
  Pair p;
  Recorder r;
  auto s = open(p.ours, r);
  std::vector<std::string> order;
  r.then = [&](Side) { order.push_back(poller.in_round() ? "callback in round" : "callback outside"); };
  poller.set_after_round([&] { order.push_back(poller.in_round() ? "hook in round" : "hook"); });
  drain_and_wait(*s);
  p.send("x");
  run_until([&] { return !r.calls.empty(); });
  ASSERT_GE(order.size(), 2u);
  EXPECT_EQ(order[0], "callback in round");
  EXPECT_EQ(order[1], "hook");
}

TEST_F(PollerTest, StopLetsTheLoopRunOutOfWork) {
  poller.stop();
  io.restart();
  const auto t0 = std::chrono::steady_clock::now();
  io.run();  // returns: nothing waits any more
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
}

TEST_F(PollerTest, AcceptStreamTakesLoopbackConnectionsWithTheirAddress) {
  asio::ip::tcp::acceptor listener(io, {asio::ip::make_address("127.0.0.1"), 0});
  listener.non_blocking(true);
  auto none = accept_stream(listener.native_handle(), poller);
  EXPECT_FALSE(none.stream);
  EXPECT_TRUE(none.error == EAGAIN || none.error == EWOULDBLOCK);

  asio::ip::tcp::socket client(io);
  client.connect(listener.local_endpoint());
  Accepted a;
  const auto until = std::chrono::steady_clock::now() + 1s;
  while (!a.stream && std::chrono::steady_clock::now() < until) a = accept_stream(listener.native_handle(), poller);
  ASSERT_TRUE(a.stream);
  EXPECT_EQ(a.stream->remote(), client.local_endpoint());

  Recorder r;
  a.stream->set_events(&r);
  drain_and_wait(*a.stream);
  asio::write(client, asio::buffer(std::string("ping")));
  run_until([&] { return !r.calls.empty(); });
  EXPECT_EQ(read_all(*a.stream), "ping");
}

}  // namespace
}  // namespace hermod::net
