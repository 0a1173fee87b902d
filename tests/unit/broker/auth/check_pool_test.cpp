#include "broker/auth/check_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace hermod::broker::auth {
namespace {

TEST(CheckPool, RunsJobsOffTheCallingThread) {
  CheckPool pool(2);
  std::mutex m;
  std::condition_variable cv;
  std::thread::id ran_on;
  bool done = false;
  pool.submit([&] {
    std::lock_guard lock(m);
    ran_on = std::this_thread::get_id();
    done = true;
    cv.notify_one();
  });
  std::unique_lock lock(m);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return done; }));
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

TEST(CheckPool, DestructorFinishesQueuedJobs) {
  std::atomic<int> ran{0};
  {
    CheckPool pool(1);
    for (int i = 0; i < 50; ++i) pool.submit([&] { ran.fetch_add(1); });
  }
  EXPECT_EQ(ran.load(), 50);
}

TEST(CheckPool, AJobThatThrowsDoesNotStopThePool) {
  std::atomic<int> ran{0};
  {
    CheckPool pool(1);
    pool.submit([] { throw std::runtime_error("bad job"); });
    pool.submit([&] { ran.fetch_add(1); });
  }
  EXPECT_EQ(ran.load(), 1);
}

}  // namespace
}  // namespace hermod::broker::auth
