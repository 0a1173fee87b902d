#include "net/poller.hpp"

#include <unistd.h>

#include <cerrno>

#include <boost/asio/post.hpp>
#include <boost/system/system_error.hpp>

namespace hermod::net {

namespace {
// Events fetched per epoll_wait; a fuller ready list is fetched on the next round.
constexpr int kEventsPerRound = 256;

int create_set() {
  const int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) throw boost::system::system_error(errno, boost::system::system_category(), "epoll_create1");
  return fd;
}

std::uint32_t slot_of(Poller::Token t) { return static_cast<std::uint32_t>(t); }
std::uint32_t generation_of(Poller::Token t) { return static_cast<std::uint32_t>(t >> 32); }
}  // namespace

Poller::Poller(asio::io_context& io) : io_(io), set_(io, create_set()), events_(kEventsPerRound) { arm(); }

Poller::~Poller() = default;  // set_ closes the epoll descriptor

std::uint32_t Poller::take_slot() {
  if (!free_.empty()) {
    const auto index = free_.back();
    free_.pop_back();
    return index;
  }
  slots_.emplace_back();
  return static_cast<std::uint32_t>(slots_.size() - 1);
}

Poller::Token Poller::add_target(Target& target) {
  const auto index = take_slot();
  Slot& s = slots_[index];
  s.target = &target;
  return (static_cast<Token>(s.generation) << 32) | index;
}

Poller::Token Poller::add(int fd, Target& target, boost::system::error_code& ec) {
  const auto index = take_slot();
  Slot& s = slots_[index];
  const Token token = (static_cast<Token>(s.generation) << 32) | index;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = token;
  if (::epoll_ctl(set_.native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    ec.assign(errno, boost::system::system_category());
    free_.push_back(index);
    return 0;
  }
  s.target = &target;
  return token;
}

void Poller::remove(Token token, int fd, bool keep_open) {
  const auto index = slot_of(token);
  if (index >= slots_.size() || slots_[index].generation != generation_of(token)) return;
  if (keep_open && fd >= 0) ::epoll_ctl(set_.native_handle(), EPOLL_CTL_DEL, fd, nullptr);
  Slot& s = slots_[index];
  s.target = nullptr;
  if (++s.generation == 0) s.generation = 1;  // 0 is never a valid token
  free_.push_back(index);
}

Poller::Target* Poller::find(Token token) const {
  const auto index = slot_of(token);
  if (index >= slots_.size()) return nullptr;
  const Slot& s = slots_[index];
  return s.generation == generation_of(token) ? s.target : nullptr;
}

void Poller::defer(Token token) {
  deferred_.push_back(token);
  if (deferred_posted_) return;
  deferred_posted_ = true;
  asio::post(io_, [this] { run_deferred(); });
}

void Poller::stop() {
  stopped_ = true;
  boost::system::error_code ec;
  set_.cancel(ec);
}

void Poller::arm() {
  // Readable means "some registered descriptor has an event". Asio re-arms the set's descriptor
  // with one epoll_ctl per round, whatever the number of streams in it.
  set_.async_wait(asio::posix::descriptor_base::wait_read, [this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;  // stop(), or the io_context is going away
    dispatch();
    if (!stopped_) arm();
  });
}

void Poller::dispatch() {
  const int n = ::epoll_wait(set_.native_handle(), events_.data(), static_cast<int>(events_.size()), 0);
  if (n <= 0) return;  // EINTR, or another round took the events
  in_round_ = true;
  for (int i = 0; i < n; ++i) {
    // Looked up for each event: an earlier target of this round may have removed this one.
    if (Target* t = find(events_[i].data.u64)) t->on_poll(events_[i].events);
  }
  end_round();
}

void Poller::run_deferred() {
  deferred_posted_ = false;
  running_.swap(deferred_);
  in_round_ = true;
  for (const Token token : running_) {
    if (Target* t = find(token)) t->on_poll(0);
  }
  running_.clear();
  end_round();
}

void Poller::end_round() {
  in_round_ = false;
  if (after_round_) after_round_();
}

}  // namespace hermod::net
