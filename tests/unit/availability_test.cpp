// Degraded behaviour: the start-up decision, disabled mode and its probe, local fallback, recovery.
#include "resilience/availability.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace rcache::detail {
namespace {

using namespace std::chrono_literals;
using A = StartDecision::Action;

constexpr const char* kEndpoint = "10.0.0.1:6380";

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

void expect_shape(const BackoffShape& got, const BackoffShape& want) {
  EXPECT_EQ(got.base, want.base);
  EXPECT_EQ(got.multiplier, want.multiplier);
  EXPECT_EQ(got.cap, want.cap);
  EXPECT_EQ(got.jitter, want.jitter);
}

// ---- decide_start ------------------------------------------------------------------------------

TEST(DecideStart, ReachedServesInEveryMode) {
  const Error auth{Errc::auth, "WRONGPASS"};
  for (auto mode : {DegradedMode::disabled, DegradedMode::local, DegradedMode::fail_fast}) {
    const auto d = decide_start(mode, true, auth, kEndpoint);
    EXPECT_EQ(d.action, A::serve);
    EXPECT_FALSE(d.error.has_value());
  }
}

TEST(DecideStart, FailFastUnreachedFailsWithConnectionNamingTheEndpoint) {
  const auto d = decide_start(DegradedMode::fail_fast, false,
                              Error{Errc::timeout, "connect timed out"}, kEndpoint);
  ASSERT_EQ(d.action, A::fail);
  ASSERT_TRUE(d.error.has_value());
  EXPECT_EQ(d.error->code, Errc::connection);
  EXPECT_TRUE(contains(d.error->message, std::string("redis ") + kEndpoint));
  EXPECT_TRUE(contains(d.error->message, "connect timed out"));
  EXPECT_TRUE(contains(d.error->message, "fail_fast"));
}

TEST(DecideStart, FailFastAfterAuthRefusalFailsWithAuth) {
  const auto d = decide_start(DegradedMode::fail_fast, false,
                              Error{Errc::auth, "WRONGPASS invalid password"}, kEndpoint);
  ASSERT_EQ(d.action, A::fail);
  ASSERT_TRUE(d.error.has_value());
  EXPECT_EQ(d.error->code, Errc::auth);
  EXPECT_TRUE(contains(d.error->message, kEndpoint));
}

TEST(DecideStart, AuthRefusalInDisabledOrLocalModeKeepsAuthErrors) {
  for (auto mode : {DegradedMode::disabled, DegradedMode::local}) {
    const auto d = decide_start(mode, false, Error{Errc::auth, "NOAUTH"}, kEndpoint);
    EXPECT_EQ(d.action, A::keep_auth_errors);
    EXPECT_FALSE(d.error.has_value());
  }
}

TEST(DecideStart, OtherwiseUnreachedDisables) {
  for (auto mode : {DegradedMode::disabled, DegradedMode::local}) {
    for (auto code : {Errc::connection, Errc::timeout, Errc::protocol}) {
      const auto d = decide_start(mode, false, Error{code, "down"}, kEndpoint);
      EXPECT_EQ(d.action, A::disable);
      EXPECT_FALSE(d.error.has_value());
    }
  }
}

// ---- Availability ------------------------------------------------------------------------------

// A connection the test moves through its states; it reports each change to the pool.
class FakeLink final : public Link {
 public:
  FakeLink(std::size_t index, LinkObserver& observer) : index_(index), observer_(observer) {}
  void start() override { go(LinkState::connecting); }
  LinkState state() const noexcept override { return state_; }
  std::size_t index() const noexcept override { return index_; }
  std::size_t pending() const noexcept override { return 0; }
  const Error& last_error() const noexcept override { return error_; }
  void enqueue(Request&& r) override { complete(r, Error{Errc::connection, "fake link"}); }
  void flush() override {}
  void reconnect_now() override {}
  void set_push_handler(Completion) override {}
  void stop(const Error&) override { go(LinkState::stopped); }

  void go(LinkState to) {
    const LinkState from = state_;
    state_ = to;
    observer_.on_link_state(*this, from, to);
  }
  void fail(Error e) {
    error_ = std::move(e);
    go(LinkState::closing);
    go(LinkState::down);
  }

