// Destroying a Client with calls pending.
#include <gtest/gtest.h>

#include <atomic>

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

}  // namespace
}  // namespace rcache::test
