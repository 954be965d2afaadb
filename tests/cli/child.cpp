// Runs a child process with pipes for stdout and stderr, bounded in time (posix_spawn, poll,
// wait4).
#include "child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace rcache::test {
namespace {

// VmHWM of a running process in KiB (0 when it cannot be read): the peak of its own memory since
// exec. wait4's ru_maxrss cannot be used: posix_spawn shares the parent's memory until exec, and
// the kernel keeps that high-water mark as the child's.
long vm_hwm_kib(pid_t pid) {
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/status").c_str(), "r");
  if (f == nullptr) return 0;
  char line[256];
  long kib = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "VmHWM:", 6) == 0) kib = std::strtol(line + 6, nullptr, 10);
  }
  std::fclose(f);
  return kib;
}

}  // namespace

std::string ChildResult::describe() const {
  std::string s = timed_out ? "timed out"
                            : (signal != 0 ? "signal " + std::to_string(signal)
                                           : "exit " + std::to_string(exit_code));
  return s + ", stderr: " + err.substr(0, 2000);
}

ChildResult run_child(const std::string& path, const std::vector<std::string>& args,
                      const ChildOptions& options) {
  ChildResult result;
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    const auto overridden = [&](const std::string& n) { return n == name; };
    if (std::any_of(options.unset_env.begin(), options.unset_env.end(), overridden)) continue;
    if (std::any_of(options.set_env.begin(), options.set_env.end(),
                    [&](const auto& kv) { return kv.first == name; })) {
      continue;
    }
    env.push_back(entry);
  }
  for (const auto& [k, v] : options.set_env) env.push_back(std::string(k).append("=").append(v));

  std::vector<char*> argv{const_cast<char*>(path.c_str())};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return result;
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    return result;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  const auto start = std::chrono::steady_clock::now();
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, path.c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) {
    result.err = std::string("posix_spawn: ") + std::strerror(rc);
    ::close(out[0]);
    ::close(err[0]);
    return result;
  }

  const auto deadline = start + options.timeout;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open = 2;
  char buf[65536];
  while (open > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 && !result.timed_out) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);  // ours, by pid; the pipes close when it dies
    }
    if (result.timed_out && left < -std::chrono::seconds(5)) break;  // pipes held elsewhere
    const int wait_ms =
        result.timed_out ? 1000 : static_cast<int>(std::min<long long>(left.count(), 20));
    const int n = ::poll(fds, 2, wait_ms);
    if (n < 0 && errno != EINTR) break;
    result.max_rss_kib = std::max(result.max_rss_kib, vm_hwm_kib(pid));
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) ::close(f.fd);
  }
  int status = 0;
  rusage usage{};
  while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  return result;
}

}  // namespace rcache::test
