// A small pool of threads for the slow part of a plain-password CONNECT: one PBKDF2 run of
// some thousands of iterations (about 3 ms) per login. Run on the worker thread, a storm of
// logins would stall every other client of that worker for as long; here the worker hands the
// check over and goes on, and the verdict comes back to it as a posted completion.
//
// Threads: submit() from any thread; jobs run on the pool's threads; the completion is posted to
// the io_context given with the job. The pool's destructor finishes the queued jobs (their
// completions are still posted) and joins its threads. Jobs must not touch the caller's objects:
// they get values in, and hand a value to the completion.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hermod::broker::auth {

class CheckPool {
 public:
  // `threads`: at least one.
  explicit CheckPool(std::size_t threads);
  ~CheckPool();
  CheckPool(const CheckPool&) = delete;
  CheckPool& operator=(const CheckPool&) = delete;

  // Runs `job` on a pool thread. `job` posts its own completion (it knows the io_context).
  void submit(std::function<void()> job);

  // Jobs submitted and not finished (for tests and metrics).
  std::size_t pending() const;

 private:
  void run();

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  std::size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace hermod::broker::auth
