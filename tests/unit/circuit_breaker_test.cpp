// Every breaker transition, with a manual clock and no sleeps.
#include "resilience/circuit_breaker.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace rcache::detail {
namespace {

using namespace std::chrono_literals;
using S = BreakerState;

class Breaker : public ::testing::Test {
 protected:
  Breaker() {
    policy_.consecutive_failures = 5;
    policy_.failure_rate = 0.5;
    policy_.window = 100;
    policy_.min_calls = 20;
    policy_.open_base = 5s;
    policy_.open_max = 60s;
    policy_.half_open_probes = 3;
  }
  CircuitBreaker& make() {
    b_ = std::make_unique<CircuitBreaker>(
        policy_, clock_, [this](S from, S to) { changes_.emplace_back(from, to); });
    return *b_;
  }
  void fail(CircuitBreaker& b, int n) {
    for (int i = 0; i < n; ++i) b.on_failure(b.admit());
  }
  void succeed(CircuitBreaker& b, int n) {
    for (int i = 0; i < n; ++i) b.on_success(b.admit(), 1ms);
  }
  // From closed to open, and the open period elapsed.
  void trip_and_wait(CircuitBreaker& b) {
    fail(b, 5);
    ASSERT_EQ(b.state(), S::open);
    clock_.advance(b.open_period());
  }

  BreakerPolicy policy_;
  ManualClock clock_;
  std::unique_ptr<CircuitBreaker> b_;
  std::vector<std::pair<S, S>> changes_;
};

TEST_F(Breaker, OpensAfterFiveConsecutiveFailures) {
  auto& b = make();
  fail(b, 4);
  EXPECT_EQ(b.state(), S::closed);
  fail(b, 1);
  EXPECT_EQ(b.state(), S::open);
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0], std::make_pair(S::closed, S::open));
}

TEST_F(Breaker, ASuccessResetsTheStreak) {
  policy_.min_calls = 100;  // keep the rate rule out of it: 4 of 5 calls fail
  policy_.failure_rate = 1.0;
  auto& b = make();
  for (int i = 0; i < 10; ++i) {
    fail(b, 4);
    succeed(b, 1);
  }
  EXPECT_EQ(b.state(), S::closed);
  fail(b, 5);
  EXPECT_EQ(b.state(), S::open);
}

TEST_F(Breaker, OpensOnFailureRateOverTheWindowOnlyAfterMinCalls) {
  policy_.consecutive_failures = 1000;  // isolate the rate rule
  auto& b = make();
  for (int i = 0; i < 9; ++i) {  // 18 calls, 50 % failures, below min_calls
    fail(b, 1);
    succeed(b, 1);
  }
  EXPECT_EQ(b.state(), S::closed);
  succeed(b, 1);  // 19 calls, 9 failures
  fail(b, 1);     // 20 calls, 10 failures = 50 %
  EXPECT_EQ(b.state(), S::open);
}

TEST_F(Breaker, RateBelowThresholdStaysClosed) {
  policy_.consecutive_failures = 1000;
  auto& b = make();
  for (int i = 0; i < 300; ++i) {  // 1 failure in 3 = 33 %
    fail(b, 1);
    succeed(b, 2);
  }
  EXPECT_EQ(b.state(), S::closed);
}

TEST_F(Breaker, OpenRefusesUntilThePeriodEnds) {
  auto& b = make();
  fail(b, 5);
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(b.admit().admitted);
  clock_.advance(4999ms);
  EXPECT_FALSE(b.admit().admitted);
  clock_.advance(1ms);
  auto t = b.admit();
  EXPECT_TRUE(t.admitted);
  EXPECT_TRUE(t.probe);
  EXPECT_EQ(b.state(), S::half_open);
}

TEST_F(Breaker, HalfOpenAdmitsExactlyThreeProbes) {
  auto& b = make();
  trip_and_wait(b);
  std::vector<CircuitBreaker::Ticket> probes;
  for (int i = 0; i < 10; ++i) {
    auto t = b.admit();
    if (t.admitted) probes.push_back(t);
  }
  EXPECT_EQ(probes.size(), 3u);
}

