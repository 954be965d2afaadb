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
  // A fallback write: a SET that began (its token taken) and failed with a timeout.
  Result<bool> put(Availability& a, const std::string& key, std::string_view value,
                   const SetOptions& o) {
    const auto token = a.near_cache()->begin_outage_write(key);
    return a.local_set(key, token, value, o, Error{Errc::timeout, "SET: timed out"});
  }
  Result<std::int64_t> del(Availability& a, const std::vector<std::string>& keys) {
    std::vector<NearCache::FillToken> tokens;
    for (const auto& k : keys) tokens.push_back(a.near_cache()->begin_outage_write(k));
    return a.local_del(keys, tokens);
  }
  // What a call that cannot use Redis is answered.
  static std::optional<std::string> read(Availability& a, std::string_view key) {
    auto copy = a.near_cache()->get_during_outage(key);
    if (!copy) return std::nullopt;
    return copy->value;
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

TEST_F(AvailabilityTest, NoFallbackOutsideLocalModeEvenWithANearCache) {
  for (std::size_t near : {std::size_t{0}, std::size_t{1} << 20}) {
    cfg_.near_cache_bytes = near;
    for (auto mode : {DegradedMode::disabled, DegradedMode::fail_fast}) {
      auto& a = make(mode);
      EXPECT_FALSE(a.local_mode());
      EXPECT_EQ(a.near_cache() != nullptr, near != 0);
      for (auto code :
           {Errc::disabled, Errc::circuit_open, Errc::connection, Errc::timeout, Errc::rejected}) {
        EXPECT_FALSE(a.falls_back(Error{code, "x"}));
      }
    }
  }
}

// One in-process store: local mode is the near cache, sized local_max_bytes unless
// near_cache_bytes says otherwise.
TEST_F(AvailabilityTest, LocalModeKeepsItsCopiesInTheNearCache) {
  auto& a = make(DegradedMode::local);
  ASSERT_NE(a.near_cache(), nullptr);
  EXPECT_EQ(a.near_cache()->max_bytes(), cfg_.local_max_bytes);
  cfg_.near_cache_bytes = 1u << 20;
  auto& b = make(DegradedMode::local);
  ASSERT_NE(b.near_cache(), nullptr);
  EXPECT_EQ(b.near_cache()->max_bytes(), std::size_t{1} << 20);
}

TEST_F(AvailabilityTest, LocalModeUnreachedAtStartIsDisabledAndItsRefusalFallsBack) {
  auto& a = make(DegradedMode::local);
  ASSERT_TRUE(a.start(false).ok());
  EXPECT_TRUE(a.disabled());
  auto e = a.refusal("GET");
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(a.falls_back(*e));
}

TEST_F(AvailabilityTest, LocalSetDelAndMissRoundTripAndAreCounted) {
  auto& a = make(DegradedMode::local);
  EXPECT_EQ(read(a, "k"), std::nullopt);
  EXPECT_EQ(a.local_miss(), std::nullopt);
  EXPECT_TRUE(put(a, "k", "v", SetOptions{}).value());
  auto copy = a.near_cache()->get_during_outage("k");
  ASSERT_TRUE(copy.has_value());
  EXPECT_EQ(copy->value, "v");
  EXPECT_TRUE(copy->written) << "reported as this client's own write";
  EXPECT_FALSE(copy->stale);
  EXPECT_EQ(del(a, {"k"}).value(), 1);
  EXPECT_EQ(read(a, "k"), std::nullopt);
  EXPECT_EQ(metrics_.count(Counter::fallback_served), 3u);  // the miss, the set, the del
}

// An outage write is served only to calls that cannot use Redis: never as a fresh copy, even
// while the near cache is coherent (a stall that the invalidation connection did not notice).
TEST_F(AvailabilityTest, AnOutageWriteIsNeverServedAsFresh) {
  auto& a = make(DegradedMode::local);
  a.near_cache()->coherence_gained();
  ASSERT_TRUE(put(a, "k", "written in a stall", SetOptions{}).value());
  EXPECT_EQ(a.near_cache()->get("k"), std::nullopt);
  EXPECT_EQ(read(a, "k"), std::optional<std::string>("written in a stall"));
}

TEST_F(AvailabilityTest, LocalDelCountsOnlyKeysThatHadACopy) {
  auto& a = make(DegradedMode::local);
  ASSERT_TRUE(put(a, "a", "1", SetOptions{}).value());
  ASSERT_TRUE(put(a, "b", "2", SetOptions{}).value());
  EXPECT_EQ(del(a, {"a", "b", "c"}).value(), 2);
  EXPECT_EQ(a.near_cache()->counts().entries, 0u);
}

TEST_F(AvailabilityTest, LocalSetIfAbsentKeepsAnExistingValue) {
  auto& a = make(DegradedMode::local);
  const SetOptions nx{0ms, SetOptions::Condition::if_absent};
  EXPECT_TRUE(put(a, "k", "first", nx).value());
  EXPECT_FALSE(put(a, "k", "second", nx).value());
  EXPECT_EQ(read(a, "k"), std::optional<std::string>("first"));
}

TEST_F(AvailabilityTest, LocalSetIfPresentNeedsAnExistingValue) {
  auto& a = make(DegradedMode::local);
  const SetOptions xx{0ms, SetOptions::Condition::if_present};
  EXPECT_FALSE(put(a, "k", "v", xx).value());
  EXPECT_EQ(read(a, "k"), std::nullopt);
  ASSERT_TRUE(put(a, "k", "v", SetOptions{}).value());
  EXPECT_TRUE(put(a, "k", "w", xx).value());
  EXPECT_EQ(read(a, "k"), std::optional<std::string>("w"));
}

TEST_F(AvailabilityTest, ALocalCopyLivesForItsTtlThenOnlyUntilMaxStale) {
  cfg_.max_stale = 1000ms;
  auto& a = make(DegradedMode::local);
  ASSERT_TRUE(put(a, "k", "old", SetOptions{100ms}).value());
  clock_.advance(100ms);
  auto copy = a.near_cache()->get_during_outage("k");
  ASSERT_TRUE(copy.has_value());
  EXPECT_TRUE(copy->expired);
  EXPECT_TRUE(copy->stale);
  clock_.advance(1000ms);
  EXPECT_EQ(read(a, "k"), std::nullopt);
  const SetOptions nx{0ms, SetOptions::Condition::if_absent};
  EXPECT_TRUE(put(a, "k", "new", nx).value());
  EXPECT_EQ(read(a, "k"), std::optional<std::string>("new"));
}

// Redis is back for everyone once the invalidation connection subscribes again: what was
// written during the outage goes with its epoch.
TEST_F(AvailabilityTest, CoherenceComingBackDropsWhatWasWrittenDuringTheOutage) {
  auto& a = make(DegradedMode::local);
  ASSERT_TRUE(a.start(false).ok());
  ASSERT_TRUE(put(a, "k", "written during the outage", SetOptions{}).value());
  a.near_cache()->coherence_gained();
  EXPECT_EQ(read(a, "k"), std::nullopt);
  EXPECT_EQ(a.near_cache()->counts().entries, 0u);
}

// The review's case, per key: a set kept locally in a short stall is gone once Redis answers for
// the key (a read, or this client's own write), so a later stall cannot read it back.
TEST_F(AvailabilityTest, AnAnswerFromRedisForTheKeyDropsItsLocalCopy) {
  auto& a = make(DegradedMode::local);
  NearCache& near = *a.near_cache();
  ASSERT_TRUE(put(a, "k", "old", SetOptions{}).value());
  near.end_fill("k", near.begin_fill("k"), std::string_view("new"), -1ms);  // a read answered
  EXPECT_EQ(read(a, "k"), std::nullopt);

  near.coherence_gained();
  ASSERT_TRUE(put(a, "j", "old", SetOptions{}).value());
  near.invalidate("j");  // this client's acknowledged write, or another client's
  EXPECT_EQ(read(a, "j"), std::nullopt);
}

// Another client wrote the key while our write was out (its invalidation came in): which write
// Redis applied last cannot be told, so the copy is not kept, the call gets its own error, and
// the older copy goes too.
TEST_F(AvailabilityTest, AWriteDuringWhichTheKeyWasInvalidatedIsNotKept) {
  auto& a = make(DegradedMode::local);
  NearCache& near = *a.near_cache();
  near.coherence_gained();
  ASSERT_TRUE(put(a, "k", "older", SetOptions{}).value());
  const auto token = near.begin_outage_write("k");
  near.invalidate("k");
  auto r = a.local_set("k", token, "mine", SetOptions{}, Error{Errc::timeout, "SET: timed out"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::timeout);
  EXPECT_EQ(read(a, "k"), std::nullopt);
  // One that began after the invalidation is kept.
  EXPECT_TRUE(put(a, "k", "mine", SetOptions{}).value());
  EXPECT_EQ(read(a, "k"), std::optional<std::string>("mine"));
}

// The review's cases. Redis answering for the key drops an outage write whatever it answered:
// nil, a TTL that ends at once, or a fill refused by an invalidation.
TEST_F(AvailabilityTest, AnyAnswerOfRedisForTheKeyDropsAnOutageWrite) {
  auto& a = make(DegradedMode::local);
  NearCache& near = *a.near_cache();
  near.coherence_gained();
  ASSERT_TRUE(put(a, "k", "v1", SetOptions{}).value());
  near.end_fill("k", near.begin_fill("k"), std::nullopt, -2ms);  // Redis: no such key
  EXPECT_EQ(read(a, "k"), std::nullopt);

  ASSERT_TRUE(put(a, "k", "v1", SetOptions{}).value());
  near.end_fill("k", near.begin_fill("k"), std::string_view("x"), 0ms);  // expiring now
  EXPECT_EQ(read(a, "k"), std::nullopt);

  ASSERT_TRUE(put(a, "k", "v1", SetOptions{}).value());
  const auto t = near.begin_fill("k");
  near.coherence_lost();  // the fill will be refused (a new epoch), and nothing is dropped by it
  EXPECT_FALSE(near.end_fill("k", t, std::string_view("x"), -1ms));
  EXPECT_EQ(read(a, "k"), std::nullopt) << "a refused fill is still Redis answering";
}

// An outage write (or delete) refuses the reads and loads of its key that were in flight: they
// read before it, and must not put the older value over it.
TEST_F(AvailabilityTest, AnOutageWriteRefusesTheFillsAndLoadsOfItsKeyInFlight) {
  auto& a = make(DegradedMode::local);
  NearCache& near = *a.near_cache();
  // Not coherent: a get_or_load's load during the outage.
  const auto load = near.begin_outage_load("k");
  ASSERT_TRUE(put(a, "k", "mine", SetOptions{}).value());
  EXPECT_FALSE(near.end_outage_load("k", load, "from the loader, older", 60s));
  EXPECT_EQ(read(a, "k"), std::optional<std::string>("mine"));

  const auto load2 = near.begin_outage_load("k");
  EXPECT_EQ(del(a, {"k"}).value(), 1);
  EXPECT_FALSE(near.end_outage_load("k", load2, "back from the dead", 60s));
  EXPECT_EQ(read(a, "k"), std::nullopt);

  // Coherent: a GET sent before a SET that timed out.
  near.coherence_gained();
  const auto fill = near.begin_fill("j");
  ASSERT_TRUE(put(a, "j", "mine", SetOptions{}).value());
  EXPECT_FALSE(near.end_fill("j", fill, std::string_view("older"), -1ms));
  EXPECT_EQ(near.get("j"), std::nullopt) << "the older value must not be served as fresh";
  EXPECT_EQ(read(a, "j"), std::optional<std::string>("mine"));
}

// ...but two outage writes of one key in flight together do not refuse each other: the last
// to end is kept, as Redis would apply the last.
TEST_F(AvailabilityTest, TwoOutageWritesOfAKeyInFlightAreBothAnswered) {
  auto& a = make(DegradedMode::local);
  NearCache& near = *a.near_cache();
  const auto first = near.begin_outage_write("k");
  const auto second = near.begin_outage_write("k");
  const Error e{Errc::timeout, "SET: timed out"};
  EXPECT_TRUE(a.local_set("k", first, "1", SetOptions{}, e).value());
  EXPECT_TRUE(a.local_set("k", second, "2", SetOptions{}, e).value());
  EXPECT_EQ(read(a, "k"), std::optional<std::string>("2"));
  EXPECT_EQ(near.counts().entries, 1u);
}

// When the outage ends (the pool has a connection again, or the breaker closes), Redis is the
// truth again: outage writes are not served, even to a call that cannot use Redis later.
TEST_F(AvailabilityTest, AnOutageWriteIsNotServedOnceTheOutageEnded) {
  {
    auto& a = make(DegradedMode::local);
    a.near_cache()->coherence_gained();  // coherence never lost: a stall, not a disconnection
    ASSERT_TRUE(put(a, "k", "v", SetOptions{}).value());
    a.on_pool_available();
    EXPECT_EQ(read(a, "k"), std::nullopt);
    EXPECT_EQ(a.near_cache()->counts().entries, 0u);
  }
  for (auto from : {BreakerState::open, BreakerState::half_open, BreakerState::forced_open}) {
    auto& a = make(DegradedMode::local);
    ASSERT_TRUE(put(a, "k", "v", SetOptions{}).value());
    a.on_breaker_change(BreakerState::closed, BreakerState::open);  // opening ends nothing
    EXPECT_EQ(read(a, "k"), std::optional<std::string>("v")) << to_string(from);
    a.on_breaker_change(from, BreakerState::closed);
    EXPECT_EQ(read(a, "k"), std::nullopt) << to_string(from);
    ASSERT_TRUE(put(a, "k", "after", SetOptions{}).value());  // a new outage's write is served
    EXPECT_EQ(read(a, "k"), std::optional<std::string>("after"));
  }
}

// An outage that ends while the write runs (the breaker closed: Redis answered meanwhile): the
// copy is not kept, the call gets its own error.
TEST_F(AvailabilityTest, AWriteWhoseOutageEndedWhileItRanIsNotKept) {
  auto& a = make(DegradedMode::local);
  NearCache& near = *a.near_cache();
  const auto token = near.begin_outage_write("k");
  a.on_breaker_change(BreakerState::half_open, BreakerState::closed);
  auto r = a.local_set("k", token, "v", SetOptions{}, Error{Errc::circuit_open, "SET: open"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::circuit_open);
  EXPECT_EQ(read(a, "k"), std::nullopt);
}

// A read's answer that was sent before this client's outage write is older than the write: the
// write's copy stays (and the answer is not kept).
TEST_F(AvailabilityTest, AReadSentBeforeAnOutageWriteDoesNotRemoveIt) {
  auto& a = make(DegradedMode::local);
  NearCache& near = *a.near_cache();
  near.coherence_gained();
  const auto fill = near.begin_fill("k");
  ASSERT_TRUE(put(a, "k", "mine", SetOptions{}).value());
  EXPECT_FALSE(near.end_fill("k", fill, std::string_view("older"), -1ms));
  EXPECT_EQ(read(a, "k"), std::optional<std::string>("mine"));
  EXPECT_EQ(near.get("k"), std::nullopt);
}

// NX, XX and DEL's count see a copy whose TTL ran out as Redis would: gone.
TEST_F(AvailabilityTest, AnExpiredCopyCountsAsAbsentForNxXxAndDel) {
  cfg_.max_stale = 10s;
  auto& a = make(DegradedMode::local);
  ASSERT_TRUE(put(a, "k", "old", SetOptions{100ms}).value());
  ASSERT_TRUE(put(a, "j", "old", SetOptions{100ms}).value());
  clock_.advance(150ms);
  EXPECT_FALSE(put(a, "k", "x", SetOptions{0ms, SetOptions::Condition::if_present}).value());
  EXPECT_TRUE(put(a, "k", "new", SetOptions{0ms, SetOptions::Condition::if_absent}).value());
  EXPECT_EQ(read(a, "k"), std::optional<std::string>("new"));
  EXPECT_EQ(del(a, {"j"}).value(), 0);
}

}  // namespace
}  // namespace rcache::detail
