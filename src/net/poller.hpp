// A worker's readiness loop for its streams: one epoll set of our own, nested in the worker's
// io_context (Asio waits on the set's single descriptor; timers and posts stay Asio's).
//
// Why not Asio's reactor per socket: a readiness wait through Asio (socket::async_wait) costs an
// epoll_ctl on every wait, and each socket carries Asio's per-descriptor state and a pending
// operation while idle. Here a descriptor is added once, edge-triggered for both directions,
// and never re-armed: its owner keeps the readiness it has seen (a read or write that stopped
// short clears it; the next edge sets it), so a wait is a flag test, not a system call. QoS 1
// pairs with one message in flight went from 6.2 to 4.4 broker system calls per message, and an
// idle connection from 947 to 644 bytes (docs/performance.md, bench/results/broker-core-ab.md).
//
// Lifetime: a registration is named by a Token (slot and generation). remove() frees the slot
// and bumps its generation, so an event already fetched in this round, or a deferred call, for a
// removed descriptor reaches no one, even if a target removes another target during dispatch.
// A target must not be touched by the poller after remove(); a target may destroy itself (or
// others) inside on_poll.
//
// Threads: the worker's thread only (the one running the io_context).
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <functional>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

namespace hermod::net {

namespace asio = boost::asio;

class Poller {
 public:
  // The owner of a registered descriptor.
  class Target {
   public:
    // `events`: what epoll reported (EPOLLIN, EPOLLOUT, EPOLLHUP, EPOLLERR, EPOLLRDHUP), or 0
    // for a call asked for by defer().
    virtual void on_poll(std::uint32_t events) = 0;

   protected:
    ~Target() = default;
  };
  using Token = std::uint64_t;

  // Throws boost::system::system_error if the epoll set cannot be created.
  explicit Poller(asio::io_context& io);
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  asio::io_context& io() { return io_; }

  // Adds `fd` for EPOLLIN, EPOLLOUT and EPOLLRDHUP, edge-triggered. On failure sets `ec` and
  // returns 0 (never a valid token).
  Token add(int fd, Target& target, boost::system::error_code& ec);
  // A registration without a descriptor, for a target that only defer()s (a stream layered on
  // another, such as TLS with bytes already decrypted). Remove it with fd -1.
  Token add_target(Target& target);
  // Forgets the registration. `keep_open`: the descriptor lives on (a hand-off), so it is taken
  // out of the set too; otherwise the caller closes it, which does that.
  void remove(Token token, int fd, bool keep_open);
  // Calls the target's on_poll(0) from the loop soon, never inline (a wait that can complete at
  // once must still complete asynchronously).
  void defer(Token token);
  // False once `token` was removed.
  bool alive(Token token) const { return find(token) != nullptr; }

  // Stops waiting for events, so the io_context can run out of work (at shutdown, once every
  // stream is closed). Deferred calls still run.
  void stop();

  // Runs after each round of events or deferred calls (the worker ends its turn there: one
  // commit and one gathered write per link for everything the round read).
  void set_after_round(std::function<void()> f) { after_round_ = std::move(f); }
  // True while a round's targets are being called.
  bool in_round() const { return in_round_; }

 private:
  struct Slot {
    Target* target = nullptr;
    std::uint32_t generation = 1;
  };

  Target* find(Token token) const;
  std::uint32_t take_slot();
  void arm();
  void dispatch();
  void run_deferred();
  void end_round();

  asio::io_context& io_;
  asio::posix::stream_descriptor set_;  // the epoll descriptor, watched by Asio
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_;
  std::vector<Token> deferred_;
  std::vector<Token> running_;  // deferred calls being made (swapped with deferred_)
  std::vector<epoll_event> events_;
  std::function<void()> after_round_;
  bool deferred_posted_ = false;
  bool in_round_ = false;
  bool stopped_ = false;
};

}  // namespace hermod::net
