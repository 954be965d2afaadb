// The executor's policies together (bulkhead, breaker, deadline, retry, budget) over a fake Sender.
#include "resilience/executor.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "reply_bytes.hpp"

namespace rcache::detail {
namespace {

using namespace std::chrono_literals;
using S = BreakerState;
using ::testing::HasSubstr;

constexpr const char* kEndpoint = "127.0.0.1:6379";
constexpr const char* kGetWire = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";

// The transport as the executor sees it: requests and timers wait until the test runs them.
class FakeSender final : public Sender {
 public:
  struct Timer {
    std::chrono::microseconds delay;
    std::function<void()> fn;
  };

  void submit(Request&& r) override { requests.push_back(std::move(r)); }
  void post(std::function<void()> fn) override { posted.push_back(std::move(fn)); }
  void schedule_after(std::chrono::microseconds delay, std::function<void()> fn) override {
    timers.push_back({delay, std::move(fn)});
  }
  bool on_loop_thread() const noexcept override { return loop_thread; }

  // Ends request `i` (in submission order) with `o`.
  void answer(std::size_t i, Outcome&& o) { complete(requests.at(i), std::move(o)); }
  // Runs the oldest timer once its delay has passed on `clock`.
  void fire(ManualClock& clock) {
    ASSERT_FALSE(timers.empty());
    Timer t = std::move(timers.front());
    timers.pop_front();
    clock.advance(t.delay);
    t.fn();
  }
  // Requests whose completion has not run yet.
  std::size_t unanswered() const {
    std::size_t n = 0;
    for (const auto& r : requests) n += r.done ? 1 : 0;
    return n;
  }

  std::deque<Request> requests;  // a deque: submitting from a completion keeps references valid
  std::deque<Timer> timers;
  std::vector<std::function<void()>> posted;
  bool loop_thread = true;
};

// One reply, parsed by hiredis from RESP bytes.
ReplyPtr parse(std::string_view bytes) {
  return test::parse_reply(bytes);
}

Outcome replied(std::string_view resp) {
  Outcome o;
  o.sent = true;
  o.reply = parse(resp);
  return o;
}

Outcome failed(Errc code, bool sent, std::string message = "") {
  Outcome o;
  o.sent = sent;
  o.error = Error{code, message.empty() ? std::string(to_string(code)) : std::move(message)};
  return o;
}

Command get(bool idempotent = true) {
  Command c;
  c.wire = kGetWire;
  c.name = "GET";
  c.idempotent = idempotent;
  c.op = Op::get;
  return c;
}

// A completion that counts its invocations and keeps the last outcome.
struct Done {
  int calls = 0;
  Outcome last;
  Completion fn() {
    return [this](Outcome&& o) {
      ++calls;
      last = std::move(o);
    };
  }
  bool replied_ok() const {
    return calls == 1 && !last.error && last.reply != nullptr &&
           last.reply->type == REDIS_REPLY_STATUS && std::string(last.reply->str) == "OK";
  }
};

class ExecutorTest : public ::testing::Test {
 protected:
  ExecutorTest() {
    cfg_.deadline = 250ms;
    cfg_.command_timeout = 100ms;
    cfg_.retry.max_attempts = 3;
    cfg_.retry.base = 10ms;
    cfg_.retry.multiplier = 2.0;
    cfg_.retry.cap = 200ms;
    cfg_.retry.jitter = Jitter::none;  // retries after exactly 10, 20, 40 ms
    // Keep the breaker out of the way unless a test sets it up.
    cfg_.breaker.consecutive_failures = 1000;
    cfg_.breaker.failure_rate = 1.0;
    cfg_.breaker.window = 1000;
    cfg_.breaker.min_calls = 1000;
    cfg_.breaker.open_base = 1s;
    cfg_.breaker.open_max = 8s;
  }

  Executor& make() {
    availability_ = std::make_unique<Availability>(cfg_, logger_, metrics_, clock_);
    executor_ = std::make_unique<Executor>(
        cfg_, sender_, *availability_, metrics_, clock_, logger_, kEndpoint,
        [this](S from, S to) { changes_.emplace_back(from, to); });
    return *executor_;
  }
  // A breaker that trips on the first failure, and calls that make one attempt each.
  void strict_breaker(int probes = 1) {
    cfg_.breaker.consecutive_failures = 3;
    cfg_.breaker.half_open_probes = probes;
    cfg_.retry.max_attempts = 1;
  }
  // Three failed single-attempt calls: the breaker opens.
  void trip(Executor& ex) {
    for (int i = 0; i < 3; ++i) {
      Done d;
      ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
      sender_.answer(sender_.requests.size() - 1, failed(Errc::timeout, true));
      ASSERT_EQ(d.calls, 1);
    }
    ASSERT_EQ(ex.breaker()->state(), S::open);
  }
  std::uint64_t count(Counter c) const { return metrics_.count(c); }