 private:
  std::size_t index_;
  LinkObserver& observer_;
  LinkState state_ = LinkState::down;
  Error error_;
};

class AvailabilityTest : public ::testing::Test {
 protected:
  AvailabilityTest() {
    cfg_.pool_size = 1;
    cfg_.probe_min = 1000ms;
    cfg_.probe_max = 30000ms;
    cfg_.reconnect_backoff_min = 50ms;
    cfg_.reconnect_backoff_max = 2000ms;
    cfg_.local_max_bytes = 64 * 1024;
  }

  // Built after the test has set cfg_.degraded_mode; attached to the (unstarted) pool.
  Availability& make(DegradedMode mode = DegradedMode::disabled, bool attach = true) {
    cfg_.degraded_mode = mode;
    avail_ = std::make_unique<Availability>(cfg_, logger_, metrics_, clock_);
    if (attach) avail_->attach(pool_);
    return *avail_;
  }
  // A fallback write by a call that began now and failed with a timeout.
  Result<bool> put(Availability& a, std::string_view key, std::string_view value,
                   const SetOptions& o) {
    return a.local_set(key, value, o, clock_.now(), Error{Errc::timeout, "SET: timed out"});
  }
  // Gives the pool its one (fake) connection, connecting.
  FakeLink& start_pool() {
    pool_.start([this](std::size_t i, LinkObserver& o) {
      auto l = std::make_unique<FakeLink>(i, o);
      link_ = l.get();
      return l;
    });
    return *link_;
  }
  BackoffShape probe() const { return BackoffShape::doubling(cfg_.probe_min, cfg_.probe_max); }
  BackoffShape reconnect() const {
    return BackoffShape::doubling(cfg_.reconnect_backoff_min, cfg_.reconnect_backoff_max);
  }
  std::size_t lines_with(const std::string& part) const {
    std::size_t n = 0;
    for (const auto& l : lines_) n += contains(l, part) ? 1 : 0;
    return n;
  }

  Config cfg_;
  ManualClock clock_;
  Metrics metrics_;
  std::vector<std::string> lines_;
  Logger logger_{[this](LogLevel, std::string_view m) { lines_.emplace_back(m); }, LogLevel::debug};
  bool forward_available_ = true;  // the pool's on_available reaches the Availability
  Pool pool_{cfg_, logger_, kEndpoint, [this] {
               if (forward_available_ && avail_) avail_->on_pool_available();
             }};
  FakeLink* link_ = nullptr;
  std::unique_ptr<Availability> avail_;
};

TEST_F(AvailabilityTest, NewClientIsEnabledAndRefusesNothing) {
  auto& a = make();
  EXPECT_FALSE(a.disabled());
  EXPECT_FALSE(a.refusal("GET").has_value());
  EXPECT_EQ(metrics_.count(Counter::rejected_disabled), 0u);
}

TEST_F(AvailabilityTest, StartReachedServes) {
  auto& a = make();
  EXPECT_TRUE(a.start(true).ok());
  EXPECT_FALSE(a.disabled());
  expect_shape(pool_.reconnect_shape(), reconnect());
  EXPECT_TRUE(lines_.empty());
}

TEST_F(AvailabilityTest, StartUnreachedInDisabledModeDisablesAndSaysSoOnce) {
  auto& a = make();
  EXPECT_TRUE(a.start(false).ok());
  EXPECT_TRUE(a.disabled());
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_TRUE(contains(lines_[0], kEndpoint));
  EXPECT_TRUE(contains(lines_[0], "client disabled"));
}

TEST_F(AvailabilityTest, RefusalWhileDisabledNamesTheCommandAndIsCounted) {
  auto& a = make();
  ASSERT_TRUE(a.start(false).ok());
  auto e = a.refusal("GET");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, Errc::disabled);
  EXPECT_EQ(e->message.rfind("GET: ", 0), 0u);
  EXPECT_TRUE(contains(e->message, kEndpoint));
  EXPECT_EQ(metrics_.count(Counter::rejected_disabled), 1u);
  ASSERT_TRUE(a.refusal("SET").has_value());
  EXPECT_EQ(metrics_.count(Counter::rejected_disabled), 2u);
}

TEST_F(AvailabilityTest, DisabledClientsPoolReconnectsOnTheProbeSchedule) {
  auto& a = make();
  expect_shape(pool_.reconnect_shape(), reconnect());
  ASSERT_TRUE(a.start(false).ok());
  expect_shape(pool_.reconnect_shape(), probe());
}

TEST_F(AvailabilityTest, DisabledReasonNamesTheEndpoint) {
  auto& a = make();
  ASSERT_TRUE(a.start(false).ok());
  EXPECT_TRUE(contains(a.disabled_reason(), std::string("redis ") + kEndpoint));
}

