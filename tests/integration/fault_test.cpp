// Server crashes, hangs and absence, with a real redis-server. Deadlines carry wide margins: they
// check "fails promptly instead of hanging", not speed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <future>
#include <mutex>
#include <thread>

#include "fixtures.hpp"

namespace rcache::test {
namespace {

using namespace std::chrono_literals;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using SteadyClock = std::chrono::steady_clock;

TEST(NoServer, TransportFailsFastWithTheReasonWhenNotDisabled) {
  // In local mode the client is not refused up front, so the transport's own answer shows.
  Config c;
  c.port = free_port();  // nothing listens there
  c.degraded_mode = DegradedMode::local;
  c.log_level = LogLevel::off;
  auto client = make_client(transport_only(c));
  ASSERT_NE(client, nullptr);
  auto r = client->command({"GET", "k"});  // command() has no local fallback
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::disabled);
  EXPECT_THAT(r.error().message, HasSubstr("127.0.0.1:" + std::to_string(c.port)));
  EXPECT_THAT(r.error().message, HasSubstr("refused"));
}

TEST(NoServer, ClientStartsServingWhenTheServerAppearsLater) {
  Config c;
  c.port = free_port();
  c.command_timeout = kRelaxedTimeout;
  c.probe_min = std::chrono::milliseconds(100);
  c.probe_max = std::chrono::milliseconds(500);
  c.log_level = LogLevel::off;
  auto client = make_client(transport_only(c));
  EXPECT_FALSE(client->ping().ok());
  // Start a server on exactly that port.
  RedisServer::Options o;
  o.port = c.port;
  auto server = RedisServer::start(o);
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(eventually(10s, [&] { return client->set("late", "ok").ok(); }));
}

class Faults : public RedisTest {
  RedisServer::Options server_options() override {
    RedisServer::Options o;
    o.args = {"--enable-debug-command", "local"};
    return o;
  }
};

TEST_F(Faults, KillNineUnderLoadFailsPendingCallsPromptlyAndSameClientRecovers) {
  Config c = config_for(*server_);
  c.command_timeout = 3s;  // a hang would show up as a 3 s call
  auto client = make_client(transport_only(c));
  ASSERT_TRUE(client->set("before", "crash").ok());

  std::atomic<bool> stop{false};
  std::atomic<bool> killed{false};
  std::atomic<long long> worst_after_kill_us{0};
  std::atomic<int> failures_after_kill{0};
  std::atomic<int> other_codes{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&, t] {
      for (int i = 0; !stop.load() && i < 10'000'000; ++i) {
        const auto start = SteadyClock::now();
        auto r = client->set("load" + std::to_string(t), std::to_string(i));
        const auto us =
            std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - start)
                .count();
        if (killed.load()) {
          long long prev = worst_after_kill_us.load();
          while (us > prev && !worst_after_kill_us.compare_exchange_weak(prev, us)) {
          }
          if (!r.ok()) {
            failures_after_kill.fetch_add(1);
            if (r.error().code != Errc::connection) other_codes.fetch_add(1);
          }
        }
      }
    });
  }
  std::this_thread::sleep_for(300ms);
  killed = true;
  server_->kill9();
  std::this_thread::sleep_for(1s);
  EXPECT_GT(failures_after_kill.load(), 0);
  EXPECT_EQ(other_codes.load(), 0);
  EXPECT_LT(worst_after_kill_us.load(), 1'500'000) << "a call hung after the kill";

  ASSERT_TRUE(server_->restart());
  EXPECT_TRUE(eventually(15s, [&] { return client->set("after", "restart").ok(); }));
  stop = true;
  for (auto& th : load) th.join();
  EXPECT_EQ(client->get("after").value(), std::optional<std::string>("restart"));
  EXPECT_GE(client->pool_status().reconnects, 1u);
}

TEST_F(Faults, StoppedServerMakesCallsTimeOutThenRecoverAfterSigcont) {
  Config c = config_for(*server_);
  c.command_timeout = 300ms;
  c.connect_timeout = 500ms;
  auto client = make_client(transport_only(c));
  ASSERT_TRUE(client->set("k", "v").ok());

  server_->pause();
  // Several concurrent calls: each must end near its timeout, none may hang.
  std::vector<std::future<Result<std::optional<std::string>>>> futures;
  const auto start = SteadyClock::now();
  for (int i = 0; i < 20; ++i) futures.push_back(client->get_async("k"));
  auto blocking = client->get("k");
  for (auto& f : futures) {
    ASSERT_EQ(f.wait_until(start + 3s), std::future_status::ready) << "call hung";
    auto r = f.get();
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.error().code, AnyOf(Errc::timeout, Errc::connection));
  }
  const auto took = SteadyClock::now() - start;
  ASSERT_FALSE(blocking.ok());
  EXPECT_EQ(blocking.error().code, Errc::timeout) << blocking.error().to_string();
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 300ms + 1500ms);

  server_->resume();
  EXPECT_TRUE(eventually(10s, [&] { return client->get("k").ok(); }));
  EXPECT_EQ(client->get("k").value(), std::optional<std::string>("v"));
}