  Config cfg_;
  ManualClock clock_;
  Metrics metrics_;
  std::vector<std::string> lines_;
  std::vector<LogLevel> levels_;
  Logger logger_{[this](LogLevel l, std::string_view m) {
                   lines_.emplace_back(m);
                   levels_.push_back(l);
                 },
                 LogLevel::debug, clock_};
  FakeSender sender_;
  std::vector<std::pair<S, S>> changes_;
  std::unique_ptr<Availability> availability_;
  std::unique_ptr<Executor> executor_;
};

// ---- success ----------------------------------------------------------------------------------

TEST_F(ExecutorTest, SuccessCompletesOnceWithTheReplyAndIsNotRetried) {
  auto& ex = make();
  Done d;
  ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  ASSERT_EQ(sender_.requests.size(), 1u);
  EXPECT_EQ(d.calls, 0);  // nothing before the transport answers
  sender_.answer(0, replied("+OK\r\n"));
  EXPECT_TRUE(d.replied_ok());
  EXPECT_TRUE(sender_.timers.empty());
  EXPECT_EQ(sender_.requests.size(), 1u);
  EXPECT_EQ(count(Counter::retries), 0u);
  EXPECT_EQ(ex.in_flight(), 0u);
}

TEST_F(ExecutorTest, RequestCarriesTheCommandBytesNameAndReplyCount) {
  auto& ex = make();
  Command c = get();
  c.replies = 2;
  Done d;
  ASSERT_TRUE(ex.execute(std::move(c), d.fn()).ok());
  const Request& r = sender_.requests.at(0);
  ASSERT_NE(r.wire, nullptr);
  EXPECT_EQ(*r.wire, kGetWire);
  EXPECT_STREQ(r.name, "GET");
  EXPECT_EQ(r.replies, 2u);
}

// ---- retries ----------------------------------------------------------------------------------

TEST_F(ExecutorTest, TimeoutIsRetriedAfterTheBackoffAndTheRetrysSuccessCompletes) {
  auto& ex = make();
  Done d;
  ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  sender_.answer(0, failed(Errc::timeout, true));
  EXPECT_EQ(d.calls, 0);
  ASSERT_EQ(sender_.timers.size(), 1u);
  EXPECT_EQ(sender_.timers.front().delay, 10ms);
  EXPECT_EQ(sender_.requests.size(), 1u);  // nothing is sent before the backoff has passed
  EXPECT_EQ(count(Counter::retries), 1u);
  sender_.fire(clock_);
  ASSERT_EQ(sender_.requests.size(), 2u);
  sender_.answer(1, replied("+OK\r\n"));
  EXPECT_TRUE(d.replied_ok());
  EXPECT_EQ(count(Counter::retries), 1u);
  EXPECT_EQ(metrics_.retries(Op::get), 1u);  // by op, too (rcache_retries_total{op})
  EXPECT_EQ(metrics_.retries(Op::set), 0u);
  EXPECT_EQ(ex.in_flight(), 0u);
}

TEST_F(ExecutorTest, UnsentConnectionFailureIsRetried) {
  auto& ex = make();
  Done d;
  ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  sender_.answer(0, failed(Errc::connection, false));
  ASSERT_EQ(sender_.timers.size(), 1u);
  sender_.fire(clock_);
  ASSERT_EQ(sender_.requests.size(), 2u);
  sender_.answer(1, replied("+OK\r\n"));
  EXPECT_TRUE(d.replied_ok());
  EXPECT_EQ(count(Counter::retries), 1u);
}

// A READONLY reply (the master was demoted under us) tells the topology, once per reply, and is
// retried; other error replies and successes do not tell it.
TEST_F(ExecutorTest, AReadonlyReplyTellsTheTopologyAndIsRetried) {
  auto& ex = make();
  int told = 0;
  ex.set_on_wrong_role([&] { ++told; });
  Done d;
  ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  sender_.answer(0, replied("-READONLY You can't write against a read only replica.\r\n"));
  EXPECT_EQ(told, 1);
  EXPECT_EQ(d.calls, 0);
  ASSERT_EQ(sender_.timers.size(), 1u);  // retried after the backoff, on the new master
  sender_.fire(clock_);
  ASSERT_EQ(sender_.requests.size(), 2u);
  sender_.answer(1, replied("+OK\r\n"));
  EXPECT_TRUE(d.replied_ok());
  EXPECT_EQ(told, 1);

  Done other;
  ASSERT_TRUE(ex.execute(get(), other.fn()).ok());
  sender_.answer(2, replied("-ERR wrong number of arguments\r\n"));
  EXPECT_EQ(told, 1);
}

TEST_F(ExecutorTest, ProtocolErrorIsRetried) {
  auto& ex = make();
  Done d;
  ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  sender_.answer(0, failed(Errc::protocol, true));
  EXPECT_EQ(d.calls, 0);
  EXPECT_EQ(sender_.timers.size(), 1u);
}

TEST_F(ExecutorTest, RetriesShareTheFirstAttemptsBytes) {
  auto& ex = make();
  Done d;
  ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  sender_.answer(0, failed(Errc::timeout, true));
  sender_.fire(clock_);
  ASSERT_EQ(sender_.requests.size(), 2u);
  EXPECT_EQ(sender_.requests[0].wire.get(), sender_.requests[1].wire.get());
  EXPECT_EQ(*sender_.requests[1].wire, kGetWire);
}

TEST_F(ExecutorTest, BackoffGrowsBetweenRetries) {
  auto& ex = make();
  Done d;
  ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  sender_.answer(0, failed(Errc::timeout, true));
  ASSERT_EQ(sender_.timers.front().delay, 10ms);
  sender_.fire(clock_);
  sender_.answer(1, failed(Errc::timeout, true));
  ASSERT_EQ(sender_.timers.size(), 1u);
  EXPECT_EQ(sender_.timers.front().delay, 20ms);
}

TEST_F(ExecutorTest, MaxAttemptsIsRespectedAndTheLastAttemptsOutcomeCompletes) {
  auto& ex = make();
  Done d;
  ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(sender_.requests.size(), i + 1);
    EXPECT_EQ(d.calls, 0);
    sender_.answer(i, failed(Errc::timeout, true, "attempt " + std::to_string(i + 1)));
    if (i < 2) sender_.fire(clock_);
  }
  EXPECT_TRUE(sender_.timers.empty());
  EXPECT_EQ(sender_.requests.size(), 3u);
  ASSERT_EQ(d.calls, 1);
  ASSERT_TRUE(d.last.error.has_value());
  EXPECT_EQ(d.last.error->code, Errc::timeout);
  EXPECT_EQ(d.last.error->message, "attempt 3");
  EXPECT_EQ(count(Counter::retries), 2u);
  EXPECT_EQ(ex.in_flight(), 0u);
}

TEST_F(ExecutorTest, MaxAttemptsOfOneMakesNoRetry) {
  cfg_.retry.max_attempts = 1;
  auto& ex = make();
  Done d;
  ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  sender_.answer(0, failed(Errc::connection, false));
  EXPECT_EQ(d.calls, 1);
  EXPECT_TRUE(sender_.timers.empty());
  EXPECT_EQ(count(Counter::retries), 0u);
}

TEST_F(ExecutorTest, NonIdempotentCommandThatMayHaveRunIsNotRetried) {
  auto& ex = make();
  Done d;
  ASSERT_TRUE(ex.execute(get(/*idempotent=*/false), d.fn()).ok());
  sender_.answer(0, failed(Errc::timeout, /*sent=*/true));
  ASSERT_EQ(d.calls, 1);
  EXPECT_EQ(d.last.error->code, Errc::timeout);
  EXPECT_TRUE(sender_.timers.empty());
  EXPECT_EQ(sender_.requests.size(), 1u);
  EXPECT_EQ(count(Counter::retries), 0u);
}

TEST_F(ExecutorTest, NonIdempotentCommandThatWasNeverSentIsRetried) {
  auto& ex = make();
  Done d;
  ASSERT_TRUE(ex.execute(get(/*idempotent=*/false), d.fn()).ok());
  sender_.answer(0, failed(Errc::connection, /*sent=*/false));
  EXPECT_EQ(d.calls, 0);
  ASSERT_EQ(sender_.timers.size(), 1u);
  sender_.fire(clock_);
  ASSERT_EQ(sender_.requests.size(), 2u);
  sender_.answer(1, replied("+OK\r\n"));
  EXPECT_TRUE(d.replied_ok());
}

TEST_F(ExecutorTest, NonIdempotentSentCommandIsRetriedWhenOptedIn) {
  cfg_.retry.retry_non_idempotent = true;
  auto& ex = make();
  Done d;
  ASSERT_TRUE(ex.execute(get(/*idempotent=*/false), d.fn()).ok());
  sender_.answer(0, failed(Errc::timeout, /*sent=*/true));
  EXPECT_EQ(d.calls, 0);
  EXPECT_EQ(sender_.timers.size(), 1u);
}

TEST_F(ExecutorTest, FailureReportedOffTheLoopThreadCompletesWithoutRetry) {
  auto& ex = make();
  Done d;
  ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  sender_.loop_thread = false;  // the shutdown path: no retry timers
  sender_.answer(0, failed(Errc::timeout, true));
  ASSERT_EQ(d.calls, 1);
  EXPECT_EQ(d.last.error->code, Errc::timeout);
  EXPECT_TRUE(sender_.timers.empty());
  EXPECT_EQ(ex.in_flight(), 0u);
}

// ---- deadline ---------------------------------------------------------------------------------

TEST_F(ExecutorTest, EachAttemptEndsAtCommandTimeoutCappedByTheCallDeadline) {
  auto& ex = make();
  const TimePoint start = clock_.now();
  Done d;
  ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  EXPECT_EQ(sender_.requests[0].deadline, start + 100ms);  // command_timeout first
  clock_.advance(100ms);
  sender_.answer(0, failed(Errc::timeout, true));
  sender_.fire(clock_);  // +10 ms: the second attempt starts at 110 ms
  ASSERT_EQ(sender_.requests.size(), 2u);
  EXPECT_EQ(sender_.requests[1].deadline, start + 210ms);
  clock_.advance(100ms);
  sender_.answer(1, failed(Errc::timeout, true));
  sender_.fire(clock_);  // +20 ms: the third attempt starts at 230 ms
  ASSERT_EQ(sender_.requests.size(), 3u);
  EXPECT_EQ(sender_.requests[2].deadline, start + 250ms);  // the call's deadline caps it
}

TEST_F(ExecutorTest, RetryWhoseBackoffWouldReachTheDeadlineIsNotMade) {
  auto& ex = make();
  Done d;
  ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  clock_.advance(240ms);  // 240 + 10 ms of backoff = the 250 ms deadline
  sender_.answer(0, failed(Errc::timeout, true));
  ASSERT_EQ(d.calls, 1);
  EXPECT_EQ(d.last.error->code, Errc::timeout);
  EXPECT_TRUE(sender_.timers.empty());
  EXPECT_EQ(count(Counter::retries), 0u);
  EXPECT_EQ(count(Counter::retry_budget_exhausted), 0u);
}

TEST_F(ExecutorTest, RetryWhoseBackoffEndsBeforeTheDeadlineIsMade) {
  auto& ex = make();
  Done d;
  ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  clock_.advance(239ms);
  sender_.answer(0, failed(Errc::timeout, true));
  EXPECT_EQ(d.calls, 0);
  ASSERT_EQ(sender_.timers.size(), 1u);
  sender_.fire(clock_);
  ASSERT_EQ(sender_.requests.size(), 2u);
  EXPECT_EQ(sender_.requests[1].deadline - sender_.requests[0].deadline, 150ms);  // 250 vs 100
}

TEST_F(ExecutorTest, DeadlineStopsRetriesBeforeMaxAttempts) {
  cfg_.retry.max_attempts = 10;
  auto& ex = make();
  Done d;
  ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  // Every attempt runs to its own timeout: 0-100, 110-210, 230-250, then 40 ms would pass 250.
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(sender_.requests.size(), i + 1);
    clock_.advance(sender_.requests[i].deadline - clock_.now());
    sender_.answer(i, failed(Errc::timeout, true));
    if (i < 2) sender_.fire(clock_);
  }
  EXPECT_EQ(d.calls, 1);
  EXPECT_TRUE(sender_.timers.empty());
  EXPECT_EQ(sender_.requests.size(), 3u);
  EXPECT_EQ(count(Counter::retries), 2u);
}

