// SentinelRounds: which sentinel is asked, when a round of failures is over and what its error
// says, who goes first after an answer, and the pacing of queries. Pure logic, no sockets.
#include "topology/sentinel_rounds.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace rcache::detail {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::vector<Target> three() {
  return {{"10.0.0.1", 26379}, {"10.0.0.2", 26379}, {"10.0.0.3", 1}};
}

const Error kRefused{Errc::connection, "connection refused"};

TEST(SentinelRounds, BothConnectionsStartOnTheFirstSentinelAndRotateWithWrapAround) {
  SentinelRounds r(three(), "mymaster");
  EXPECT_EQ(r.query_target().host, "10.0.0.1");
  EXPECT_EQ(r.sub_target().host, "10.0.0.1");
  r.next_query();
  r.next_query();
  EXPECT_EQ(r.query_target().host, "10.0.0.3");
  EXPECT_EQ(r.sub_target().host, "10.0.0.1");  // independent
  r.next_query();
  EXPECT_EQ(r.query_target().host, "10.0.0.1");
  r.next_sub();
  EXPECT_EQ(r.sub_target().host, "10.0.0.2");
}

TEST(SentinelRounds, ARoundIsOverOnlyWhenEverySentinelFailedInARow) {
  SentinelRounds r(three(), "mymaster");
  EXPECT_FALSE(r.failed(kRefused).has_value());
  EXPECT_FALSE(r.failed(kRefused).has_value());
  EXPECT_EQ(r.failed_in_row(), 2u);
  // An answer in between starts the count again.
  r.answered();
  EXPECT_EQ(r.failed_in_row(), 0u);
  EXPECT_FALSE(r.failed(kRefused).has_value());
  EXPECT_FALSE(r.failed(kRefused).has_value());
  const auto over = r.failed(kRefused);
  ASSERT_TRUE(over.has_value());
  EXPECT_EQ(over->why.code, Errc::connection);
  EXPECT_THAT(over->why.message,
              HasSubstr("no sentinel gave the address of master 'mymaster' (3 asked; "
                        "connection refused)"));
  EXPECT_EQ(r.failed_in_row(), 0u);  // the next round counts from zero
}

TEST(SentinelRounds, TheRoundsErrorIsTheMostTellingOne) {
  const Error auth{Errc::auth, "WRONGPASS invalid username-password pair"};
  const Error unknown{Errc::invalid_argument,
                      "sentinel 10.0.0.2:26379 monitors no master named 'mymaster'"};
  {
    SentinelRounds r(three(), "mymaster");
    r.failed(kRefused);
    r.failed(unknown);
    const auto over = r.failed(auth);  // configuration beats credentials beats connection
    ASSERT_TRUE(over.has_value());
    EXPECT_EQ(over->why.code, Errc::invalid_argument);
    EXPECT_THAT(over->why.message, HasSubstr("monitors no master named"));
  }
  {
    SentinelRounds r(three(), "mymaster");
    r.failed(auth);
    r.failed(kRefused);
    const auto over = r.failed(kRefused);
    ASSERT_TRUE(over.has_value());
    EXPECT_EQ(over->why.code, Errc::auth);
    EXPECT_THAT(over->why.message, HasSubstr("WRONGPASS"));
  }
  {
    // The first of equally telling errors is kept; an error without a message says so.
    SentinelRounds r({{"a", 1}, {"b", 2}}, "m");
    r.failed(Error{Errc::timeout, "first timeout"});
    const auto over = r.failed(Error{Errc::timeout, "second timeout"});
    ASSERT_TRUE(over.has_value());
    EXPECT_EQ(over->why.code, Errc::timeout);
    EXPECT_THAT(over->why.message, HasSubstr("first timeout"));
    r.failed(Error{});
    const auto bare = r.failed(Error{});
    ASSERT_TRUE(bare.has_value());
    EXPECT_EQ(bare->why.code, Errc::connection);
    EXPECT_THAT(bare->why.message, HasSubstr("(2 asked; no answer)"));
  }
}

