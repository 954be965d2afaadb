// Deadlines, retries and the circuit breaker against a real redis-server that crashes and hangs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "fixtures.hpp"

namespace rcache::test {
namespace {

using namespace std::chrono_literals;
using ::testing::AnyOf;
using SteadyClock = std::chrono::steady_clock;

// Breaker settings scaled down so a test sees open -> half-open -> closed in a second or two.
Config resilient(const RedisServer& s) {
  Config c = config_for(s);
  c.command_timeout = 100ms;
  c.deadline = 250ms;
  c.connect_timeout = 200ms;
  c.breaker.open_base = 300ms;
  c.breaker.open_max = 1s;
  c.log_level = LogLevel::off;
  return c;
}

class Resilience : public RedisTest {
 protected:
  RedisServer::Options server_options() override {
    RedisServer::Options o;
    // Acknowledged writes must survive kill -9, so that "what Redis still holds" is not empty.
    o.args = {"--appendonly", "yes", "--appendfsync", "always"};
    return o;
  }
};

TEST_F(Resilience, KillNineOpensTheBreakerWhichFailsFastThenClosesAfterRestart) {
  Config c = resilient(*server_);
  std::mutex transitions_mu;
  std::vector<std::string> transitions;
  c.log_level = LogLevel::info;
  c.log_sink = [&](LogLevel, std::string_view m) {
    if (m.find("circuit breaker") != std::string_view::npos) {
      std::lock_guard l(transitions_mu);
      transitions.emplace_back(m);
    }
  };
  auto client = make_client(c);

  // 8 threads write distinct keys and remember, per key, the values it may now hold: the last
  // acknowledged one, plus any written after it whose reply was lost (applied or not: unknown).
  std::atomic<bool> stop{false};
  std::vector<std::map<std::string, std::vector<std::string>>> possible(8);
  std::atomic<int> circuit_open_seen{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 8; ++t) {
    load.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int i = 0; !stop.load() && i < 5'000'000; ++i) {
        const std::string key = "k" + std::to_string(t) + ":" + std::to_string(i % 500);
        std::string value(1 + rng() % 300, '\0');
        for (auto& ch : value) ch = static_cast<char>(rng());
        auto r = client->set(key, value);
        auto& mine = possible[static_cast<std::size_t>(t)][key];
        if (r.ok()) {
          mine.assign(1, value);
        } else if (r.error().code == Errc::circuit_open) {
          circuit_open_seen.fetch_add(1);  // refused before sending: cannot have been applied
          std::this_thread::sleep_for(1ms);
        } else {
          mine.push_back(value);
        }
      }
    });
  }
  std::this_thread::sleep_for(300ms);
  server_->kill9();
  ASSERT_TRUE(eventually(5s, [&] { return circuit_open_seen.load() > 0; }))
      << "breaker never opened";
  stop = true;
  for (auto& th : load) th.join();

  // While open: 100,000 calls, all circuit_open, none touching a socket.
  int open_answers = 0;
  const auto start = SteadyClock::now();
  for (int i = 0; i < 100000; ++i) {
    auto r = client->get("x");
    if (!r.ok() && r.error().code == Errc::circuit_open) ++open_answers;
  }
  const auto took = SteadyClock::now() - start;
  // The open period (300 ms) may end during the loop; count only while it lasts.
  EXPECT_GT(open_answers, 0);
  std::printf(
      "[ figures  ] %d of 100000 calls refused by the open breaker in %lld us\n", open_answers,
      static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(took).count()));

  ASSERT_TRUE(server_->restart());
  // Half-open admits 3 probes; when they succeed the breaker closes.
  auto closed = [&] {
    (void)client->ping();
    std::lock_guard l(transitions_mu);
    return !transitions.empty() &&
           transitions.back().find("half_open -> closed") != std::string::npos;
  };
  ASSERT_TRUE(eventually(10s, closed)) << "breaker never closed again";
  {
    std::lock_guard l(transitions_mu);
    ASSERT_GE(transitions.size(), 3u);
    EXPECT_THAT(transitions.front(), ::testing::HasSubstr("closed -> open"));
    EXPECT_THAT(transitions.back(), ::testing::HasSubstr("half_open -> closed"));
  }
  // Every key Redis still holds reads back byte-identical to a value written to it: the last
  // acknowledged one or a later one whose reply was lost in the crash. Nothing else, no mix.
  std::size_t held = 0, total = 0, newer = 0;
  for (const auto& m : possible) {
    for (const auto& [k, values] : m) {
      ++total;
      auto r = client->get(k);
      ASSERT_TRUE(r.ok()) << r.error().to_string();
      if (r->has_value()) {
        ++held;
        const auto it = std::find(values.begin(), values.end(), **r);
        ASSERT_NE(it, values.end()) << "key " << k << " holds a value never written to it";
        if (it != values.begin()) ++newer;
      }
    }
  }
  std::printf(
      "[ figures  ] %zu keys written, %zu held after restart, %zu hold a write whose "
      "reply was lost\n",
      total, held, newer);
  EXPECT_GT(total, 0u);
  EXPECT_GT(held, 0u);
}

