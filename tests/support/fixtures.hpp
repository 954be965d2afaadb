// gtest fixtures over a private redis-server.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "rcache/rcache.hpp"
#include "redis_server.hpp"

namespace rcache::test {

// A field of /proc/self/status in KiB ("VmRSS:", "VmHWM:"); -1 if absent.
inline long long proc_status_kib(std::string_view field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field, 0) == 0) return std::stoll(line.substr(field.size()));
  }
  return -1;
}

// Peak resident memory from construction on (writing 5 to clear_refs resets VmHWM).
class PeakRss {
 public:
  PeakRss() {
    std::ofstream("/proc/self/clear_refs") << "5";
    base_ = proc_status_kib("VmHWM:");
  }
  long long grown_kib() const { return proc_status_kib("VmHWM:") - base_; }

 private:
  long long base_ = 0;
};

// Generous per-command timeout for tests that are not about timeouts: sanitizer builds on a
// loaded 2-core machine can stall for a while.
inline constexpr std::chrono::milliseconds kRelaxedTimeout{5000};

inline Config config_for(const RedisServer& s) {
  Config c;
  c.host = s.host();
  c.port = s.port();
  c.command_timeout = kRelaxedTimeout;
  c.connect_timeout = kRelaxedTimeout;
  c.deadline = kRelaxedTimeout;
  return c;
}

// No breaker, no retries, deadline = command_timeout: for tests about the transport itself.
inline Config transport_only(Config c) {
  c.breaker.enabled = false;
  c.retry.max_attempts = 1;
  c.deadline = c.command_timeout;
  return c;
}

inline std::unique_ptr<Client> make_client(Config c) {
  auto r = Client::create(std::move(c));
  if (!r.ok()) {
    ADD_FAILURE() << "Client::create: " << r.error().to_string();
    return nullptr;
  }
  return std::move(*r);
}

// Polls `f` every 20 ms until it returns true or `limit` passes (bounded waits in fault tests).
template <class F>
bool eventually(std::chrono::milliseconds limit, F&& f) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// One server per test, plus a client with default settings against it.
class RedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = RedisServer::start(server_options());
    ASSERT_NE(server_, nullptr) << "could not start redis-server";
    client_ = make_client(config_for(*server_));
    ASSERT_NE(client_, nullptr);
  }
  void TearDown() override {
    client_.reset();
    server_.reset();
  }
  virtual RedisServer::Options server_options() { return {}; }

  Client& client() { return *client_; }

  std::unique_ptr<RedisServer> server_;
  std::unique_ptr<Client> client_;
};

}  // namespace rcache::test