TEST(SentinelRounds, ARoundBeforeAnyMasterEndsTheStartUpAfterOneItIsReportedOnce) {
  SentinelRounds r({{"a", 1}}, "m");
  auto first = r.failed(kRefused);
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(first->before_master);
  EXPECT_FALSE(r.failing());  // nothing known to keep: start-up fails instead

  EXPECT_FALSE(r.answered());  // a first answer is not a recovery
  EXPECT_TRUE(r.have_master());
  auto lost = r.failed(kRefused);
  ASSERT_TRUE(lost.has_value());
  EXPECT_FALSE(lost->before_master);
  EXPECT_TRUE(lost->newly_failing);
  EXPECT_TRUE(r.failing());
  auto again = r.failed(kRefused);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(again->newly_failing);  // logged once, not every round

  EXPECT_TRUE(r.answered());  // back: a recovery to report
  EXPECT_FALSE(r.failing());
  EXPECT_FALSE(r.answered());
}

TEST(SentinelRounds, ASwitchMessageMakesTheMasterKnown) {
  SentinelRounds r({{"a", 1}}, "m");
  r.master_known();
  auto over = r.failed(kRefused);
  ASSERT_TRUE(over.has_value());
  EXPECT_FALSE(over->before_master);
}

TEST(SentinelRounds, TheSentinelThatAnsweredGoesFirstAndTheSubscriberStaysWhereItIs) {
  SentinelRounds r({{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}}, "m");
  // The subscriber on c, the query answered by b: b goes first, the subscriber stays on c.
  r.next_sub();
  r.next_sub();
  r.next_query();
  r.answered();
  EXPECT_EQ(r.query_target().host, "b");
  EXPECT_EQ(r.sub_target().host, "c");
  // The order is now b a c d: after b, a is asked.
  r.next_query();
  EXPECT_EQ(r.query_target().host, "a");
  r.next_query();
  EXPECT_EQ(r.query_target().host, "c");
  r.next_query();
  EXPECT_EQ(r.query_target().host, "d");

  // The subscriber on the sentinel that answered follows it to the front.
  r.next_sub();  // the subscriber on d as well
  EXPECT_EQ(r.sub_target().host, "d");
  r.answered();
  EXPECT_EQ(r.query_target().host, "d");
  EXPECT_EQ(r.sub_target().host, "d");

  // A subscriber after the one that answered keeps its sentinel too.
  SentinelRounds s({{"a", 1}, {"b", 2}, {"c", 3}}, "m");
  s.next_query();
  s.next_sub();
  s.next_sub();
  s.answered();  // b a c
  EXPECT_EQ(s.sub_target().host, "c");
  // An answer from the first sentinel changes nothing.
  s.answered();
  EXPECT_EQ(s.query_target().host, "b");
  EXPECT_EQ(s.sub_target().host, "c");
}

TEST(SentinelRounds, QueriesAreAtLeastTheMinimumIntervalApart) {
  SentinelRounds r({{"a", 1}}, "m");
  const TimePoint t0 = TimePoint{} + 10s;
  EXPECT_EQ(r.wait_before_query(TimePoint{}).count(), 0);  // the first goes at once
  r.queried(t0);
  EXPECT_EQ(r.wait_before_query(t0), std::chrono::nanoseconds(SentinelRounds::kMinInterval));
  EXPECT_EQ(r.wait_before_query(t0 + 30ms), std::chrono::nanoseconds(70ms));
  EXPECT_EQ(r.wait_before_query(t0 + SentinelRounds::kMinInterval).count(), 0);
  EXPECT_EQ(r.wait_before_query(t0 + 5s).count(), 0);
  r.queried(t0 + 5s);
  EXPECT_EQ(r.wait_before_query(t0 + 5s + 99ms), std::chrono::nanoseconds(1ms));
}

}  // namespace
}  // namespace rcache::detail
