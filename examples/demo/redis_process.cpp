// The demo's private redis-server: started on a free loopback port, killed and revived by pid.
#include "redis_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "loopback.hpp"

extern char** environ;

namespace demo {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The running servers' pids, for the signal handler: a Ctrl-C of the demo must not orphan them.
constexpr int kTracked = 16;
std::atomic<pid_t> g_running[kTracked];

void track(pid_t pid) {
  for (auto& slot : g_running) {
    pid_t empty = 0;
    if (slot.compare_exchange_strong(empty, pid)) return;
  }
}

void untrack(pid_t pid) {
  for (auto& slot : g_running) {
    pid_t mine = pid;
    if (slot.compare_exchange_strong(mine, 0)) return;
  }
}

void kill_servers_then_die(int sig) {
  for (auto& slot : g_running) {
    const pid_t pid = slot.load();
    if (pid > 0 && ::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void guard_against_orphans() {
  static const bool installed = [] {
    struct sigaction action {};
    action.sa_handler = kill_servers_then_die;
    sigemptyset(&action.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGABRT, SIGSEGV}) ::sigaction(sig, &action, nullptr);
    return true;
  }();
  (void)installed;
}

// Any RESP answer to PING counts: "+PONG", or an error such as "-LOADING".
bool answers_ping(int port) {
  const int fd = connect_loopback(port);
  if (fd < 0) return false;
  pollfd readable{fd, POLLIN, 0};
  char first = 0;
  const bool answered = ::send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6 &&
                        ::poll(&readable, 1, 500) == 1 && ::recv(fd, &first, 1, 0) == 1;
  ::close(fd);
  return answered && (first == '+' || first == '-');
}

}  // namespace

std::unique_ptr<RedisProcess> RedisProcess::start(const Options& options) {
  std::string dir = (std::filesystem::temp_directory_path() / "rcache-demo-redis-XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) {
    std::fprintf(stderr, "redis-server: no temporary directory: %s\n", std::strerror(errno));
    return nullptr;
  }
  std::unique_ptr<RedisProcess> redis(new RedisProcess(std::move(dir), options.args));
  guard_against_orphans();
  // The free port can be grabbed by someone else before redis-server binds it: try a few.
  for (int attempt = 0; attempt < 5; ++attempt) {
    redis->port_ =
        options.bus_offset > 0 ? free_port_pair(options.bus_offset, options.avoid) : free_port();
    if (redis->port_ == 0) break;
    if (const int err = redis->spawn(); err != 0) {
      std::fprintf(stderr, "redis-server: cannot run it: %s\n", std::strerror(err));
      return nullptr;
    }
    if (redis->wait_until_up()) return redis;
  }
  std::fprintf(stderr, "redis-server: did not come up on a free port\n");
  return nullptr;
}

int RedisProcess::spawn() {
  const std::string port = std::to_string(port_);
  const std::string log = dir_ + "/redis.log";
  std::vector<const char*> argv = {"redis-server", "--port",      port.c_str(), "--bind",
                                   "127.0.0.1",    "--save",      "",           "--appendonly",
                                   "no",           "--daemonize", "no",         "--dir",
                                   dir_.c_str(),   "--logfile",   log.c_str()};
  for (const auto& a : args_) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  // Its log goes to the file; keep anything else it prints out of the demo's output.
  posix_spawn_file_actions_t quiet;
  posix_spawn_file_actions_init(&quiet);
  posix_spawn_file_actions_addopen(&quiet, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  // No signal blocked in the child, whatever the demo blocks (--serve waits for SIGINT/SIGTERM).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  const int err =
      ::posix_spawnp(&pid, argv[0], &quiet, &attr, const_cast<char* const*>(argv.data()), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&quiet);
  if (err != 0) return err;
  pid_ = pid;
  track(pid);
  return 0;
}

bool RedisProcess::wait_until_up() {
  const auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {  // it exited: port taken, most likely
      forget();
      return false;
    }
    if (answers_ping(port_)) return true;
    std::this_thread::sleep_for(20ms);
  }
  kill9();
  return false;
}

void RedisProcess::forget() {
  untrack(pid_);
  pid_ = -1;
}

void RedisProcess::terminate() {
  if (pid_ > 0) ::kill(pid_, SIGTERM);
}

void RedisProcess::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  forget();
}

bool RedisProcess::restart() {
  if (pid_ > 0) return true;
  // The killed server's socket can hold the port for a moment: keep trying for about 5 s.
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (spawn() != 0) return false;
    if (wait_until_up()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

RedisProcess::~RedisProcess() {
  if (pid_ > 0) {
    // With nothing to save it exits at once on SIGTERM; SIGKILL it if it has not in 5 s.
    ::kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + 5s;
    while (pid_ > 0 && Clock::now() < deadline) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        forget();
      } else {
        std::this_thread::sleep_for(10ms);
      }
    }
    kill9();
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

}  // namespace demo