TEST_F(AvailabilityTest, StartUnreachedInFailFastModeReturnsTheErrorAndDisablesNothing) {
  auto& a = make(DegradedMode::fail_fast);
  auto r = a.start(false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::connection);
  EXPECT_TRUE(contains(r.error().message, kEndpoint));
  EXPECT_FALSE(a.disabled());
  expect_shape(pool_.reconnect_shape(), reconnect());
}

TEST_F(AvailabilityTest, StartAfterAuthRefusalKeepsTheClientEnabled) {
  auto& link = start_pool();
  link.fail(Error{Errc::auth, "WRONGPASS invalid username-password pair"});
  auto& a = make();
  EXPECT_TRUE(a.start(false).ok());
  EXPECT_FALSE(a.disabled());  // calls go on and fail with Errc::auth, which says why
  EXPECT_FALSE(a.refusal("GET").has_value());
  expect_shape(pool_.reconnect_shape(), reconnect());
}

TEST_F(AvailabilityTest, StartFailFastAfterAuthRefusalFailsWithAuth) {
  auto& link = start_pool();
  link.fail(Error{Errc::auth, "WRONGPASS invalid username-password pair"});
  auto& a = make(DegradedMode::fail_fast);
  auto r = a.start(false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::auth);
}

TEST_F(AvailabilityTest, StartStaysEnabledWhenAConnectionBecameReadyMeanwhile) {
  forward_available_ = false;  // the ready connection's callback ran before start() looked
  auto& link = start_pool();
  link.go(LinkState::ready);
  auto& a = make();
  EXPECT_TRUE(a.start(false).ok());
  EXPECT_FALSE(a.disabled());
  expect_shape(pool_.reconnect_shape(), reconnect());
  EXPECT_TRUE(lines_.empty());
}

TEST_F(AvailabilityTest, PoolAvailableEnablesTheClientAndRestoresTheReconnectSchedule) {
  auto& a = make();
  ASSERT_TRUE(a.start(false).ok());
  lines_.clear();
  a.on_pool_available();
  EXPECT_FALSE(a.disabled());
  EXPECT_FALSE(a.refusal("GET").has_value());
  expect_shape(pool_.reconnect_shape(), reconnect());
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_TRUE(contains(lines_[0], "enabled"));
  EXPECT_TRUE(contains(lines_[0], kEndpoint));
}

TEST_F(AvailabilityTest, PoolAvailableWhileEnabledLogsNothing) {
  auto& a = make();
  ASSERT_TRUE(a.start(true).ok());
  a.on_pool_available();
  a.on_pool_available();
  EXPECT_FALSE(a.disabled());
  EXPECT_EQ(lines_with("enabled"), 0u);
}

TEST_F(AvailabilityTest, FirstReadyConnectionEnablesTheClientThroughThePool) {
  auto& link = start_pool();
  auto& a = make();
  ASSERT_TRUE(a.start(false).ok());
  ASSERT_TRUE(a.disabled());
  link.go(LinkState::ready);  // the pool calls on_available
  EXPECT_FALSE(a.disabled());
  EXPECT_TRUE(a.up());
  expect_shape(pool_.reconnect_shape(), reconnect());
  EXPECT_EQ(lines_with("client enabled"), 1u);
}

// ---- up() --------------------------------------------------------------------------------------

TEST_F(AvailabilityTest, NotUpWithoutAPool) {
  auto& a = make(DegradedMode::disabled, /*attach=*/false);
  EXPECT_FALSE(a.up());
}

TEST_F(AvailabilityTest, NotUpWithoutAReadyConnection) {
  auto& link = start_pool();
  auto& a = make();
  ASSERT_TRUE(a.start(true).ok());
  EXPECT_FALSE(a.up());  // connecting
  link.go(LinkState::ready);
  EXPECT_TRUE(a.up());
  link.fail(Error{Errc::connection, "reset by peer"});
  EXPECT_FALSE(a.up());
}

TEST_F(AvailabilityTest, NotUpWhileDisabledEvenWithAReadyConnection) {
  forward_available_ = false;
  auto& link = start_pool();
  auto& a = make();
  ASSERT_TRUE(a.start(false).ok());
  link.go(LinkState::ready);
  EXPECT_FALSE(a.up());
  a.on_pool_available();
  EXPECT_TRUE(a.up());
}

