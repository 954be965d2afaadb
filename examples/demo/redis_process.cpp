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

#include "loopback.hpp"

extern char** environ;

namespace demo {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The running server's pid, for the signal handler: a Ctrl-C of the demo must not orphan it.
std::atomic<pid_t> g_running{-1};

void kill_server_then_die(int sig) {
  const pid_t pid = g_running.load();
  if (pid > 0 && ::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void guard_against_orphans() {
  static const bool installed = [] {
    struct sigaction action {};
    action.sa_handler = kill_server_then_die;
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

std::unique_ptr<RedisProcess> RedisProcess::start() {
  std::string dir = (std::filesystem::temp_directory_path() / "rcache-demo-redis-XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) {
    std::fprintf(stderr, "redis-server: no temporary directory: %s\n", std::strerror(errno));
    return nullptr;
  }
  std::unique_ptr<RedisProcess> redis(new RedisProcess(std::move(dir)));
  guard_against_orphans();
  // The free port can be grabbed by someone else before redis-server binds it: try a few.
  for (int attempt = 0; attempt < 5; ++attempt) {
    redis->port_ = free_port();
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
  const char* argv[] = {"redis-server", "--port",      port.c_str(), "--bind",
                        "127.0.0.1",    "--save",      "",           "--appendonly",
                        "no",           "--daemonize", "no",         "--dir",
                        dir_.c_str(),   "--logfile",   log.c_str(),  nullptr};
  // Its log goes to the file; keep anything else it prints out of the demo's output.
  posix_spawn_file_actions_t quiet;
  posix_spawn_file_actions_init(&quiet);
  posix_spawn_file_actions_addopen(&quiet, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int err =
      ::posix_spawnp(&pid, argv[0], &quiet, nullptr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&quiet);
  if (err != 0) return err;
  pid_ = pid;
  g_running = pid;
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
  pid_ = -1;
  g_running = -1;
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
