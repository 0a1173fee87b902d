#include "bench/event_loop.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace hermod::cli::bench {

namespace {
constexpr std::size_t kScratchSize = 256 * 1024;
constexpr int kMaxEvents = 256;

[[noreturn]] void fail(const char* what) {
  throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}
}  // namespace

class Loop::Waker final : public Handler {
 public:
  explicit Waker(Loop& loop) : loop_(loop) {}
  void on_event(std::uint32_t) override {
    std::uint64_t n = 0;
    if (read(loop_.eventfd_, &n, sizeof n) > 0) loop_.woken_ = true;
  }

 private:
  Loop& loop_;
};

Loop::Loop() : scratch_(kScratchSize) {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) fail("epoll_create1");
  eventfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (eventfd_ < 0) fail("eventfd");
  waker_ = new Waker(*this);
  add(eventfd_, EPOLLIN, waker_);
}

Loop::~Loop() {
  close(eventfd_);
  close(epfd_);
  delete waker_;
}

void Loop::add(int fd, std::uint32_t events, Handler* h) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = h;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) fail("epoll_ctl add");
}

void Loop::modify(int fd, std::uint32_t events, Handler* h) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = h;
  if (epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) != 0) fail("epoll_ctl mod");
}

void Loop::remove(int fd) { epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); }

int Loop::poll(std::int64_t timeout_ns) {
  std::array<epoll_event, kMaxEvents> events;
  timespec ts{};
  ts.tv_sec = timeout_ns / 1'000'000'000;
  ts.tv_nsec = timeout_ns % 1'000'000'000;
  const int n = epoll_pwait2(epfd_, events.data(), kMaxEvents, timeout_ns < 0 ? nullptr : &ts, nullptr);
  if (n < 0 && errno != EINTR) fail("epoll_wait");
  for (int i = 0; i < n; ++i) static_cast<Handler*>(events[i].data.ptr)->on_event(events[i].events);
  flush_dirty();
  return n < 0 ? 0 : n;
}

void Loop::flush_dirty() {
  // A flush may mark handlers dirty again (a write that completes a handshake): loop until quiet,
  // swapping so the list being walked is never appended to.
  while (!dirty_.empty()) {
    flushing_.swap(dirty_);
    for (Handler* h : flushing_) h->on_flush();
    flushing_.clear();
  }
}

void Loop::wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto r = write(eventfd_, &one, sizeof one);
}

bool Loop::take_wakeup() {
  const bool w = woken_;
  woken_ = false;
  return w;
}

}  // namespace hermod::cli::bench