TEST_F(Faults, SlowCommandTimesOutAndTheConnectionKeepsWorking) {
  Config c = config_for(*server_);
  c.command_timeout = 200ms;
  c.pool_size = 1;
  auto client = make_client(transport_only(c));
  auto slow = client->command({"DEBUG", "SLEEP", "0.5"});
  if (!slow.ok() && slow.error().code == Errc::server) GTEST_SKIP() << "DEBUG disabled";
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.error().code, Errc::timeout);
  // The late reply must not be handed to the next caller.
  EXPECT_TRUE(eventually(5s, [&] { return client->set("after", "slow").ok(); }));
  EXPECT_EQ(client->get("after").value(), std::optional<std::string>("slow"));
}

// One dropped connection is one signal: CLIENT KILL of one pooled connection with dozens of calls
// in flight on it leaves the breaker closed, and every idempotent call is retried, none fails.
TEST(OneDrop, ClientKillOfOnePooledConnectionUnderLoadNeitherTripsTheBreakerNorFailsAGet) {
  auto server = RedisServer::start();
  ASSERT_NE(server, nullptr);
  // Relaxed timeouts: this test is about drops, and a sanitizer build sharing 2 cores can stall
  // for longer than the 100 ms default; a stall must not show up as a failed call here.
  Config c = config_for(*server);
  c.pool_size = 2;
  c.client_name = "victim";
  c.blocking_spin = std::chrono::microseconds(0);
  c.log_level = LogLevel::off;
  auto victim = make_client(c);
  ASSERT_NE(victim, nullptr);
  ASSERT_TRUE(victim->set("k", "v").ok());
  Config k = config_for(*server);
  k.client_name = "killer";
  auto killer = make_client(k);
  ASSERT_NE(killer, nullptr);

  std::atomic<bool> stop{false};
  std::atomic<long> ok{0}, failed{0}, refused{0};
  std::vector<std::thread> load;
  // 8 threads keep 16 async GETs each in flight: the killed connection always holds many.
  for (int t = 0; t < 8; ++t) {
    load.emplace_back([&] {
      for (int i = 0; !stop.load() && i < 1'000'000; ++i) {
        std::vector<std::future<Result<std::optional<std::string>>>> batch;
        for (int j = 0; j < 16; ++j) batch.push_back(victim->get_async("k"));
        for (auto& f : batch) {
          auto r = f.get();
          if (r.ok()) {
            ok.fetch_add(1);
          } else if (r.error().code == Errc::circuit_open) {
            refused.fetch_add(1);
          } else {
            failed.fetch_add(1);
          }
        }
      }
    });
  }
  // Kill one of the victim's two connections (found by name in CLIENT LIST), three times, 250 ms
  // apart: the pool hands each loop turn's batch to one connection, so a single kill can find
  // the other one busy and this one idle.
  std::uint64_t kills = 0;
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(250ms);
    auto list = killer->command({"CLIENT", "LIST"});
    ASSERT_TRUE(list.ok());
    std::vector<std::string> ids;
    for (std::size_t pos = 0; pos < list->str.size();) {
      const auto eol = list->str.find('\n', pos);
      const std::string line = list->str.substr(pos, eol - pos);
      pos = eol == std::string::npos ? list->str.size() : eol + 1;
      if (line.find(" name=victim ") != std::string::npos) {
        ids.push_back(line.substr(3, line.find(' ') - 3));  // "id=NN ..."
      }
    }
    ASSERT_FALSE(ids.empty()) << list->str;
    auto killed = killer->command({"CLIENT", "KILL", "ID", ids[round % ids.size()]});
    ASSERT_TRUE(killed.ok()) << killed.error().to_string();
    kills += static_cast<std::uint64_t>(killed->integer);
  }
  ASSERT_EQ(kills, 3u);
  std::this_thread::sleep_for(700ms);
  stop = true;
  for (auto& t : load) t.join();

  const Stats st = victim->stats();
  std::printf(
      "[ figures  ] 3 x CLIENT KILL of 1 of 2 connections, 128 GETs in flight: %ld ok, %ld failed, "
      "%ld circuit_open, %llu breaker transitions, %llu retries, %llu reconnects\n",
      ok.load(), failed.load(), refused.load(),
      static_cast<unsigned long long>(st.breaker_transitions),
      static_cast<unsigned long long>(st.retries), static_cast<unsigned long long>(st.reconnects));
  EXPECT_EQ(st.reconnects, 3u) << "each kill drops one connection";
  EXPECT_EQ(st.breaker_transitions, 0u);
  EXPECT_EQ(refused.load(), 0);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(ok.load(), 0);
}