TEST_F(Breaker, ThreeProbeSuccessesClose) {
  auto& b = make();
  trip_and_wait(b);
  auto p1 = b.admit(), p2 = b.admit(), p3 = b.admit();
  b.on_success(p1, 1ms);
  b.on_success(p2, 1ms);
  EXPECT_EQ(b.state(), S::half_open);
  b.on_success(p3, 1ms);
  EXPECT_EQ(b.state(), S::closed);
  EXPECT_EQ(changes_.back(), std::make_pair(S::half_open, S::closed));
}

TEST_F(Breaker, AProbeFailureReopensWithDoubledPeriodUpToTheCap) {
  auto& b = make();
  trip_and_wait(b);  // first open period: 5 s
  std::vector<std::chrono::milliseconds> periods;
  for (int i = 0; i < 6; ++i) {
    b.on_failure(b.admit());  // probe fails -> re-trip
    ASSERT_EQ(b.state(), S::open);
    periods.push_back(b.open_period());
    clock_.advance(b.open_period() - 1ms);
    ASSERT_FALSE(b.admit().admitted);
    clock_.advance(1ms);
  }
  EXPECT_EQ(periods, (std::vector<std::chrono::milliseconds>{10s, 20s, 40s, 60s, 60s, 60s}));
}

TEST_F(Breaker, ClosingResetsTheDoubling) {
  auto& b = make();
  trip_and_wait(b);
  b.on_failure(b.admit());  // 10 s
  clock_.advance(b.open_period());
  succeed(b, 3);
  ASSERT_EQ(b.state(), S::closed);
  fail(b, 5);
  EXPECT_EQ(b.open_period(), 5s);
}

TEST_F(Breaker, MissesAndServerErrorsAreSuccessesSoNeverTrip) {
  // The client reports a miss or a WRONGTYPE reply as on_success: the server answered.
  auto& b = make();
  succeed(b, 1000);
  EXPECT_EQ(b.state(), S::closed);
  EXPECT_TRUE(changes_.empty());
}

TEST_F(Breaker, SlowCallsCountAsFailuresWhenConfigured) {
  policy_.slow_call = 50ms;
  auto& b = make();
  for (int i = 0; i < 5; ++i) b.on_success(b.admit(), 80ms);
  EXPECT_EQ(b.state(), S::open);
}

TEST_F(Breaker, StaleOutcomesFromBeforeATripAreIgnored) {
  auto& b = make();
  auto old = b.admit();  // admitted while closed
  fail(b, 5);
  clock_.advance(5s);
  auto probe = b.admit();
  ASSERT_TRUE(probe.probe);
  b.on_success(old, 1ms);  // late reply from before the trip
  b.on_success(old, 1ms);
  b.on_success(old, 1ms);
  EXPECT_EQ(b.state(), S::half_open);
}

TEST_F(Breaker, AbandonedProbeFreesItsSlot) {
  auto& b = make();
  trip_and_wait(b);
  auto p1 = b.admit(), p2 = b.admit(), p3 = b.admit();
  EXPECT_FALSE(b.admit().admitted);
  b.on_abandon(p3);
  auto p4 = b.admit();
  EXPECT_TRUE(p4.admitted);
  b.on_success(p1, 1ms);
  b.on_success(p2, 1ms);
  b.on_success(p4, 1ms);
  EXPECT_EQ(b.state(), S::closed);
}

TEST_F(Breaker, ForcedOpenRefusesEverythingUntilReset) {
  auto& b = make();
  b.force_open();
  clock_.advance(1h);
  for (int i = 0; i < 100; ++i) ASSERT_FALSE(b.admit().admitted);
  EXPECT_EQ(b.state(), S::forced_open);
  b.reset();
  EXPECT_EQ(b.state(), S::closed);
  EXPECT_TRUE(b.admit().admitted);
}

TEST_F(Breaker, DisabledAdmitsEverythingAndNeverTrips) {
  auto& b = make();
  b.disable();
  fail(b, 1000);
  EXPECT_EQ(b.state(), S::disabled);
  EXPECT_TRUE(b.admit().admitted);
}

TEST_F(Breaker, ListenerSeesEveryTransitionInOrder) {
  auto& b = make();
  trip_and_wait(b);
  succeed(b, 3);
  const std::vector<std::pair<S, S>> want = {
      {S::closed, S::open}, {S::open, S::half_open}, {S::half_open, S::closed}};
  EXPECT_EQ(changes_, want);
  EXPECT_EQ(b.transitions(), 3u);
}

}  // namespace
}  // namespace rcache::detail