// ---- local mode --------------------------------------------------------------------------------

TEST_F(AvailabilityTest, FallsBackOnlyForUnavailableErrorsInLocalMode) {
  auto& a = make(DegradedMode::local);
  ASSERT_TRUE(a.local_mode());
  for (int c = static_cast<int>(Errc::timeout); c <= static_cast<int>(Errc::shutdown); ++c) {
    const auto code = static_cast<Errc>(c);
    const bool want = code == Errc::disabled || code == Errc::circuit_open ||
                      code == Errc::connection || code == Errc::timeout || code == Errc::rejected;
    EXPECT_EQ(a.falls_back(Error{code, "x"}), want) << to_string(code);
  }
}

TEST_F(AvailabilityTest, NoFallbackOutsideLocalMode) {
  for (auto mode : {DegradedMode::disabled, DegradedMode::fail_fast}) {
    auto& a = make(mode);
    EXPECT_FALSE(a.local_mode());
    EXPECT_EQ(a.local_store(), nullptr);
    for (auto code :
         {Errc::disabled, Errc::circuit_open, Errc::connection, Errc::timeout, Errc::rejected}) {
      EXPECT_FALSE(a.falls_back(Error{code, "x"}));
    }
  }
}

TEST_F(AvailabilityTest, LocalModeUnreachedAtStartIsDisabledAndItsRefusalFallsBack) {
  auto& a = make(DegradedMode::local);
  ASSERT_TRUE(a.start(false).ok());
  EXPECT_TRUE(a.disabled());
  auto e = a.refusal("GET");
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(a.falls_back(*e));
}

TEST_F(AvailabilityTest, LocalSetGetDelRoundTripAndAreCounted) {
  auto& a = make(DegradedMode::local);
  EXPECT_EQ(a.local_get("k").value(), std::nullopt);
  EXPECT_TRUE(put(a, "k", "v", SetOptions{}).value());
  EXPECT_EQ(a.local_get("k").value(), std::optional<std::string>("v"));
  EXPECT_EQ(a.local_del({"k"}).value(), 1);
  EXPECT_EQ(a.local_get("k").value(), std::nullopt);
  EXPECT_EQ(metrics_.count(Counter::fallback_served), 5u);
}

TEST_F(AvailabilityTest, LocalDelCountsOnlyKeysThatExisted) {
  auto& a = make(DegradedMode::local);
  ASSERT_TRUE(put(a, "a", "1", SetOptions{}).value());
  ASSERT_TRUE(put(a, "b", "2", SetOptions{}).value());
  EXPECT_EQ(a.local_del({"a", "b", "c"}).value(), 2);
  EXPECT_EQ(a.local_store()->size(), 0u);
}

TEST_F(AvailabilityTest, LocalSetIfAbsentKeepsAnExistingValue) {
  auto& a = make(DegradedMode::local);
  const SetOptions nx{0ms, SetOptions::Condition::if_absent};
  EXPECT_TRUE(put(a, "k", "first", nx).value());
  EXPECT_FALSE(put(a, "k", "second", nx).value());
  EXPECT_EQ(a.local_get("k").value(), std::optional<std::string>("first"));
}

TEST_F(AvailabilityTest, LocalSetIfPresentNeedsAnExistingValue) {
  auto& a = make(DegradedMode::local);
  const SetOptions xx{0ms, SetOptions::Condition::if_present};
  EXPECT_FALSE(put(a, "k", "v", xx).value());
  EXPECT_EQ(a.local_get("k").value(), std::nullopt);
  ASSERT_TRUE(put(a, "k", "v", SetOptions{}).value());
  EXPECT_TRUE(put(a, "k", "w", xx).value());
  EXPECT_EQ(a.local_get("k").value(), std::optional<std::string>("w"));
}

TEST_F(AvailabilityTest, LocalSetIfAbsentSucceedsOnceTheOldValueExpired) {
  auto& a = make(DegradedMode::local);
  ASSERT_TRUE(put(a, "k", "old", SetOptions{100ms}).value());
  clock_.advance(100ms);
  EXPECT_EQ(a.local_get("k").value(), std::nullopt);
  const SetOptions nx{0ms, SetOptions::Condition::if_absent};
  EXPECT_TRUE(put(a, "k", "new", nx).value());
  EXPECT_EQ(a.local_get("k").value(), std::optional<std::string>("new"));
}

