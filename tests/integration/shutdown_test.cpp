// Destroying a Client with calls pending.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>

#include "fixtures.hpp"

namespace rcache::test {
namespace {

using namespace std::chrono_literals;

class Shutdown : public RedisTest {};

TEST_F(Shutdown, PendingCallsCompleteWithShutdownAndTheThreadJoins) {
  Config c = config_for(*server_);
  c.command_timeout = 60s;  // nothing may end by timeout in this test
  auto client = make_client(transport_only(c));
  ASSERT_TRUE(client->ping().ok());
  server_->pause();  // replies never come

  constexpr int kCalls = 200;
  std::atomic<int> shutdown_errors{0}, other{0};
  for (int i = 0; i < kCalls; ++i) {
    client->get_async("k" + std::to_string(i), [&](Result<std::optional<std::string>> r) {
      if (!r.ok() && r.error().code == Errc::shutdown) {
        shutdown_errors.fetch_add(1);
      } else {
        other.fetch_add(1);
      }
    });
  }
  auto fut = client->set_async("f", "v");
  const auto start = std::chrono::steady_clock::now();
  client.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(shutdown_errors.load(), kCalls);
  EXPECT_EQ(other.load(), 0);
  ASSERT_EQ(fut.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(fut.get().error().code, Errc::shutdown);
  server_->resume();
}

TEST_F(Shutdown, DestroyingWhileDisconnectedIsQuick) {
  Config c;
  c.port = free_port();
  auto client = make_client(c);
  (void)client->ping();
  const auto start = std::chrono::steady_clock::now();
  client.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST_F(Shutdown, CallbacksThatSubmitDuringShutdownAreAnsweredToo) {
  Config c = config_for(*server_);
  c.command_timeout = 60s;
  auto client = make_client(transport_only(c));
  Client* raw = client.get();
  server_->pause();
  std::atomic<int> second{0};
  raw->get_async("x", [&, raw](Result<std::optional<std::string>>) {
    raw->get_async("y", [&](Result<std::optional<std::string>> r) {
      if (!r.ok() && r.error().code == Errc::shutdown) second.fetch_add(1);
    });
  });
  client.reset();
  EXPECT_EQ(second.load(), 1);
  server_->resume();
}

// Callbacks that run with Errc::shutdown while the Client is being destroyed may call any async
// form again: refused calls, argument errors and delete_pattern are answered (with shutdown or
// their own error), never a crash.
TEST_F(Shutdown, CallbacksDuringShutdownMayMakeRefusedOrInvalidCallsAndDeletePattern) {
  Config c = transport_only(config_for(*server_));
  c.command_timeout = c.deadline = 60s;
  c.breaker.enabled = true;  // so that force_breaker_open() makes refusals
  auto client = make_client(c);
  ASSERT_NE(client, nullptr);
  Client* raw = client.get();
  ASSERT_TRUE(raw->ping().ok());
  server_->pause();
  std::atomic<int> answered{0};
  auto count = [&](auto) { answered.fetch_add(1); };
  for (int i = 0; i < 20; ++i) {
    raw->get_async("x", [&, raw, count](Result<std::optional<std::string>>) {
      raw->mget_async({}, count);                             // argument error
      raw->delete_pattern_async("p*", count);                 // starts a SCAN
      raw->set_async("k", "v", SetOptions{-1ms, {}}, count);  // argument error
      raw->force_breaker_open();
      raw->get_async("y", count);  // refused
    });
  }
  client.reset();
  EXPECT_EQ(answered.load(), 20 * 4);
  server_->resume();
}

// A callback that destroys its own Client: the shutdown is deferred, nothing terminates, and the
// calls still pending complete with Errc::shutdown.
TEST_F(Shutdown, DestroyingTheClientFromItsOwnCallbackIsDeferredNotFatal) {
  Config c = transport_only(config_for(*server_));
  c.command_timeout = c.deadline = 60s;
  c.breaker.enabled = true;  // force_breaker_open() below refuses the second call
  auto owned = make_client(c);
  ASSERT_NE(owned, nullptr);
  ASSERT_TRUE(owned->ping().ok());
  std::mutex mu;
  std::promise<void> destroyed;
  std::promise<Errc> pending;
  server_->pause();  // this call stays pending until the shutdown answers it
  owned->get_async("pending", [&](Result<std::optional<std::string>> r) {
    pending.set_value(r.ok() ? Errc{} : r.error().code);
  });
  owned->force_breaker_open();
  owned->get_async("refused", [&](Result<std::optional<std::string>>) {
    std::lock_guard lock(mu);
    owned.reset();  // on the loop thread, from the client's own callback
    destroyed.set_value();
  });
  ASSERT_EQ(destroyed.get_future().wait_for(10s), std::future_status::ready);
  auto f = pending.get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(f.get(), Errc::shutdown);
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(owned, nullptr);
  }
  server_->resume();
  // The background thread frees the client right after that answer; give it a moment so the
  // process does not end (and LeakSanitizer look) in between.
  std::this_thread::sleep_for(200ms);
}

}  // namespace
}  // namespace rcache::test
