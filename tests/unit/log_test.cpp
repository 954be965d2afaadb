// The logger: structured events, the level filter, the rate limit of repeatable events, and a
// throwing sink.
#include "base/log.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace rcache::detail {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

struct Seen {
  LogLevel level;
  std::string event, endpoint, from, to, message;
  std::uint64_t suppressed;
};

class LoggerTest : public ::testing::Test {
 protected:
  LogEventSink sink() {
    return [this](const LogEvent& e) {
      seen_.push_back(Seen{e.level, std::string(e.event), std::string(e.endpoint),
                           std::string(e.from), std::string(e.to), std::string(e.message),
                           e.suppressed});
    };
  }
  ManualClock clock_;
  std::vector<Seen> seen_;
  int plain_lines_ = 0;
};

TEST_F(LoggerTest, EventsCarryTheirFieldsAndThePlainSinkIsNotCalledBeside) {
  const Logger log([this](LogLevel, std::string_view) { ++plain_lines_; }, sink(), LogLevel::info,
                   clock_);
  log.event(LogLevel::warning, "breaker_transition", "127.0.0.1:6379",
            "circuit breaker for 127.0.0.1:6379: closed -> open", "closed", "open");
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].level, LogLevel::warning);
  EXPECT_EQ(seen_[0].event, "breaker_transition");
  EXPECT_EQ(seen_[0].endpoint, "127.0.0.1:6379");
  EXPECT_EQ(seen_[0].from, "closed");
  EXPECT_EQ(seen_[0].to, "open");
  EXPECT_EQ(seen_[0].message, "circuit breaker for 127.0.0.1:6379: closed -> open");
  EXPECT_EQ(seen_[0].suppressed, 0u);
  EXPECT_EQ(plain_lines_, 0);
}

TEST_F(LoggerTest, TheLevelFiltersEventsAndOffSilencesAll) {
  const Logger log(nullptr, sink(), LogLevel::warning, clock_);
  log.event(LogLevel::info, "near_cache_coherent", "e", "m");
  log.event(LogLevel::error, "auth_refused", "e", "m");
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].event, "auth_refused");
  const Logger off(nullptr, sink(), LogLevel::off, clock_);
  off.event(LogLevel::error, "auth_refused", "e", "m");
  EXPECT_EQ(seen_.size(), 1u);
}

TEST_F(LoggerTest, ARepeatableEventIsShownOncePerWindowThenWithTheCountNotShown) {
  const Logger log(nullptr, sink(), LogLevel::debug, clock_);
  for (int i = 0; i < 5; ++i) {
    log.event(LogLevel::error, "connection_broken_stream", "a:1", "dropped", {}, {}, true);
    clock_.advance(1s);
  }
  ASSERT_EQ(seen_.size(), 1u);
  // Another endpoint, or another state pair, is another event.
  log.event(LogLevel::error, "connection_broken_stream", "b:2", "dropped", {}, {}, true);
  log.event(LogLevel::info, "breaker_transition", "a:1", "x", "open", "half_open", true);
  log.event(LogLevel::info, "breaker_transition", "a:1", "x", "half_open", "open", true);
  EXPECT_EQ(seen_.size(), 4u);
  clock_.advance(5s);  // 10 s after the first one was shown
  log.event(LogLevel::error, "connection_broken_stream", "a:1", "dropped", {}, {}, true);
  ASSERT_EQ(seen_.size(), 5u);
  EXPECT_EQ(seen_.back().suppressed, 4u);
  EXPECT_EQ(seen_.back().message, "dropped (4 more like this not shown since the last one)");
  log.event(LogLevel::error, "connection_broken_stream", "a:1", "dropped", {}, {}, true);
  EXPECT_EQ(seen_.size(), 5u);  // a new window started with the one shown
}

TEST_F(LoggerTest, EventsNotMarkedRepeatableAreNeverHeldBack) {
  const Logger log(nullptr, sink(), LogLevel::debug, clock_);
  for (int i = 0; i < 3; ++i) {
    log.event(LogLevel::warning, "redis_unreachable", "a:1", "down", "reachable", "unreachable");
    log.event(LogLevel::warning, "redis_reachable", "a:1", "up", "unreachable", "reachable");
  }
  EXPECT_EQ(seen_.size(), 6u);
}

TEST_F(LoggerTest, AThrowingSinkLosesTheLineAndNothingElse) {
  const Logger log(
      nullptr, [](const LogEvent&) { throw std::runtime_error("sink down"); }, LogLevel::debug,
      clock_);
  EXPECT_NO_THROW(log.event(LogLevel::error, "auth_refused", "e", "m"));
  const Logger plain([](LogLevel, std::string_view) { throw 42; }, LogLevel::debug, clock_);
  EXPECT_NO_THROW(plain.event(LogLevel::error, "auth_refused", "e", "m"));
}

}  // namespace
}  // namespace rcache::detail
