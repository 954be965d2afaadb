// Retry decisions and outcome classification: pure logic with a manual clock, no sleeps.
#include <gtest/gtest.h>

#include "resilience/verdict.hpp"

namespace rcache::detail {
namespace {

using namespace std::chrono_literals;
using Why = RetryPlan::Why;

struct Fixture {
  RetryPolicy policy;
  ManualClock clock;
  Backoff backoff{policy, 1};
  RetryBudget budget{10, 0.1};
  RetryPlan plan(Verdict v, int attempts, bool idempotent = true, bool sent = true,
                 std::chrono::milliseconds left = 250ms) {
    return plan_retry(policy, v, attempts, idempotent, sent, backoff, budget, clock.now(),
                      clock.now() + left);
  }
};

TEST(RetryPlan, RetryableFailureIsRetriedWithABackoffDelay) {
  Fixture f;
  auto p = f.plan(Verdict::retryable, 1);
  ASSERT_TRUE(p.retry());
  EXPECT_LE(p.delay, 10ms);
}

TEST(RetryPlan, OnlyRetryableVerdictsAreRetried) {
  Fixture f;
  EXPECT_EQ(f.plan(Verdict::success, 1).why, Why::not_retryable);
  EXPECT_EQ(f.plan(Verdict::failure, 1).why, Why::not_retryable);
  EXPECT_EQ(f.plan(Verdict::abandoned, 1).why, Why::not_retryable);
}

TEST(RetryPlan, StopsAfterMaxAttempts) {
  Fixture f;
  EXPECT_TRUE(f.plan(Verdict::retryable, 2).retry());
  EXPECT_EQ(f.plan(Verdict::retryable, 3).why, Why::attempts_exhausted);
}

TEST(RetryPlan, NonIdempotentIsRetriedOnlyIfNeverSentOrOptedIn) {
  Fixture f;
  EXPECT_EQ(f.plan(Verdict::retryable, 1, false, true).why, Why::not_idempotent);
  EXPECT_TRUE(f.plan(Verdict::retryable, 1, false, false).retry());
  f.policy.retry_non_idempotent = true;
  Backoff b(f.policy, 1);
  EXPECT_TRUE(plan_retry(f.policy, Verdict::retryable, 1, false, true, b, f.budget, f.clock.now(),
                         f.clock.now() + 250ms)
                  .retry());
}

TEST(RetryPlan, DeadlineCutsRetriesShort) {
  Fixture f;
  f.policy.jitter = Jitter::none;  // delays exactly 10, 20, 40 ms
  Backoff b(f.policy, 1);
  const auto deadline = f.clock.now() + 25ms;
  auto p1 =
      plan_retry(f.policy, Verdict::retryable, 1, true, true, b, f.budget, f.clock.now(), deadline);
  ASSERT_TRUE(p1.retry());
  f.clock.advance(p1.delay);  // 10 ms used; the next delay (20 ms) would end past 25 ms
  auto p2 =
      plan_retry(f.policy, Verdict::retryable, 2, true, true, b, f.budget, f.clock.now(), deadline);
  EXPECT_EQ(p2.why, Why::deadline);
}

TEST(RetryPlan, BudgetExhaustionStopsRetriesAndSuccessesBringThemBack) {
  Fixture f;
  int retried = 0;
  for (int i = 0; i < 20; ++i) {
    if (f.plan(Verdict::retryable, 1).retry()) ++retried;
  }
  EXPECT_EQ(retried, 5);  // 10 tokens, no retries at or below half
  EXPECT_EQ(f.plan(Verdict::retryable, 1).why, Why::budget);
  for (int i = 0; i < 10; ++i) f.budget.on_success();
  EXPECT_TRUE(f.plan(Verdict::retryable, 1).retry());
}

TEST(Classify, TransportErrorsAreRetryableAuthIsNotShutdownIsNoVerdict) {
  auto with = [](Errc c) {
    Outcome o;
    o.error = Error{c, "x"};
    return classify(o);
  };
  EXPECT_EQ(with(Errc::timeout), Verdict::retryable);
  EXPECT_EQ(with(Errc::connection), Verdict::retryable);
  EXPECT_EQ(with(Errc::protocol), Verdict::retryable);
  EXPECT_EQ(with(Errc::auth), Verdict::failure);
  EXPECT_EQ(with(Errc::shutdown), Verdict::abandoned);
}

ReplyPtr error_reply(const char* text) {
  redisReader* r = create_reader();
  const std::string wire = std::string("-") + text + "\r\n";
  redisReaderFeed(r, wire.data(), wire.size());
  void* reply = nullptr;
  redisReaderGetReply(r, &reply);
  redisReaderFree(r);
  return ReplyPtr(static_cast<redisReply*>(reply));
}

TEST(Classify, ServerErrorsThatMaySucceedLaterAreRetryableOthersAreAnswers) {
  auto of = [](const char* text) {
    Outcome o;
    o.reply = error_reply(text);
    return classify(o);
  };
  EXPECT_EQ(of("LOADING Redis is loading the dataset in memory"), Verdict::retryable);
  EXPECT_EQ(of("TRYAGAIN Multiple keys request during rehashing"), Verdict::retryable);
  EXPECT_EQ(of("MASTERDOWN Link with MASTER is down"), Verdict::retryable);
  EXPECT_EQ(of("READONLY You can't write against a read only replica."), Verdict::retryable);
  EXPECT_EQ(of("WRONGTYPE Operation against a key holding the wrong kind of value"),
            Verdict::success);
  EXPECT_EQ(of("ERR value is not an integer or out of range"), Verdict::success);
  EXPECT_EQ(of("LOADINGX not a real prefix"), Verdict::success);
  EXPECT_EQ(of("NOAUTH Authentication required."), Verdict::failure);
}

}  // namespace
}  // namespace rcache::detail
