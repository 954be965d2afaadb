// Rate limiter and lock against a real server, under contention.
#include "rcache/patterns.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <mutex>
#include <thread>

#include "fixtures.hpp"

namespace rcache::test {
namespace {

using namespace std::chrono_literals;

class Patterns : public RedisTest {};

TEST_F(Patterns, RateLimiterNeverExceedsTheLimitInAnyWindowAndAlwaysHasATtl) {
  constexpr std::int64_t kLimit = 20;
  constexpr auto kWindow = 500ms;
  RateLimiter limiter(client(), kLimit, kWindow);
  std::mutex mu;
  std::vector<std::int64_t> allowed_at;  // server clock, ms
  std::atomic<bool> stop{false};
  std::atomic<int> denied{0}, errors{0}, missing_ttl{0}, ttl_checks{0};
  std::thread checker([&] {
    while (!stop.load()) {
      auto t = client().command({"PTTL", "api:airtable"});
      if (t.ok()) {
        ttl_checks.fetch_add(1);
        if (t->integer == -1) missing_ttl.fetch_add(1);  // exists without a TTL
      }
    }
  });
  std::vector<std::thread> ts;
  for (int i = 0; i < 8; ++i) {
    ts.emplace_back([&] {
      const auto end = std::chrono::steady_clock::now() + 2s;
      while (std::chrono::steady_clock::now() < end) {
        auto d = limiter.acquire("api:airtable");
        if (!d.ok()) {
          errors.fetch_add(1);
          continue;
        }
        if (d->allowed) {
          std::lock_guard l(mu);
          allowed_at.push_back(d->server_time_ms);
        } else {
          denied.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  stop = true;
  checker.join();
  std::sort(allowed_at.begin(), allowed_at.end());
  std::size_t worst = 0;
  for (std::size_t i = 0, j = 0; j < allowed_at.size(); ++j) {
    while (allowed_at[j] - allowed_at[i] >= kWindow.count()) ++i;
    worst = std::max(worst, j - i + 1);
  }
  std::printf(
      "[ figures  ] rate limiter: %zu allowed, %d denied, max %zu in any %lld ms window "
      "(limit %lld); %d TTL checks, %d without TTL\n",
      allowed_at.size(), denied.load(), worst, static_cast<long long>(kWindow.count()),
      static_cast<long long>(kLimit), ttl_checks.load(), missing_ttl.load());
  EXPECT_EQ(errors.load(), 0);
  EXPECT_LE(worst, static_cast<std::size_t>(kLimit));
  EXPECT_GE(allowed_at.size(), static_cast<std::size_t>(kLimit * 3));  // it does let calls through
  EXPECT_GT(denied.load(), 0);
  EXPECT_GT(ttl_checks.load(), 10);
  EXPECT_EQ(missing_ttl.load(), 0);
}

TEST_F(Patterns, ContendingThreadsNeverHoldTheLockTogether) {
  std::atomic<int> holders{0}, overlaps{0}, acquired{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i) {
    ts.emplace_back([&] {
      for (int n = 0; n < 25; ++n) {
        auto h = lock(client(), "job:nightly", 5s, 5s);
        if (!h.ok() || !h->has_value()) continue;
        acquired.fetch_add(1);
        if (holders.fetch_add(1) != 0) overlaps.fetch_add(1);
        std::this_thread::sleep_for(1ms);
        holders.fetch_sub(1);
        EXPECT_TRUE(unlock(client(), **h).value());
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(acquired.load(), 100);
}

TEST_F(Patterns, ReleaseOrExtendWithAWrongTokenDoesNothing) {
  auto h = try_lock(client(), "res", 10s);
  ASSERT_TRUE(h.ok() && h->has_value());
  LockHandle impostor{"res", "not-the-token"};
  EXPECT_FALSE(unlock(client(), impostor).value());
  EXPECT_FALSE(extend(client(), impostor, 60s).value());
  EXPECT_TRUE(client().exists("res").value());
  EXPECT_FALSE(try_lock(client(), "res", 10s)->has_value());  // still held
  EXPECT_TRUE(extend(client(), **h, 60s).value());
  EXPECT_GT(client().ttl("res")->remaining.count(), 50000);
  EXPECT_TRUE(unlock(client(), **h).value());
  EXPECT_FALSE(client().exists("res").value());
}

TEST_F(Patterns, LockWaitIsBounded) {
  auto held = try_lock(client(), "busy", 10s);
  ASSERT_TRUE(held.ok() && held->has_value());
  const auto start = std::chrono::steady_clock::now();
  auto r = lock(client(), "busy", 1s, 200ms);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  EXPECT_GE(took, 190ms);
  EXPECT_LT(took, 2s);
}

TEST_F(Patterns, OutOfRangeArgumentsAreRefusedBeforeAnythingIsWritten) {
  using Ms = std::chrono::milliseconds;
  const std::vector<std::pair<std::int64_t, Ms>> bad_limiters = {
      {0, Ms(1000)}, {-1, Ms(1000)}, {std::numeric_limits<std::int64_t>::max(), Ms(1000)},
      {10, Ms(0)},   {10, Ms(-5)},   {10, Ms(100'000'000'000'000'000LL)}};
  for (const auto& [limit, window] : bad_limiters) {
    RateLimiter rl(client(), limit, window);
    auto r = rl.acquire("rl:bad");
    ASSERT_FALSE(r.ok()) << limit << " / " << window.count();
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
    EXPECT_THAT(r.error().message, ::testing::HasSubstr("out of range"));
  }
  EXPECT_FALSE(client().exists("rl:bad").value());
  for (const Ms ttl : {Ms(0), Ms(-1), Ms(100'000'000'000'000'000LL)}) {
    auto t = rcache::try_lock(client(), "lk:bad", ttl);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.error().code, Errc::invalid_argument);
    auto l = rcache::lock(client(), "lk:bad", ttl, Ms(10));
    ASSERT_FALSE(l.ok());
    EXPECT_EQ(l.error().code, Errc::invalid_argument);
  }
  EXPECT_EQ(rcache::lock(client(), "lk:bad", Ms(1000), Ms(-1)).error().code,
            Errc::invalid_argument);
  EXPECT_FALSE(client().exists("lk:bad").value());
  auto held = rcache::try_lock(client(), "lk:ok", Ms(5000));
  ASSERT_TRUE(held.ok() && held->has_value());
  EXPECT_EQ(rcache::extend(client(), **held, Ms(0)).error().code, Errc::invalid_argument);
  EXPECT_EQ(rcache::extend(client(), **held, Ms(100'000'000'000'000'000LL)).error().code,
            Errc::invalid_argument);
  EXPECT_TRUE(rcache::unlock(client(), **held).value());
}

}  // namespace
}  // namespace rcache::test
