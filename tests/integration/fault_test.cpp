// Server crashes, hangs and absence, with a real redis-server. Deadlines carry wide margins: they
// check "fails promptly instead of hanging", not speed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
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

}  // namespace
}  // namespace rcache::test
