// The CLI tests' fixture: one private redis-server for the suite (flushed before each test), the
// rcache binary named by RCACHE_CLI run as a child, a scratch directory per test, and a few
// helpers to read Redis directly.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "child.hpp"
#include "fixtures.hpp"
#include "redis_server.hpp"

namespace rcache::test {

inline std::string cli_path() {
  const char* p = std::getenv("RCACHE_CLI");
  return p != nullptr ? p : "";
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

inline void write_file(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

inline std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = RedisServer::start(); }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    ASSERT_FALSE(cli_path().empty()) << "RCACHE_CLI is not set (meson sets it)";
    ASSERT_NE(server_, nullptr) << "could not start redis-server";
    ASSERT_EQ(server_->command({"FLUSHALL"}), "OK");
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("rcache-cli-" + std::to_string(::getpid()) + "-" + info->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    client_.reset();
    std::filesystem::remove_all(dir_);
  }

  // rcache --url <the suite's server> ARGS...
  ChildResult cli(std::vector<std::string> args, const ChildOptions& o = {}) {
    args.insert(args.begin(), {"--url", server_->url()});
    return run_child(cli_path(), args, o);
  }
  // rcache ARGS... (no --url)
  static ChildResult cli_bare(const std::vector<std::string>& args, const ChildOptions& o = {}) {
    return run_child(cli_path(), args, o);
  }

  std::string file(const std::string& name) const { return (dir_ / name).string(); }

  // A Client on the suite's server (created on first use).
  Client& client() {
    if (!client_) client_ = make_client(config_for(*server_));
    return *client_;
  }
  Reply redis(const std::vector<std::string>& argv) {
    auto r = client().command(argv);
    EXPECT_TRUE(r.ok()) << argv[0] << ": " << (r.ok() ? "" : r.error().to_string());
    return r.ok() ? *r : Reply{};
  }
  std::int64_t dbsize() { return redis({"DBSIZE"}).integer; }

  // One command per argv, pipelined through command_async; the replies in order.
  std::vector<Reply> pipeline(const std::vector<std::vector<std::string>>& commands) {
    std::vector<std::future<Result<Reply>>> futures;
    futures.reserve(commands.size());
    for (const auto& c : commands) futures.push_back(client().command_async(c));
    std::vector<Reply> out;
    out.reserve(commands.size());
    for (auto& f : futures) {
      auto r = f.get();
      EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().to_string());
      out.push_back(r.ok() ? std::move(*r) : Reply{});
    }
    return out;
  }

  static inline std::unique_ptr<RedisServer> server_;
  std::unique_ptr<Client> client_;
  std::filesystem::path dir_;
};

}  // namespace rcache::test
