#include "client/backoff.hpp"

#include <gtest/gtest.h>

namespace hermod::client {
namespace {

using std::chrono::milliseconds;

BackoffOptions opts(double jitter) {
  BackoffOptions o;
  o.initial_delay = milliseconds(100);
  o.max_delay = milliseconds(1000);
  o.multiplier = 2.0;
  o.jitter = jitter;
  return o;
}

TEST(Backoff, WithoutJitterDoublesUpToTheCap) {
  Backoff b(opts(0.0), 1);
  const std::vector<long> expected{100, 200, 400, 800, 1000, 1000};
  for (long e : expected) EXPECT_EQ(b.next().count(), e);
}

TEST(Backoff, JitterStaysWithinItsBandAndUnderTheCap) {
  Backoff b(opts(0.5), 42);
  for (unsigned n = 0; n < 50; ++n) {
    const double base = static_cast<double>(b.base_delay(n).count());
    const auto d = static_cast<double>(b.next().count());
    EXPECT_GE(d, base * 0.5 - 1) << "attempt " << n;
    EXPECT_LE(d, std::min(1000.0, base * 1.5)) << "attempt " << n;
  }
}

TEST(Backoff, JitterSpreadsClientsApart) {
  Backoff a(opts(0.5), 1);
  Backoff b(opts(0.5), 2);
  int differ = 0;
  for (int i = 0; i < 10; ++i) differ += a.next() != b.next();
  EXPECT_GT(differ, 5);
}

TEST(Backoff, SameSeedSameSchedule) {
  Backoff a(opts(0.3), 7);
  Backoff b(opts(0.3), 7);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.next(), b.next());
}

TEST(Backoff, ResetStartsOverAtTheInitialDelay) {
  Backoff b(opts(0.0), 1);
  b.next();
  b.next();
  EXPECT_EQ(b.attempts(), 2u);
  b.reset();
  EXPECT_EQ(b.next().count(), 100);
}

TEST(Backoff, LongOutagesDoNotOverflow) {
  Backoff b(opts(0.0), 1);
  for (int i = 0; i < 5000; ++i) ASSERT_EQ(b.next().count(), i < 4 ? 100L << i : 1000L);
}

}  // namespace
}  // namespace hermod::client