// Every pooled connection killed at once, three times, under blocking load: the whole pool
// reconnects. Before, calls failed at once for the 20-50 ms of each reconnect ("not connected")
// and the retry budget was gone after one blip (the review: ~400 failed GETs per kill). Now calls
// wait for the reconnect within their deadline and unsent attempts cost no budget. With 8
// connections each busy (32 callers), eight drops at once used to be eight breaker failures (a
// trip) and eight budget tokens; calls sent in the same loop turn as the drops, while every link
// was still closing, failed "not connected". Now the loss is one event and those calls wait too.
TEST(Reconnect, KillingEveryPooledConnectionUnderLoadFailsNoGet) {
  auto server = RedisServer::start();
  ASSERT_NE(server, nullptr);
  Config c = config_for(*server);  // relaxed command timeout: this is about drops, not stalls
  c.deadline = 2 * c.command_timeout;
  c.blocking_spin = std::chrono::microseconds(0);
  c.log_level = LogLevel::off;
  // More connections than the breaker's consecutive_failures (5): losing them all at once is one
  // event, not eight failures.
  c.pool_size = 8;
  auto victim = make_client(c);
  ASSERT_NE(victim, nullptr);
  ASSERT_TRUE(victim->set("k", "v").ok());
  auto killer = make_client(config_for(*server));
  ASSERT_NE(killer, nullptr);

  std::atomic<bool> stop{false};
  std::atomic<long> ok{0}, failed{0};
  std::mutex first_mu;
  std::string first_error;
  std::vector<std::thread> load;
  for (int t = 0; t < 32; ++t) {
    load.emplace_back([&] {
      for (int i = 0; !stop.load() && i < 10'000'000; ++i) {
        auto r = victim->get("k");
        if (r.ok()) {
          ok.fetch_add(1);
          continue;
        }
        failed.fetch_add(1);
        std::lock_guard lock(first_mu);
        if (first_error.empty()) first_error = r.error().to_string();
      }
    });
  }
  std::int64_t killed = 0;
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(400ms);
    // SKIPME yes (the default): every normal connection but the one this command runs on:
    // the victim's whole pool, and the killer's other pooled connections.
    auto r = killer->command({"CLIENT", "KILL", "TYPE", "normal"});
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    killed += r->integer;
  }
  std::this_thread::sleep_for(600ms);
  stop = true;
  for (auto& t : load) t.join();
  const Stats st = victim->stats();
  std::printf(
      "[ figures  ] 3 x CLIENT KILL of the whole pool (%lld connections), 32 blocking threads: "
      "%ld ok, %ld failed, %llu retries, %llu reconnects, breaker transitions %llu\n",
      static_cast<long long>(killed), ok.load(), failed.load(),
      static_cast<unsigned long long>(st.retries), static_cast<unsigned long long>(st.reconnects),
      static_cast<unsigned long long>(st.breaker_transitions));
  EXPECT_GE(killed, 3 * static_cast<std::int64_t>(c.pool_size) - 3);
  EXPECT_EQ(failed.load(), 0) << "first failure: " << first_error;
  EXPECT_EQ(st.breaker_transitions, 0u);
  EXPECT_GT(ok.load(), 0);
}

// After a real outage the breaker is open; once Redis is back the cache must follow within a few
// hundred ms (a reconnect lets the probes through, and a first trip is short), not after a fixed
// 5 s open period (the review: 2-3 s late).
TEST(Reconnect, AfterARestartTheCacheIsBackSoonAfterRedis) {
  RedisServer::Options o;
  o.port = free_port();
  auto server = RedisServer::start(o);
  ASSERT_NE(server, nullptr);
  Config c = config_for(*server);
  c.command_timeout = 100ms;
  c.deadline = 250ms;
  c.reconnect_backoff_min = 20ms;
  c.reconnect_backoff_max = 200ms;  // the reconnect schedule is not what is measured here
  c.log_level = LogLevel::off;
  auto client = make_client(c);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->set("k", "v").ok());
  server->kill9();
  for (int i = 0; i < 50 && client->breaker_state() != BreakerState::open; ++i) {
    (void)client->get("k");
  }
  ASSERT_EQ(client->breaker_state(), BreakerState::open);
  std::this_thread::sleep_for(1s);
  ASSERT_TRUE(server->restart());
  const auto up = SteadyClock::now();
  bool back = false;
  for (int i = 0; i < 2000 && !back; ++i) {  // at most ~10 s
    back = client->get("k").ok();
    if (!back) std::this_thread::sleep_for(5ms);
  }
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - up).count();
  std::printf("[ figures  ] cache back %lld ms after the restarted Redis accepted connections\n",
              static_cast<long long>(ms));
  ASSERT_TRUE(back);
  EXPECT_LT(ms, 1500);
}

}  // namespace
}  // namespace rcache::test