// ---- retry budget -----------------------------------------------------------------------------

TEST_F(ExecutorTest, SpentRetryBudgetStopsRetriesAndCountsThem) {
  cfg_.retry.budget_tokens = 4;  // two retries, then the bucket is at half
  cfg_.retry.budget_per_success = 1;
  auto& ex = make();
  Done a, b, c;
  ASSERT_TRUE(ex.execute(get(), a.fn()).ok());
  ASSERT_TRUE(ex.execute(get(), b.fn()).ok());
  ASSERT_TRUE(ex.execute(get(), c.fn()).ok());
  sender_.answer(0, failed(Errc::timeout, true));
  sender_.answer(1, failed(Errc::timeout, true));
  EXPECT_EQ(sender_.timers.size(), 2u);
  sender_.answer(2, failed(Errc::timeout, true));
  EXPECT_EQ(sender_.timers.size(), 2u);  // no retry for the third
  ASSERT_EQ(c.calls, 1);
  EXPECT_EQ(c.last.error->code, Errc::timeout);
  EXPECT_EQ(count(Counter::retries), 2u);
  EXPECT_EQ(count(Counter::retry_budget_exhausted), 1u);
  EXPECT_EQ(a.calls + b.calls, 0);
}

TEST_F(ExecutorTest, SuccessesRefillTheRetryBudget) {
  cfg_.retry.budget_tokens = 4;
  cfg_.retry.budget_per_success = 1;
  auto& ex = make();
  Done a, b;
  ASSERT_TRUE(ex.execute(get(), a.fn()).ok());
  ASSERT_TRUE(ex.execute(get(), b.fn()).ok());
  sender_.answer(0, failed(Errc::timeout, true));
  sender_.answer(1, failed(Errc::timeout, true));
  ASSERT_EQ(ex.budget().tokens(), 2.0);  // spent down to half
  sender_.fire(clock_);
  sender_.answer(2, replied("+OK\r\n"));  // a's retry succeeds: +1 token
  EXPECT_TRUE(a.replied_ok());
  EXPECT_EQ(ex.budget().tokens(), 3.0);
  Done c;
  ASSERT_TRUE(ex.execute(get(), c.fn()).ok());
  sender_.answer(3, failed(Errc::timeout, true));
  EXPECT_EQ(c.calls, 0);  // retried again
  EXPECT_EQ(sender_.timers.size(), 2u);
  EXPECT_EQ(count(Counter::retry_budget_exhausted), 0u);
}

