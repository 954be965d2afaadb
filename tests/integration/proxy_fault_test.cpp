// Faults injected by a TCP proxy in front of a real redis-server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "fixtures.hpp"
#include "tcp_proxy.hpp"

namespace rcache::test {
namespace {

using namespace std::chrono_literals;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using SteadyClock = std::chrono::steady_clock;

class ProxyFaults : public RedisTest {
 protected:
  void SetUp() override {
    RedisTest::SetUp();
    proxy_ = std::make_unique<TcpProxy>(server_->port());
  }
  void TearDown() override {
    proxied_.reset();
    proxy_.reset();
    RedisTest::TearDown();
  }
  Config proxied_config() {
    Config c = config_for(*server_);
    c.port = proxy_->port();
    c.command_timeout = 150ms;
    c.deadline = 400ms;
    c.connect_timeout = 500ms;
    c.reconnect_backoff_max = 100ms;
    c.breaker.open_base = 200ms;
    c.log_level = LogLevel::off;
    return c;
  }
  std::unique_ptr<TcpProxy> proxy_;
  std::unique_ptr<Client> proxied_;
};

TEST_F(ProxyFaults, GarbageIsAProtocolErrorAndTheConnectionIsReplaced) {
  Config c = proxied_config();
  c.pool_size = 1;
  c.retry.max_attempts = 1;
  proxied_ = make_client(c);
  ASSERT_TRUE(proxied_->set("k", "v").ok());
  const int before = proxy_->accepted();
  proxy_->set_mode(TcpProxy::Mode::garbage);
  auto r = proxied_->get("k");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::protocol) << r.error().to_string();
  proxy_->set_mode(TcpProxy::Mode::pass);
  ASSERT_TRUE(eventually(5s, [&] {
    auto v = proxied_->get("k");
    return v.ok() && *v == std::optional<std::string>("v");
  }));
  EXPECT_GT(proxy_->accepted(), before) << "the poisoned connection was not replaced";
}

TEST_F(ProxyFaults, IncrbyWhoseReplyIsLostIsAppliedAtMostOnce) {
  Config c = proxied_config();
  c.retry.max_attempts = 5;
  c.breaker.enabled = false;
  proxied_ = make_client(c);
  ASSERT_EQ(proxied_->incrby("counter", 10).value(), 10);
  proxy_->set_mode(TcpProxy::Mode::blackhole);  // the command reaches Redis, the reply does not
  auto r = proxied_->incrby("counter", 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::timeout);
  proxy_->set_mode(TcpProxy::Mode::pass);
  // Read the truth from Redis directly, not through the proxy.
  auto v = client().get("counter");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(**v, "11") << "INCRBY was applied " << (std::stoi(**v) - 10) << " times";
}

TEST_F(ProxyFaults, IdempotentGetIsRetriedOnAnotherConnectionAfterALostReply) {
  Config c = proxied_config();
  c.retry.max_attempts = 3;
  c.breaker.enabled = false;
  c.pool_size = 2;
  proxied_ = make_client(c);
  ASSERT_TRUE(eventually(5s, [&] { return proxied_->pool_status().ready == 2; }));
  ASSERT_TRUE(proxied_->set("k", "v").ok());
  proxy_->set_mode(TcpProxy::Mode::blackhole);
  std::thread healer([&] {
    std::this_thread::sleep_for(50ms);  // the first GET's reply is gone by then
    proxy_->set_mode(TcpProxy::Mode::pass);
  });
  auto r = proxied_->get("k");
  healer.join();
  // Attempt 1 times out at 150 ms; the retry goes to the least loaded connection (the other
  // one, whose stream is intact) and succeeds within the 400 ms deadline.
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, std::optional<std::string>("v"));
}

TEST_F(ProxyFaults, DelayBeyondTheDeadlineEndsEveryCallInTime) {
  Config c = proxied_config();
  proxied_ = make_client(c);
  ASSERT_TRUE(proxied_->set("k", "v").ok());
  proxy_->set_mode(TcpProxy::Mode::delay, 1s);
  long long worst_ms = 0;
  for (int i = 0; i < 20; ++i) {
    const auto s = SteadyClock::now();
    auto r = proxied_->get("k");
    worst_ms = std::max<long long>(
        worst_ms,
        std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - s).count());
    EXPECT_FALSE(r.ok());
  }
  EXPECT_LT(worst_ms, 400 + 100);
  proxy_->set_mode(TcpProxy::Mode::pass);
}

TEST_F(ProxyFaults, ResetConnectionsAreReplacedAndServeAgain) {
  Config c = proxied_config();
  proxied_ = make_client(c);
  ASSERT_TRUE(proxied_->set("k", "v").ok());
  proxy_->reset_all();
  EXPECT_TRUE(eventually(5s, [&] {
    auto v = proxied_->get("k");
    return v.ok() && *v == std::optional<std::string>("v");
  }));
}

}  // namespace
}  // namespace rcache::test
