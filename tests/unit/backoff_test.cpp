// Backoff delays and the retry budget: pure logic, no sleeps.
#include "base/backoff.hpp"

#include <gtest/gtest.h>

#include <set>

namespace rcache::detail {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

RetryPolicy policy(Jitter j) {
  RetryPolicy p;
  p.base = milliseconds(10);
  p.multiplier = 2.0;
  p.cap = milliseconds(200);
  p.jitter = j;
  return p;
}

TEST(Backoff, CeilingGrowsExponentiallyUpToTheCap) {
  const auto p = policy(Jitter::none);
  EXPECT_EQ(Backoff::ceiling(p, 1), milliseconds(10));
  EXPECT_EQ(Backoff::ceiling(p, 2), milliseconds(20));
  EXPECT_EQ(Backoff::ceiling(p, 3), milliseconds(40));
  EXPECT_EQ(Backoff::ceiling(p, 5), milliseconds(160));
  EXPECT_EQ(Backoff::ceiling(p, 6), milliseconds(200));
  EXPECT_EQ(Backoff::ceiling(p, 60), milliseconds(200));
}

TEST(Backoff, NoJitterIsTheCeiling) {
  Backoff b(policy(Jitter::none), 1);
  for (int n = 1; n <= 8; ++n) EXPECT_EQ(b.delay(n), Backoff::ceiling(policy(Jitter::none), n));
}

TEST(Backoff, FullJitterStaysWithinZeroAndTheCeilingAndSpreads) {
  const auto p = policy(Jitter::full);
  for (int n = 1; n <= 7; ++n) {
    Backoff b(p, static_cast<std::uint64_t>(n));
    std::set<std::int64_t> seen;
    for (int i = 0; i < 500; ++i) {
      const auto d = b.delay(n);
      ASSERT_GE(d.count(), 0);
      ASSERT_LE(d, Backoff::ceiling(p, n));
      seen.insert(d.count());
    }
    EXPECT_GT(seen.size(), 100u) << "retry " << n << " is not jittered";
  }
}

TEST(Backoff, EqualJitterStaysInTheUpperHalf) {
  const auto p = policy(Jitter::equal);
  Backoff b(p, 7);
  for (int n = 1; n <= 7; ++n) {
    const auto top = Backoff::ceiling(p, n);
    for (int i = 0; i < 300; ++i) {
      const auto d = b.delay(n);
      ASSERT_GE(d, top / 2);
      ASSERT_LE(d, top);
    }
  }
}

TEST(Backoff, DecorrelatedJitterStaysBetweenBaseAndCapAndTripleOfPrevious) {
  const auto p = policy(Jitter::decorrelated);
  Backoff b(p, 99);
  microseconds prev = p.base;
  for (int n = 1; n <= 200; ++n) {
    const auto d = b.delay(n);
    ASSERT_GE(d, microseconds(p.base));
    ASSERT_LE(d, microseconds(p.cap));
    ASSERT_LE(d, prev * 3);
    prev = d;
  }
}

TEST(RetryBudget, SpendsDownToHalfThenRefuses) {
  RetryBudget b(10, 0.1);
  int spent = 0;
  while (b.try_spend() && spent < 100) ++spent;
  EXPECT_EQ(spent, 5);  // 10 -> 5 tokens; at 5 (half) no more retries
  EXPECT_FALSE(b.try_spend());
}

TEST(RetryBudget, SuccessesRefillItAndItRecovers) {
  RetryBudget b(10, 0.1);
  while (b.try_spend()) {
  }
  EXPECT_FALSE(b.try_spend());
  for (int i = 0; i < 9; ++i) b.on_success();  // 5.9 tokens
  EXPECT_TRUE(b.try_spend());                  // 4.9 left
  EXPECT_FALSE(b.try_spend());
  for (int i = 0; i < 1000; ++i) b.on_success();
  EXPECT_DOUBLE_EQ(b.tokens(), 10.0);  // never above the maximum
}

TEST(RetryBudget, ZeroTokensMeansNoBudget) {
  RetryBudget b(0, 0.1);
  EXPECT_FALSE(b.enabled());
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(b.try_spend());
}

}  // namespace
}  // namespace rcache::detail