// Before, every retry spent a token, sent or not: one reconnect blip (calls failing unsent while
// nothing was connected) emptied the budget.
TEST_F(ExecutorTest, AttemptsThatWereNeverSentSpendNoBudget) {
  cfg_.retry.budget_tokens = 4;
  auto& ex = make();
  std::vector<Done> done(20);
  for (auto& d : done) ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  for (std::size_t i = 0; i < done.size(); ++i) {
    sender_.answer(i, failed(Errc::connection, /*sent=*/false));
  }
  EXPECT_EQ(sender_.timers.size(), 20u) << "every unsent attempt is retried";
  EXPECT_EQ(ex.budget().tokens(), 4.0);
  EXPECT_EQ(count(Counter::retry_budget_exhausted), 0u);
  // A sent one still pays.
  while (!sender_.timers.empty()) sender_.fire(clock_);
  sender_.answer(20, failed(Errc::timeout, /*sent=*/true));
  EXPECT_EQ(ex.budget().tokens(), 3.0);
}

TEST_F(ExecutorTest, ZeroBudgetTokensDisablesTheBudget) {
  cfg_.retry.budget_tokens = 0;
  auto& ex = make();
  std::vector<Done> done(20);
  for (auto& d : done) ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  for (std::size_t i = 0; i < done.size(); ++i) sender_.answer(i, failed(Errc::timeout, true));
  EXPECT_EQ(sender_.timers.size(), 20u);
  EXPECT_EQ(count(Counter::retry_budget_exhausted), 0u);
}

// ---- bulkhead ---------------------------------------------------------------------------------

TEST_F(ExecutorTest, BulkheadRejectsTheCallPastMaxInFlight) {
  cfg_.max_in_flight = 2;
  auto& ex = make();
  Done a, b, c;
  ASSERT_TRUE(ex.execute(get(), a.fn()).ok());
  ASSERT_TRUE(ex.execute(get(), b.fn()).ok());
  auto r = ex.execute(get(), c.fn());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::rejected);
  EXPECT_NE(r.error().message.find("GET"), std::string::npos);
  EXPECT_NE(r.error().message.find("max_in_flight = 2"), std::string::npos);
  EXPECT_EQ(sender_.requests.size(), 2u);
  EXPECT_EQ(count(Counter::rejected_bulkhead), 1u);
  EXPECT_EQ(ex.in_flight(), 2u);
  sender_.answer(0, replied("+OK\r\n"));
  sender_.answer(1, replied("+OK\r\n"));
  EXPECT_EQ(c.calls, 0);  // never, whatever happens afterwards
}

