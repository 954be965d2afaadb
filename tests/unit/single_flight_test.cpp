// SingleFlight on its own: one leader per key, followers bounded by their deadline, the leader not.
// The leader is held on a latch, never by a sleep; deadlines are either already near (the
// follower must give up) or far (it must not), so no assertion depends on how fast threads run.
#include "cache/single_flight.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace rcache::detail {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

Result<Loaded> value(const std::string& v) {
  return Loaded{v, Loaded::Source::loader, false};
}

class SingleFlightTest : public ::testing::Test {
 protected:
  // A leader for `key` that runs until release() and then returns "v"; started() once it is in.
  void start_leader(const std::string& key) {
    leader_ = std::thread([this, key] {
      leader_result_ = flights_.run(key, Clock::now() + 1h, [this] {
        leader_calls_.fetch_add(1);
        in_.count_down();
        release_.wait();
        return value("v");
      });
    });
    in_.wait();
  }
  void release() {
    if (!released_) release_.count_down();
    released_ = true;
  }
  void join_leader() {
    if (leader_.joinable()) leader_.join();
  }
  void TearDown() override {
    release();
    join_leader();
  }
  // Polls until n followers have joined a flight (counted before they wait).
  void wait_for_followers(std::uint64_t n) {
    while (metrics_->count(Counter::singleflight_shared) < n) std::this_thread::sleep_for(1ms);
  }

  std::unique_ptr<Metrics> metrics_ = std::make_unique<Metrics>();
  SingleFlight flights_{*metrics_};
  std::latch in_{1};
  std::latch release_{1};
  bool released_ = false;  // main thread only
  std::thread leader_;
  std::atomic<int> leader_calls_{0};
  Result<Loaded> leader_result_ = Error{};
};

TEST_F(SingleFlightTest, FollowerGetsACopyOfTheLeadersResult) {
  start_leader("k");
  Result<Loaded> followed = Error{};
  std::thread follower([&] {
    followed = flights_.run("k", Clock::now() + 1h, [] { return value("follower ran"); });
  });
  wait_for_followers(1);
  release();
  follower.join();
  join_leader();
  ASSERT_TRUE(followed.ok()) << followed.error().to_string();
  EXPECT_EQ(followed->value, std::optional<std::string>("v"));
  EXPECT_EQ(leader_calls_.load(), 1);
}

TEST_F(SingleFlightTest, FollowerGivesUpAtItsDeadlineAndTheLeaderStillFinishes) {
  start_leader("slow-key");
  bool follower_ran = false;
  auto followed = flights_.run("slow-key", Clock::now() + 50ms, [&] {
    follower_ran = true;
    return value("follower ran");
  });
  ASSERT_FALSE(followed.ok());
  EXPECT_EQ(followed.error().code, Errc::timeout);
  EXPECT_THAT(followed.error().message, HasSubstr("get_or_load"));
  EXPECT_THAT(followed.error().message, HasSubstr("'slow-key'"));
  EXPECT_THAT(followed.error().message, HasSubstr("another caller's load"));
  EXPECT_FALSE(follower_ran);
  EXPECT_EQ(metrics_->count(Counter::singleflight_shared), 1u);

  release();  // the leader was not cut short: its load completes normally
  join_leader();
  ASSERT_TRUE(leader_result_.ok()) << leader_result_.error().to_string();
  EXPECT_EQ(leader_result_->value, std::optional<std::string>("v"));
  EXPECT_EQ(leader_calls_.load(), 1);
}

TEST_F(SingleFlightTest, FollowerWhoseDeadlineHasPassedDoesNotWaitAtAll) {
  start_leader("k");
  auto followed = flights_.run("k", Clock::now() - 1s, [] { return value("follower ran"); });
  ASSERT_FALSE(followed.ok());
  EXPECT_EQ(followed.error().code, Errc::timeout);
}

TEST_F(SingleFlightTest, LongKeysAreShortenedInTheTimeoutMessage) {
  const std::string key(1000, 'x');
  start_leader(key);
  auto followed = flights_.run(key, Clock::now(), [] { return value("follower ran"); });
  ASSERT_FALSE(followed.ok());
  EXPECT_THAT(followed.error().message, HasSubstr(std::string(64, 'x') + "...'"));
  EXPECT_LT(followed.error().message.size(), 300u);
}

