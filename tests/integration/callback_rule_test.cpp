// The callback rule: every async callback runs on the loop thread, never on the calling thread
// before the call returns - refusals and argument errors included (one test per such path).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include "fixtures.hpp"

namespace rcache::test {
namespace {

using namespace std::chrono_literals;

// Records where a callback ran: on which thread, and whether the call that scheduled it had
// already returned. A callback run in place (the old behaviour for refusals) shows up as
// ran_during_call == true and the caller's thread id.
struct Probe {
  std::atomic<bool> in_call{false};
  std::promise<void> done;
  std::thread::id thread;
  bool ran_during_call = false;
  std::optional<Error> error;
  int runs = 0;

  template <class T>
  Callback<T> callback() {
    return [this](Result<T> r) {
      thread = std::this_thread::get_id();
      ran_during_call = in_call.load();
      if (!r.ok()) error = r.error();
      if (++runs == 1) done.set_value();
    };
  }
  // Runs `start` as "the call", then waits (bounded) for the callback.
  template <class F>
  bool call(F&& start) {
    in_call = true;
    start();
    in_call = false;
    return done.get_future().wait_for(10s) == std::future_status::ready;
  }
  void expect_on_loop_thread(Errc code) const {
    EXPECT_FALSE(ran_during_call) << "callback ran on the calling thread, inside the call";
    EXPECT_NE(thread, std::this_thread::get_id());
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->code, code) << error->to_string();
    EXPECT_EQ(runs, 1);
  }
};

Config absent_config() {
  Config c;
  c.port = free_port();
  c.connect_timeout = 200ms;
  c.probe_min = 5s;
  c.probe_max = 5s;
  c.log_level = LogLevel::off;
  return c;
}

// A private redis-server and a client on it, the config adjusted per test.
class CallbackRuleWithRedis : public ::testing::Test {
 protected:
  bool start(const std::function<void(Config&)>& adjust = {}) {
    server = RedisServer::start();
    if (server == nullptr) return false;
    Config c = config_for(*server);
    if (adjust) adjust(c);
    client = make_client(c);
    return client != nullptr;
  }
  std::unique_ptr<RedisServer> server;
  std::unique_ptr<Client> client;
};

TEST_F(CallbackRuleWithRedis, ArgumentErrorOfAnAsyncSetRunsItsCallbackOnTheLoopThread) {
  ASSERT_TRUE(start());
  Probe p;
  ASSERT_TRUE(p.call([&] {
    client->set_async("k", "v", SetOptions{-5ms, SetOptions::Condition::always},
                      p.callback<bool>());
  }));
  p.expect_on_loop_thread(Errc::invalid_argument);
}

TEST_F(CallbackRuleWithRedis, EmptyKeyListOfAnAsyncMgetRunsItsCallbackOnTheLoopThread) {
  ASSERT_TRUE(start());
  Probe p;
  ASSERT_TRUE(p.call([&] { client->mget_async({}, p.callback<Client::Values>()); }));
  p.expect_on_loop_thread(Errc::invalid_argument);
}

TEST_F(CallbackRuleWithRedis, OversizedValueOfAnAsyncSetRunsItsCallbackOnTheLoopThread) {
  ASSERT_TRUE(start([](Config& c) { c.max_value_size = 16; }));
  Probe p;
  ASSERT_TRUE(p.call(
      [&] { client->set_async("k", std::string(100, 'x'), SetOptions{}, p.callback<bool>()); }));
  p.expect_on_loop_thread(Errc::too_large);
}

TEST(CallbackRule, DisabledRefusalRunsItsCallbackOnTheLoopThread) {
  auto client = make_client(absent_config());
  ASSERT_NE(client, nullptr);
  Probe p;
  ASSERT_TRUE(p.call([&] { client->get_async("k", p.callback<std::optional<std::string>>()); }));
  p.expect_on_loop_thread(Errc::disabled);
}

TEST_F(CallbackRuleWithRedis, CircuitOpenRefusalRunsItsCallbackOnTheLoopThread) {
  ASSERT_TRUE(start());
  client->force_breaker_open();
  Probe p;
  ASSERT_TRUE(p.call([&] { client->incrby_async("n", 1, p.callback<std::int64_t>()); }));
  p.expect_on_loop_thread(Errc::circuit_open);
}

TEST_F(CallbackRuleWithRedis, BulkheadRejectionRunsItsCallbackOnTheLoopThread) {
  ASSERT_TRUE(start([](Config& c) { c.max_in_flight = 1; }));
  // One call held in flight by a server that is stopped; the next one is over the bulkhead.
  ASSERT_TRUE(client->ping().ok());
  server->pause();
  auto held = client->get_async("held");
  Probe p;
  ASSERT_TRUE(p.call([&] { client->get_async("k", p.callback<std::optional<std::string>>()); }));
  p.expect_on_loop_thread(Errc::rejected);
  server->resume();
  EXPECT_EQ(held.wait_for(10s), std::future_status::ready);
}

TEST_F(CallbackRuleWithRedis, OversizedDeletePatternRunsItsCallbackOnTheLoopThread) {
  ASSERT_TRUE(start([](Config& c) { c.max_value_size = 8; }));
  Probe p;
  ASSERT_TRUE(p.call([&] {
    client->delete_pattern_async("a-pattern-longer-than-eight", p.callback<std::uint64_t>());
  }));
  p.expect_on_loop_thread(Errc::too_large);
}

TEST_F(CallbackRuleWithRedis, DeletePatternRefusedByTheBreakerRunsItsCallbackOnTheLoopThread) {
  ASSERT_TRUE(start());
  client->force_breaker_open();
  Probe p;
  ASSERT_TRUE(p.call([&] { client->delete_pattern_async("x*", p.callback<std::uint64_t>()); }));
  p.expect_on_loop_thread(Errc::circuit_open);
}

TEST_F(CallbackRuleWithRedis, ADeletePatternCallbackThatThrowsDoesNotTakeTheClientDown) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(client->set("dp:1", "v").ok());
  std::promise<void> ran;
  client->delete_pattern_async("dp:*", [&](Result<std::uint64_t> r) {
    EXPECT_TRUE(r.ok());
    ran.set_value();
    throw std::runtime_error("user callback failure");
  });
  ASSERT_EQ(ran.get_future().wait_for(10s), std::future_status::ready);
  // The loop thread survived the exception: the client still serves.
  EXPECT_TRUE(client->ping().ok());
  EXPECT_FALSE(client->get("dp:1")->has_value());
}