TEST_F(ExecutorTest, FinishedCallFreesItsBulkheadSlot) {
  cfg_.max_in_flight = 2;
  auto& ex = make();
  Done a, b, c, d;
  ASSERT_TRUE(ex.execute(get(), a.fn()).ok());
  ASSERT_TRUE(ex.execute(get(), b.fn()).ok());
  ASSERT_FALSE(ex.execute(get(), c.fn()).ok());
  sender_.answer(0, replied("+OK\r\n"));
  EXPECT_EQ(ex.in_flight(), 1u);
  ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  ASSERT_EQ(sender_.requests.size(), 3u);
  sender_.answer(2, replied("+OK\r\n"));
  EXPECT_TRUE(d.replied_ok());
}

TEST_F(ExecutorTest, CallWaitingToRetryKeepsItsBulkheadSlot) {
  cfg_.max_in_flight = 1;
  auto& ex = make();
  Done a, b;
  ASSERT_TRUE(ex.execute(get(), a.fn()).ok());
  sender_.answer(0, failed(Errc::timeout, true));
  ASSERT_EQ(sender_.timers.size(), 1u);
  auto r = ex.execute(get(), b.fn());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::rejected);
}

TEST_F(ExecutorTest, CompletionMayStartANewCallInTheSlotItFreed) {
  cfg_.max_in_flight = 1;
  auto& ex = make();
  Done second;
  bool admitted = false;
  ASSERT_TRUE(
      ex.execute(get(), [&](Outcome&&) { admitted = ex.execute(get(), second.fn()).ok(); }).ok());
  sender_.answer(0, replied("+OK\r\n"));
  EXPECT_TRUE(admitted);
  EXPECT_EQ(sender_.requests.size(), 2u);
}

// ---- breaker ----------------------------------------------------------------------------------

TEST_F(ExecutorTest, OpenBreakerRefusesWithoutSubmitting) {
  strict_breaker();
  auto& ex = make();
  trip(ex);
  const auto submitted = sender_.requests.size();
  Done d;
  auto r = ex.execute(get(), d.fn());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::circuit_open);
  EXPECT_NE(r.error().message.find("GET"), std::string::npos);
  EXPECT_NE(r.error().message.find(kEndpoint), std::string::npos);
  EXPECT_EQ(sender_.requests.size(), submitted);
  EXPECT_EQ(count(Counter::rejected_circuit_open), 1u);
  EXPECT_EQ(ex.in_flight(), 0u);  // a refused call gives its bulkhead slot back
  EXPECT_EQ(d.calls, 0);
}

TEST_F(ExecutorTest, EveryFailedAttemptCountsTowardsTheBreaker) {
  cfg_.breaker.consecutive_failures = 3;
  auto& ex = make();  // three attempts per call
  Done d;
  ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  for (std::size_t i = 0; i < 3; ++i) {
    sender_.answer(i, failed(Errc::timeout, true));
    if (i < 2) sender_.fire(clock_);
  }
  EXPECT_EQ(d.calls, 1);
  EXPECT_EQ(ex.breaker()->state(), S::open);
}

TEST_F(ExecutorTest, AfterTheOpenPeriodAProbeIsAdmittedAndSuccessfulProbesClose) {
  strict_breaker(/*probes=*/2);
  auto& ex = make();
  trip(ex);
  clock_.advance(cfg_.breaker.open_base);
  Done p1, p2;
  ASSERT_TRUE(ex.execute(get(), p1.fn()).ok());
  EXPECT_EQ(ex.breaker()->state(), S::half_open);
  ASSERT_TRUE(ex.execute(get(), p2.fn()).ok());
  const auto n = sender_.requests.size();
  sender_.answer(n - 2, replied("+OK\r\n"));
  EXPECT_EQ(ex.breaker()->state(), S::half_open);  // all probes must succeed
  sender_.answer(n - 1, replied("+OK\r\n"));
  EXPECT_EQ(ex.breaker()->state(), S::closed);
  EXPECT_TRUE(p1.replied_ok());
  EXPECT_TRUE(p2.replied_ok());
}

TEST_F(ExecutorTest, HalfOpenBreakerAdmitsNoMoreThanItsProbes) {
  strict_breaker(/*probes=*/1);
  auto& ex = make();
  trip(ex);
  clock_.advance(cfg_.breaker.open_base);
  Done probe, other;
  ASSERT_TRUE(ex.execute(get(), probe.fn()).ok());
  auto r = ex.execute(get(), other.fn());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::circuit_open);
  EXPECT_NE(r.error().message.find("half-open since 0 ms ago: its 1 probe calls are in flight"),
            std::string::npos)
      << r.error().message;
  EXPECT_EQ(other.calls, 0);
}

TEST_F(ExecutorTest, ACircuitOpenRefusalSaysSinceWhenAndUntilWhen) {
  strict_breaker();
  auto& ex = make();
  trip(ex);
  clock_.advance(120ms);
  Done d;
  auto r = ex.execute(get(), d.fn());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::circuit_open);
  const auto until =
      std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.breaker.open_base - 120ms).count();
  EXPECT_EQ(r.error().message, "GET: circuit breaker for " + std::string(kEndpoint) +
                                   " is open since 120 ms ago "
                                   "(trip 1 in a row), until " +
                                   std::to_string(until) +
                                   " ms from now or the next reconnect, then " +
                                   std::to_string(cfg_.breaker.half_open_probes) + " probe calls");
}

