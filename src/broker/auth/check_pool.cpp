#include "broker/auth/check_pool.hpp"

#include <exception>

#include "base/log.hpp"

namespace hermod::broker::auth {

CheckPool::CheckPool(std::size_t threads) {
  if (threads == 0) threads = 1;
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

CheckPool::~CheckPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void CheckPool::submit(std::function<void()> job) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
}

std::size_t CheckPool::pending() const {
  std::lock_guard lock(mutex_);
  return jobs_.size() + running_;
}

void CheckPool::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, and everything queued is done
    auto job = std::move(jobs_.front());
    jobs_.pop_front();
    ++running_;
    lock.unlock();
    try {
      job();
    } catch (const std::exception& e) {
      // A job that throws loses its own verdict only (its connection times out); never the pool.
      logger("auth")->error("password check failed: {}", e.what());
    }
    lock.lock();
    --running_;
  }
}

}  // namespace hermod::broker::auth
