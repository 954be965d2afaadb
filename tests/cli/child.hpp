// The rcache binary run as a child process for the CLI tests: arguments, environment, captured
// stdout/stderr, exit code, peak memory, and a bounded wait (a child still running at the limit
// is killed by its pid).
//
// Thread safety: run_child may be called from any thread; it owns everything it starts.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace rcache::test {

struct ChildOptions {
  std::vector<std::pair<std::string, std::string>> set_env;  // added or replaced
  // Removed from the inherited environment: a REDIS_URL of the test runner (with-redis.sh) must
  // not reach a child unless a test sets it.
  std::vector<std::string> unset_env = {"REDIS_URL"};
  std::chrono::milliseconds timeout{60000};
};

struct ChildResult {
  int exit_code = -1;  // -1: killed by a signal (see signal) or did not start
  int signal = 0;
  bool timed_out = false;
  std::string out, err;
  std::chrono::milliseconds elapsed{0};
  long max_rss_kib = 0;  // the child's peak resident memory (VmHWM, sampled every 20 ms)

  // For failure messages: "exit 1, stderr: ...".
  std::string describe() const;
};

ChildResult run_child(const std::string& path, const std::vector<std::string>& args,
                      const ChildOptions& options = {});

}  // namespace rcache::test