TEST_F(ExecutorTest, FailedProbeReopensTheBreaker) {
  strict_breaker(/*probes=*/1);
  auto& ex = make();
  trip(ex);
  clock_.advance(cfg_.breaker.open_base);
  Done probe;
  ASSERT_TRUE(ex.execute(get(), probe.fn()).ok());
  sender_.answer(sender_.requests.size() - 1, failed(Errc::connection, false));
  EXPECT_EQ(probe.calls, 1);
  EXPECT_EQ(ex.breaker()->state(), S::open);
  Done d;
  EXPECT_EQ(ex.execute(get(), d.fn()).error().code, Errc::circuit_open);
}

TEST_F(ExecutorTest, BreakerOpeningWhileARetryWaitsEndsThatCallWithItsLastAnswer) {
  cfg_.breaker.consecutive_failures = 2;
  auto& ex = make();
  Done a, b;
  ASSERT_TRUE(ex.execute(get(), a.fn()).ok());
  ASSERT_TRUE(ex.execute(get(), b.fn()).ok());
  sender_.answer(0, failed(Errc::timeout, true, "a's first attempt"));
  sender_.answer(1, failed(Errc::timeout, true, "b's first attempt"));  // trips the breaker
  ASSERT_EQ(ex.breaker()->state(), S::open);
  ASSERT_EQ(sender_.timers.size(), 2u);
  sender_.fire(clock_);                    // a's retry
  EXPECT_EQ(sender_.requests.size(), 2u);  // nothing submitted
  ASSERT_EQ(a.calls, 1);
  ASSERT_TRUE(a.last.error.has_value());
  EXPECT_EQ(a.last.error->code, Errc::timeout);
  EXPECT_EQ(a.last.error->message, "a's first attempt");
  EXPECT_EQ(count(Counter::rejected_circuit_open), 1u);
  EXPECT_EQ(ex.in_flight(), 1u);  // b's retry is still waiting
}

TEST_F(ExecutorTest, BreakerTransitionsReachTheListenerAndTheLog) {
  strict_breaker();
  auto& ex = make();
  trip(ex);
  clock_.advance(cfg_.breaker.open_base);
  Done probe;
  ASSERT_TRUE(ex.execute(get(), probe.fn()).ok());
  sender_.answer(sender_.requests.size() - 1, replied("+OK\r\n"));
  const std::vector<std::pair<S, S>> want{
      {S::closed, S::open}, {S::open, S::half_open}, {S::half_open, S::closed}};
  EXPECT_EQ(changes_, want);
  ASSERT_EQ(lines_.size(), 3u);
  EXPECT_EQ(lines_[0], std::string("circuit breaker for ") + kEndpoint + ": closed -> open");
  EXPECT_EQ(lines_[2], std::string("circuit breaker for ") + kEndpoint + ": half_open -> closed");
  // The outage's start and end at one level; the probe in between below it.
  EXPECT_EQ(levels_, (std::vector<LogLevel>{LogLevel::warning, LogLevel::info, LogLevel::warning}));
}

// A long outage: each failed probe re-opens the breaker. The probe cycle is logged once per 10 s
// with a count of what was not shown; the trip itself is never held back.
TEST_F(ExecutorTest, FailedProbeCycleIsRateLimitedAndSaysHowManyWereNotShown) {
  strict_breaker(/*probes=*/1);
  auto& ex = make();
  trip(ex);
  // Waits out the open period (it doubles on each re-trip), then fails the probe.
  auto fail_probe = [&] {
    Done probe;
    bool admitted = false;
    for (int i = 0; i < 100 && !admitted; ++i) {
      clock_.advance(100ms);
      admitted = ex.execute(get(), probe.fn()).ok();
    }
    ASSERT_TRUE(admitted);
    sender_.answer(sender_.requests.size() - 1, failed(Errc::connection, false));
    ASSERT_EQ(ex.breaker()->state(), S::open);
  };
  auto count_lines = [&](std::string_view what) {
    return std::count_if(lines_.begin(), lines_.end(),
                         [&](const std::string& l) { return l.find(what) != std::string::npos; });
  };
  const auto start = clock_.now();
  int probes = 0;
  while (clock_.now() - start < 6s) {  // open periods of 0.5, 1, 2, 4 s: three probes
    fail_probe();
    ++probes;
  }
  ASSERT_GE(probes, 3);
  EXPECT_EQ(count_lines("closed -> open"), 1);
  EXPECT_EQ(count_lines(": open -> half_open"), 1);
  EXPECT_EQ(count_lines(": half_open -> open"), 1);
  clock_.advance(10s);  // past the window
  fail_probe();
  EXPECT_EQ(count_lines(": half_open -> open"), 2);
  EXPECT_THAT(lines_.back(), HasSubstr("half_open -> open (" + std::to_string(probes - 1) +
                                       " more like this not shown since the last one)"));
}

TEST_F(ExecutorTest, BreakerDisabledByConfigNeverRefuses) {
  strict_breaker();
  cfg_.breaker.enabled = false;
  auto& ex = make();
  EXPECT_EQ(ex.breaker(), nullptr);
  for (std::size_t i = 0; i < 10; ++i) {
    Done d;
    ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
    sender_.answer(i, failed(Errc::timeout, true));
  }
  Done d;
  EXPECT_TRUE(ex.execute(get(), d.fn()).ok());
}