TEST_F(Resilience, WhileOpenOneHundredThousandCallsAllAnswerCircuitOpen) {
  Config c = resilient(*server_);
  c.breaker.open_base = 60s;  // stays open for the whole test
  c.breaker.open_max = 60s;
  auto client = make_client(c);
  server_->kill9();
  for (int i = 0; i < 50 && client->get("x").error().code != Errc::circuit_open; ++i) {
  }
  int open = 0;
  for (int i = 0; i < 100000; ++i) {
    auto r = client->get("x");
    if (!r.ok() && r.error().code == Errc::circuit_open) ++open;
  }
  EXPECT_EQ(open, 100000);
}

TEST_F(Resilience, StoppedServerEveryCallEndsByItsDeadlineAndTheBreakerOpens) {
  Config c = resilient(*server_);
  auto client = make_client(c);
  ASSERT_TRUE(client->set("k", "v").ok());
  server_->pause();
  std::atomic<long long> worst_us{0};
  std::atomic<int> calls{0}, circuit_open{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      const auto end = SteadyClock::now() + 1500ms;
      while (SteadyClock::now() < end) {
        const auto s = SteadyClock::now();
        auto r = client->get("k");
        const long long us =
            std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - s).count();
        long long prev = worst_us.load();
        while (us > prev && !worst_us.compare_exchange_weak(prev, us)) {
        }
        calls.fetch_add(1);
        if (!r.ok() && r.error().code == Errc::circuit_open) circuit_open.fetch_add(1);
      }
    });
  }
  for (auto& t : ts) t.join();
  std::printf("[ figures  ] SIGSTOP: %d calls, worst %lld us (deadline 250 ms), %d circuit_open\n",
              calls.load(), worst_us.load(), circuit_open.load());
  EXPECT_LT(worst_us.load(), (250ms + 100ms).count() * 1000);  // deadline + margin
  EXPECT_GT(circuit_open.load(), 0);
  server_->resume();
  EXPECT_TRUE(eventually(10s, [&] { return client->get("k").ok(); }));
  EXPECT_EQ(client->get("k").value(), std::optional<std::string>("v"));
}

TEST_F(Resilience, RetriesHideAShortRestartFromCallers) {
  Config c = resilient(*server_);
  c.deadline = 3s;  // room for several retries
  c.command_timeout = 500ms;
  c.retry.max_attempts = 10;
  c.retry.base = 50ms;
  c.retry.cap = 500ms;
  c.retry.jitter = Jitter::equal;
  c.retry.budget_tokens = 0;  // no budget: this test is about retries spanning a restart
  c.reconnect_backoff_max = 200ms;
  c.breaker.enabled = false;
  auto client = make_client(c);
  ASSERT_TRUE(client->set("k", "v").ok());
  server_->kill9();
  std::thread restarter([&] {
    std::this_thread::sleep_for(100ms);
    server_->restart();
  });
  auto r = client->set("k2", "after");  // fails first, then succeeds on a retry
  restarter.join();
  EXPECT_TRUE(r.ok()) << r.error().to_string();
}

TEST_F(Resilience, NonIdempotentIncrbyIsNotResentAfterItMayHaveRun) {
  Config c = resilient(*server_);
  c.command_timeout = 150ms;
  c.deadline = 2s;
  c.retry.max_attempts = 5;
  c.breaker.enabled = false;
  c.pool_size = 1;
  auto client = make_client(c);
  ASSERT_EQ(client->incrby("n", 1).value(), 1);
  // Make the reply late: the INCRBY runs after a pause, after our attempt timed out.
  server_->pause();
  std::thread resumer([&] {
    std::this_thread::sleep_for(400ms);
    server_->resume();
  });
  auto r = client->incrby("n", 1);
  resumer.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::timeout);
  ASSERT_TRUE(eventually(5s, [&] { return client->ping().ok(); }));
  // It ran at most once (exactly once here: the server got it before the pause ended).
  auto v = client->get("n");
  ASSERT_TRUE(v.ok());
  EXPECT_THAT(**v, AnyOf("1", "2"));
}

TEST_F(Resilience, BulkheadRejectsPastMaxInFlight) {
  Config c = resilient(*server_);
  c.max_in_flight = 10;
  c.command_timeout = 2s;
  c.deadline = 2s;
  auto client = make_client(c);
  ASSERT_TRUE(client->ping().ok());
  server_->pause();
  std::vector<std::future<Result<std::optional<std::string>>>> pending;
  for (int i = 0; i < 10; ++i) pending.push_back(client->get_async("k"));
  auto r = client->get("k");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::rejected);
  EXPECT_THAT(r.error().message, ::testing::HasSubstr("max_in_flight = 10"));
  server_->resume();
  for (auto& f : pending) EXPECT_TRUE(f.get().ok());
  EXPECT_TRUE(client->get("k").ok());  // capacity is given back
}

}  // namespace
}  // namespace rcache::test
