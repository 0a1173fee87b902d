// The load generator's event loop: one epoll instance per thread, level-triggered, with a
// per-loop read buffer, an eventfd another thread can ring, and a list of connections with bytes
// to write that is flushed once per turn (one write per connection per turn).
//
// Why not Asio: the generator must cost less CPU per message than the broker it measures, and a
// plain epoll loop with one write per connection per turn is the cheapest thing we can write.
// Thread: a Loop and everything registered on it belong to the thread that calls poll(); only
// wake() may be called from another thread.
#pragma once

#include <sys/resource.h>

#include <cstdint>
#include <ctime>
#include <vector>

namespace hermod::cli::bench {

// Monotonic clock in nanoseconds (the clock the latency timestamps use).
inline std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// User + system CPU seconds of this process, all threads.
inline double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

class Loop {
 public:
  // Something registered for readiness events on a file descriptor.
  class Handler {
   public:
    virtual void on_event(std::uint32_t events) = 0;
    // Called at the end of a turn for handlers that asked with mark_dirty().
    virtual void on_flush() {}

   protected:
    ~Handler() = default;
  };

  Loop();
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  void add(int fd, std::uint32_t events, Handler* h);
  void modify(int fd, std::uint32_t events, Handler* h);
  void remove(int fd);

  // Waits up to `timeout_ns` (0: do not wait, negative: forever) for events, with nanosecond
  // precision (epoll_pwait2), dispatches them, then flushes the dirty handlers. Returns the
  // number of events.
  int poll(std::int64_t timeout_ns);
  // Runs on_flush() of every handler marked since the last flush.
  void flush_dirty();
  void mark_dirty(Handler* h) { dirty_.push_back(h); }

  // The buffer every connection of this loop reads into, one at a time.
  char* scratch() { return scratch_.data(); }
  std::size_t scratch_size() const { return scratch_.size(); }

  // Any thread: makes a poll() in progress (or the next one) return.
  void wake();
  // True (once) if wake() was called since the last call.
  bool take_wakeup();

 private:
  class Waker;
  int epfd_ = -1;
  int eventfd_ = -1;
  bool woken_ = false;
  std::vector<Handler*> dirty_;
  std::vector<Handler*> flushing_;
  std::vector<char> scratch_;
  Waker* waker_ = nullptr;
};

}  // namespace hermod::cli::bench