// ---- what counts as an answer -----------------------------------------------------------------

TEST_F(ExecutorTest, ErrReplyIsAnAnswerNotRetriedAndNoBreakerFailure) {
  strict_breaker();
  cfg_.retry.max_attempts = 3;
  auto& ex = make();
  for (std::size_t i = 0; i < 5; ++i) {
    Done d;
    ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
    sender_.answer(i, replied("-ERR wrong number of arguments\r\n"));
    ASSERT_EQ(d.calls, 1);
    EXPECT_FALSE(d.last.error.has_value());
    ASSERT_NE(d.last.reply, nullptr);
    EXPECT_EQ(d.last.reply->type, REDIS_REPLY_ERROR);
  }
  EXPECT_TRUE(sender_.timers.empty());
  EXPECT_EQ(ex.breaker()->state(), S::closed);
}

TEST_F(ExecutorTest, WrongTypeReplyIsAnAnswer) {
  auto& ex = make();
  Done d;
  ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  sender_.answer(0, replied("-WRONGTYPE Operation against a key holding the wrong kind\r\n"));
  EXPECT_EQ(d.calls, 1);
  EXPECT_TRUE(sender_.timers.empty());
}

TEST_F(ExecutorTest, LoadingReplyIsRetried) {
  auto& ex = make();
  Done d;
  ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  sender_.answer(0, replied("-LOADING Redis is loading the dataset in memory\r\n"));
  EXPECT_EQ(d.calls, 0);
  ASSERT_EQ(sender_.timers.size(), 1u);
  sender_.fire(clock_);
  sender_.answer(1, replied("+OK\r\n"));
  EXPECT_TRUE(d.replied_ok());
  EXPECT_EQ(count(Counter::retries), 1u);
}

TEST_F(ExecutorTest, LastLoadingReplyIsWhatCompletesWhenAttemptsRunOut) {
  cfg_.retry.max_attempts = 2;
  auto& ex = make();
  Done d;
  ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  sender_.answer(0, replied("-LOADING first\r\n"));
  sender_.fire(clock_);
  sender_.answer(1, replied("-LOADING second\r\n"));
  ASSERT_EQ(d.calls, 1);
  ASSERT_NE(d.last.reply, nullptr);
  EXPECT_EQ(std::string(d.last.reply->str), "LOADING second");
}

TEST_F(ExecutorTest, LoadingReplyCountsAsABreakerFailure) {
  strict_breaker();
  auto& ex = make();
  for (std::size_t i = 0; i < 3; ++i) {
    Done d;
    ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
    sender_.answer(i, replied("-LOADING Redis is loading\r\n"));
  }
  EXPECT_EQ(ex.breaker()->state(), S::open);
}

TEST_F(ExecutorTest, AuthReplyIsNotRetriedButIsABreakerFailure) {
  strict_breaker();
  cfg_.retry.max_attempts = 3;
  auto& ex = make();
  for (std::size_t i = 0; i < 3; ++i) {
    Done d;
    ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
    sender_.answer(i, replied("-NOAUTH Authentication required.\r\n"));
    EXPECT_EQ(d.calls, 1);
  }
  EXPECT_TRUE(sender_.timers.empty());
  EXPECT_EQ(ex.breaker()->state(), S::open);
}

TEST_F(ExecutorTest, ShutdownIsNeitherRetriedNorABreakerFailure) {
  strict_breaker();
  cfg_.retry.max_attempts = 3;
  auto& ex = make();
  for (std::size_t i = 0; i < 5; ++i) {
    Done d;
    ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
    sender_.answer(i, failed(Errc::shutdown, false));
    ASSERT_EQ(d.calls, 1);
    EXPECT_EQ(d.last.error->code, Errc::shutdown);
  }
  EXPECT_TRUE(sender_.timers.empty());
  EXPECT_EQ(count(Counter::retries), 0u);
  EXPECT_EQ(ex.breaker()->state(), S::closed);
}

TEST_F(ExecutorTest, ProbeEndedByShutdownFreesItsSlot) {
  strict_breaker(/*probes=*/1);
  auto& ex = make();
  trip(ex);
  clock_.advance(cfg_.breaker.open_base);
  Done probe, next;
  ASSERT_TRUE(ex.execute(get(), probe.fn()).ok());
  sender_.answer(sender_.requests.size() - 1, failed(Errc::shutdown, false));
  EXPECT_EQ(ex.breaker()->state(), S::half_open);
  EXPECT_TRUE(ex.execute(get(), next.fn()).ok());
}

// ---- refusals: an Error, and the completion is never called -----------------------------------

TEST_F(ExecutorTest, DisabledClientRefusesBeforeBulkheadAndBreaker) {
  cfg_.max_in_flight = 1;
  auto& ex = make();
  ASSERT_TRUE(availability_->start(false).ok());  // no pool: unreachable, disabled mode
  ASSERT_TRUE(availability_->disabled());
  Done d;
  auto r = ex.execute(get(), d.fn());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::disabled);
  EXPECT_EQ(r.error().message.rfind("GET", 0), 0u);
  EXPECT_TRUE(sender_.requests.empty());
  EXPECT_EQ(ex.in_flight(), 0u);
  EXPECT_EQ(count(Counter::rejected_disabled), 1u);
  EXPECT_EQ(count(Counter::rejected_bulkhead), 0u);
  EXPECT_EQ(d.calls, 0);
}