TEST(CallbackRule, LocalModeFallbackAnswersOnTheLoopThread) {
  Config c = absent_config();
  c.degraded_mode = DegradedMode::local;
  auto client = make_client(c);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->set("k", "local").ok());  // answered by local mode
  Probe p;
  std::optional<std::string> value;
  std::promise<void> done;
  p.in_call = true;
  client->get_async("k", [&](Result<std::optional<std::string>> r) {
    p.thread = std::this_thread::get_id();
    p.ran_during_call = p.in_call.load();
    if (r.ok()) value = *r;
    done.set_value();
  });
  p.in_call = false;
  ASSERT_EQ(done.get_future().wait_for(10s), std::future_status::ready);
  EXPECT_FALSE(p.ran_during_call);
  EXPECT_NE(p.thread, std::this_thread::get_id());
  EXPECT_EQ(value, std::optional<std::string>("local"));
}

TEST(CallbackRule, ACallerHoldingTheLockItsCallbackTakesDoesNotDeadlockWhenRedisIsDown) {
  auto client = make_client(absent_config());
  ASSERT_NE(client, nullptr);
  std::mutex mu;
  std::promise<Errc> got;
  {
    std::lock_guard lock(mu);  // the pattern that deadlocked when refusals ran in place
    client->get_async("k", [&](Result<std::optional<std::string>> r) {
      std::lock_guard inner(mu);
      got.set_value(r.ok() ? Errc{} : r.error().code);
    });
  }
  auto f = got.get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(f.get(), Errc::disabled);
}

TEST(CallbackRule, FutureFormsOfRefusedCallsBecomeReady) {
  auto client = make_client(absent_config());
  ASSERT_NE(client, nullptr);
  auto f1 = client->set_async("k", "v");
  auto f2 = client->mget_async({});
  auto f3 = client->delete_pattern_async("*");
  ASSERT_EQ(f1.wait_for(10s), std::future_status::ready);
  ASSERT_EQ(f2.wait_for(10s), std::future_status::ready);
  ASSERT_EQ(f3.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(f1.get().error().code, Errc::disabled);
  EXPECT_EQ(f2.get().error().code, Errc::invalid_argument);
  EXPECT_EQ(f3.get().error().code, Errc::disabled);
}

}  // namespace
}  // namespace rcache::test