// Why get_or_load's leader re-reads the cache: a flight ends with its leader, so a caller that
// arrives just after it (its own cache read having missed earlier) leads a new one.
TEST_F(SingleFlightTest, ACallerArrivingAfterAFlightEndedLeadsANewOne) {
  int calls = 0;
  auto first = flights_.run("k", Clock::now() + 1h, [&] {
    ++calls;
    return value("first");
  });
  auto second = flights_.run("k", Clock::now() + 1h, [&] {
    ++calls;
    return value("second");
  });
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(second->value, std::optional<std::string>("second"));
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(metrics_->count(Counter::singleflight_shared), 0u);
}

TEST_F(SingleFlightTest, OtherKeysAreNotHeldByASlowLeader) {
  start_leader("slow");
  auto other = flights_.run("other", Clock::now() + 1h, [] { return value("o"); });
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->value, std::optional<std::string>("o"));
}

TEST_F(SingleFlightTest, RefreshIsSkippedWhileAFlightRunsAndLedWhenIdle) {
  start_leader("k");
  EXPECT_FALSE(flights_.lead_if_idle("k", [] { return value("refresh"); }).has_value());
  release();
  join_leader();
  auto refreshed = flights_.lead_if_idle("k", [] { return value("refresh"); });
  ASSERT_TRUE(refreshed.has_value() && refreshed->ok());
  EXPECT_EQ((*refreshed)->value, std::optional<std::string>("refresh"));
}

// ---- the asynchronous form: join() and finish() ----

TEST_F(SingleFlightTest, AsyncJoinLeadsWhenIdleAndFollowsWhenAFlightRuns) {
  std::vector<std::string> got;
  auto lead = flights_.join("k", [&](const Result<Loaded>&) { got.emplace_back("unexpected"); });
  ASSERT_NE(lead, nullptr);  // nobody was flying: we lead
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(flights_.join("k", [&](const Result<Loaded>& r) { got.push_back(*r->value); }),
              nullptr);
  }
  EXPECT_EQ(metrics_->count(Counter::singleflight_shared), 3u);
  EXPECT_TRUE(got.empty());
  flights_.finish("k", lead, value("async"));
  EXPECT_EQ(got, (std::vector<std::string>{"async", "async", "async"}));
  flights_.finish("k", lead, value("again"));  // a second finish changes nothing
  EXPECT_EQ(got.size(), 3u);
  // The key is free: the next caller leads a new flight.
  auto next = flights_.join("k", [](const Result<Loaded>&) {});
  EXPECT_NE(next, nullptr);
  flights_.finish("k", next, value("x"));
}

TEST_F(SingleFlightTest, AsyncFollowersShareABlockingLeadersResultAndViceVersa) {
  start_leader("mixed");  // a blocking leader, held
  std::atomic<int> followed{0};
  EXPECT_EQ(flights_.join("mixed",
                          [&](const Result<Loaded>& r) {
                            if (r.ok() && r->value == std::optional<std::string>("v")) ++followed;
                          }),
            nullptr);
  release();
  join_leader();
  EXPECT_EQ(followed.load(), 1);
  // An async leader, a blocking follower.
  auto lead = flights_.join("mixed2", [](const Result<Loaded>&) {});
  ASSERT_NE(lead, nullptr);
  std::thread follower([&] {
    auto r = flights_.run("mixed2", Clock::now() + 1h, [] { return value("not me"); });
    EXPECT_EQ(r.value().value, std::optional<std::string>("from-async"));
  });
  wait_for_followers(2);
  flights_.finish("mixed2", lead, value("from-async"));
  follower.join();
}

TEST_F(SingleFlightTest, AFollowerThatThrowsDoesNotStopTheOthers) {
  auto lead = flights_.join("t", [](const Result<Loaded>&) {});
  int after = 0;
  (void)flights_.join("t", [](const Result<Loaded>&) { throw std::runtime_error("x"); });
  (void)flights_.join("t", [&](const Result<Loaded>&) { ++after; });
  flights_.finish("t", lead, value("v"));
  EXPECT_EQ(after, 1);
}

}  // namespace
}  // namespace rcache::detail