TEST_F(ExecutorTest, NoRefusalEverCallsOrKeepsTheCompletion) {
  strict_breaker();
  cfg_.max_in_flight = 1;
  auto& ex = make();
  int calls = 0;
  auto token = std::make_shared<int>(0);  // held by the completion while it is alive
  auto completion = [&calls, token](Outcome&&) { ++calls; };
  std::vector<Errc> refused;

  Done holder;  // bulkhead: one call holds the only slot
  ASSERT_TRUE(ex.execute(get(), holder.fn()).ok());
  auto r1 = ex.execute(get(), completion);
  ASSERT_FALSE(r1.ok());
  refused.push_back(r1.error().code);
  sender_.answer(0, failed(Errc::timeout, true));
  for (int i = 0; i < 2; ++i) {  // breaker: trip it
    Done d;
    ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
    sender_.answer(sender_.requests.size() - 1, failed(Errc::timeout, true));
  }
  ASSERT_EQ(ex.breaker()->state(), S::open);
  auto r2 = ex.execute(get(), completion);
  ASSERT_FALSE(r2.ok());
  refused.push_back(r2.error().code);
  ASSERT_TRUE(availability_->start(false).ok());  // disabled
  auto r3 = ex.execute(get(), completion);
  ASSERT_FALSE(r3.ok());
  refused.push_back(r3.error().code);

  while (!sender_.timers.empty()) sender_.fire(clock_);
  EXPECT_EQ(refused, (std::vector<Errc>{Errc::rejected, Errc::circuit_open, Errc::disabled}));
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(token.use_count(), 2);  // only `completion` holds it: the executor kept no copy
}

TEST_F(ExecutorTest, CompletionRunsExactlyOnceWhateverFollows) {
  auto& ex = make();
  Done d;
  ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  sender_.answer(0, failed(Errc::timeout, true));
  sender_.fire(clock_);
  sender_.answer(1, replied("+OK\r\n"));
  sender_.answer(1, replied("+OK\r\n"));  // a second completion of the same request is a no-op
  sender_.answer(0, replied("+OK\r\n"));
  EXPECT_EQ(d.calls, 1);
  EXPECT_EQ(sender_.unanswered(), 0u);
  EXPECT_EQ(ex.in_flight(), 0u);
}

// ---- a connection drop is one signal ------------------------------------------------------------

Outcome dropped(std::uint64_t drop) {
  Outcome o = failed(Errc::connection, true, "connection lost");
  o.drop = drop;
  return o;
}

TEST_F(ExecutorTest, CallsFailedByOneDropCountAsOneBreakerFailure) {
  strict_breaker();  // opens after 3 consecutive failures
  auto& ex = make();
  std::vector<Done> done(8);
  for (auto& d : done) ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  for (std::size_t i = 0; i < done.size(); ++i) sender_.answer(i, dropped(41));
  EXPECT_EQ(ex.breaker()->state(), S::closed) << "eight calls lost to one drop are one failure";
  for (const auto& d : done) EXPECT_EQ(d.calls, 1);
}

TEST_F(ExecutorTest, SeparateDropsAndOtherFailuresStillTripTheBreaker) {
  strict_breaker();
  auto& ex = make();
  for (std::uint64_t drop : {51u, 52u, 53u}) {
    Done d;
    ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
    sender_.answer(sender_.requests.size() - 1, dropped(drop));
  }
  EXPECT_EQ(ex.breaker()->state(), S::open);
}

TEST_F(ExecutorTest, RetriesOfTheCallsOfOneDropSpendOneBudgetToken) {
  cfg_.retry.budget_tokens = 4;  // two tokens to spend before the bucket is at half
  auto& ex = make();
  std::vector<Done> done(8);
  for (auto& d : done) ASSERT_TRUE(ex.execute(get(), d.fn()).ok());
  for (std::size_t i = 0; i < done.size(); ++i) sender_.answer(i, dropped(61));
  EXPECT_EQ(sender_.timers.size(), 8u) << "every call of the drop is retried";
  EXPECT_EQ(ex.budget().tokens(), 3.0);
  EXPECT_EQ(count(Counter::retry_budget_exhausted), 0u);
  while (!sender_.timers.empty()) sender_.fire(clock_);
  for (std::size_t i = 8; i < sender_.requests.size(); ++i) sender_.answer(i, replied("+OK\r\n"));
  for (const auto& d : done) EXPECT_TRUE(d.replied_ok());
}

TEST_F(ExecutorTest, AReconnectLetsAnOpenBreakersProbesThroughAtOnce) {
  strict_breaker();
  auto& ex = make();
  trip(ex);
  Done refused;
  EXPECT_EQ(ex.execute(get(), refused.fn()).error().code, Errc::circuit_open);
  ex.on_reachable();  // no clock advance: the open period is not over
  EXPECT_EQ(ex.breaker()->state(), S::half_open);
  Done probe;
  ASSERT_TRUE(ex.execute(get(), probe.fn()).ok());
  sender_.answer(sender_.requests.size() - 1, replied("+OK\r\n"));
  EXPECT_EQ(ex.breaker()->state(), S::closed);
}

TEST_F(ExecutorTest, AReconnectLeavesAClosedOrForcedOpenBreakerAlone) {
  strict_breaker();
  auto& ex = make();
  ex.on_reachable();
  EXPECT_EQ(ex.breaker()->state(), S::closed);
  ex.breaker()->force_open();
  ex.on_reachable();
  EXPECT_EQ(ex.breaker()->state(), S::forced_open);
}

}  // namespace
}  // namespace rcache::detail