TEST_F(AvailabilityTest, PoolRecoveryClearsTheLocalStore) {
  auto& a = make(DegradedMode::local);
  ASSERT_TRUE(a.start(false).ok());
  ASSERT_TRUE(put(a, "k", "written during the outage", SetOptions{}).value());
  a.on_pool_available();
  EXPECT_EQ(a.local_get("k").value(), std::nullopt);
  EXPECT_EQ(a.local_store()->size(), 0u);
}

TEST_F(AvailabilityTest, PoolRecoveryAfterALaterOutageClearsTheLocalStoreToo) {
  auto& a = make(DegradedMode::local);
  ASSERT_TRUE(a.start(true).ok());  // reached at start: never disabled
  ASSERT_TRUE(put(a, "k", "v", SetOptions{}).value());
  a.on_pool_available();
  EXPECT_EQ(a.local_store()->size(), 0u);
}

TEST_F(AvailabilityTest, BreakerClosingClearsTheLocalStore) {
  for (auto from : {BreakerState::open, BreakerState::half_open, BreakerState::forced_open}) {
    auto& a = make(DegradedMode::local);
    ASSERT_TRUE(put(a, "k", "v", SetOptions{}).value());
    a.on_breaker_change(from, BreakerState::closed);
    EXPECT_EQ(a.local_get("k").value(), std::nullopt) << to_string(from);
  }
}

TEST_F(AvailabilityTest, BreakerOpeningKeepsTheLocalStore) {
  auto& a = make(DegradedMode::local);
  ASSERT_TRUE(put(a, "k", "v", SetOptions{}).value());
  a.on_breaker_change(BreakerState::closed, BreakerState::open);
  a.on_breaker_change(BreakerState::open, BreakerState::half_open);
  a.on_breaker_change(BreakerState::half_open, BreakerState::open);
  a.on_breaker_change(BreakerState::closed, BreakerState::forced_open);
  EXPECT_EQ(a.local_get("k").value(), std::optional<std::string>("v"));
}

// ---- the local-mode invariant: never stale
// -------------------------------------------------------

// Before: a set that timed out in a short stall stayed in the local store; a later successful set
// to Redis did not remove it, and the next stall read the old value back.
TEST_F(AvailabilityTest, AnyAnswerFromRedisClearsWhatTheLocalStoreHolds) {
  auto& a = make(DegradedMode::local);
  ASSERT_TRUE(a.start(true).ok());
  ASSERT_TRUE(put(a, "k", "old", SetOptions{}).value());  // the stall: stored locally
  clock_.advance(1ms);
  a.on_answered(clock_.now());  // a later set (of any key) reached Redis
  EXPECT_EQ(a.local_get("k").value(), std::nullopt) << "never the old value";
  EXPECT_EQ(a.local_store()->size(), 0u);
}

TEST_F(AvailabilityTest, AFallbackWriteOfACallThatBeganBeforeTheLastAnswerIsNotStored) {
  auto& a = make(DegradedMode::local);
  ASSERT_TRUE(a.start(true).ok());
  const TimePoint began = clock_.now();
  clock_.advance(1ms);
  a.on_answered(clock_.now());  // Redis answered while our call was out
  clock_.advance(250ms);
  auto r = a.local_set("k", "v", SetOptions{}, began, Error{Errc::timeout, "SET: timed out"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::timeout);  // the call's own error, not a local success
  EXPECT_EQ(a.local_get("k").value(), std::nullopt);
  // A call that began after that answer is an outage write: stored.
  EXPECT_TRUE(put(a, "k", "v", SetOptions{}).value());
  EXPECT_EQ(a.local_get("k").value(), std::optional<std::string>("v"));
}

TEST_F(AvailabilityTest, AnOlderLocalValueIsDroppedWhenANewerWriteMayNotBeStored) {
  auto& a = make(DegradedMode::local);
  ASSERT_TRUE(a.start(true).ok());
  ASSERT_TRUE(put(a, "k", "old", SetOptions{}).value());
  const TimePoint began = clock_.now();
  clock_.advance(1ms);
  a.on_answered(clock_.now());
  clock_.advance(1ms);
  ASSERT_TRUE(put(a, "k", "outage", SetOptions{}).value());
  // A write that began before the answer: refused, and it takes the key's local value with it.
  EXPECT_FALSE(a.local_set("k", "new", SetOptions{}, began, Error{Errc::timeout, "t"}).ok());
  EXPECT_EQ(a.local_get("k").value(), std::nullopt);
}

}  // namespace
}  // namespace rcache::detail
