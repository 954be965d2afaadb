#include "redis_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

extern char** environ;

namespace rcache::test {
namespace {

// One PING over a fresh socket; true when anything RESP-like comes back (+PONG or -NOAUTH).
bool answers_ping(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const char ping[] = "PING\r\n";
    if (::send(fd, ping, sizeof ping - 1, MSG_NOSIGNAL) == sizeof ping - 1) {
      pollfd p{fd, POLLIN, 0};
      char buf[64];
      if (::poll(&p, 1, 500) == 1 && ::recv(fd, buf, sizeof buf, 0) > 0) {
        ok = buf[0] == '+' || buf[0] == '-';
      }
    }
  }
  ::close(fd);
  return ok;
}

// Servers this process started, so that a crash or a kill of the test (ASan abort, meson's
// timeout SIGTERM) does not leave them running: the handler kills exactly these pids.
constexpr int kMaxChildren = 64;
std::atomic<pid_t> g_children[kMaxChildren];

void kill_children_and_reraise(int sig) {
  for (auto& c : g_children) {
    const pid_t pid = c.load();
    if (pid > 0) ::kill(pid, SIGKILL);
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void install_crash_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTERM, SIGINT}) {
      struct sigaction sa {};
      sa.sa_handler = kill_children_and_reraise;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = static_cast<int>(SA_RESETHAND);
      ::sigaction(sig, &sa, nullptr);
    }
  });
}

void track_child(pid_t pid) {
  for (auto& c : g_children) {
    pid_t expected = 0;
    if (c.compare_exchange_strong(expected, pid)) return;
  }
}

void untrack_child(pid_t pid) {
  for (auto& c : g_children) {
    pid_t expected = pid;
    if (c.compare_exchange_strong(expected, 0)) return;
  }
}

}  // namespace

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

int connect_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int listen_loopback(int& port, int backlog) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, backlog) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    return -1;
  }
  port = ntohs(a.sin_port);
  return fd;
}

std::unique_ptr<RedisServer> RedisServer::start(Options options) {
  std::unique_ptr<RedisServer> s(new RedisServer());
  s->options_ = std::move(options);
  char tmpl[] = "/tmp/rcache-redis-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    std::fprintf(stderr, "mkdtemp: %s\n", std::strerror(errno));
    return nullptr;
  }
  s->dir_ = tmpl;
  // A port can be taken between free_port() and bind: retry a few times with a new one.
  for (int attempt = 0; attempt < 5; ++attempt) {
    s->port_ = s->options_.port != 0 ? s->options_.port : free_port();
    if (!s->options_.tls_cert_file.empty()) {
      do {
        s->tls_port_ = free_port();
      } while (s->tls_port_ == s->port_);
    }
    if (s->spawn() && s->wait_ready(std::chrono::seconds(10))) return s;
    s->kill9();
  }
  std::fprintf(stderr, "redis-server did not start; see %s/redis.log\n", s->dir_.c_str());
  return nullptr;
}

namespace {

std::string reply_text(const redisReply* r) {
  if (r == nullptr) return "";
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      return std::string(r->str, r->len);
    case REDIS_REPLY_ERROR:
      return "ERR: " + std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER:
      return std::to_string(r->integer);
    case REDIS_REPLY_NIL:
      return "(nil)";
    case REDIS_REPLY_ARRAY: {
      std::string out;
      for (std::size_t i = 0; i < r->elements; ++i) {
        if (i > 0) out += "\n";
        out += reply_text(r->element[i]);
      }
      return out;
    }
    default:
      return "?";
  }
}

}  // namespace

RedisConnection::RedisConnection(int port, std::chrono::milliseconds limit) {
  timeval tv{};
  tv.tv_sec = static_cast<long>(limit.count() / 1000);
  tv.tv_usec = static_cast<long>((limit.count() % 1000) * 1000);
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (c != nullptr && c->err == 0) redisSetTimeout(c, tv);
  c_ = c;
}

RedisConnection::~RedisConnection() {
  if (c_ != nullptr) redisFree(static_cast<redisContext*>(c_));
}

bool RedisConnection::ok() const {
  return c_ != nullptr && static_cast<redisContext*>(c_)->err == 0;
}

std::string RedisConnection::run(const std::vector<std::string>& argv) {
  if (!ok()) return "";
  std::vector<const char*> args;
  std::vector<std::size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(redisCommandArgv(
      static_cast<redisContext*>(c_), static_cast<int>(args.size()), args.data(), lens.data()));
  std::string out = reply_text(r);
  if (r != nullptr) freeReplyObject(r);
  return out;
}

std::string RedisServer::command(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds limit) const {
  RedisConnection c(port_, limit);
  return c.run(argv);
}

bool RedisServer::spawn() {
  std::vector<std::string> args = {"redis-server",
                                   "--port",
                                   std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--daemonize",
                                   "no",
                                   "--dir",
                                   dir_,
                                   "--logfile",
                                   dir_ + "/redis.log"};
  if (options_.unix_socket) {
    args.insert(args.end(), {"--unixsocket", socket_path(), "--unixsocketperm", "700"});
  }
  if (!options_.tls_cert_file.empty()) {
    args.insert(args.end(), {"--tls-port", std::to_string(tls_port_), "--tls-cert-file",
                             options_.tls_cert_file, "--tls-key-file", options_.tls_key_file,
                             "--tls-ca-cert-file", options_.tls_ca_file, "--tls-auth-clients",
                             options_.tls_auth_clients ? "yes" : "no"});
  }
  args.insert(args.end(), options_.args.begin(), options_.args.end());
  if (!options_.sentinel_conf.empty()) {
    // Sentinel rewrites its file: a fresh one per start would forget what it learnt, so it is
    // written once and kept across restarts.
    const std::string conf = dir_ + "/sentinel.conf";
    if (!std::filesystem::exists(conf)) {
      FILE* f = std::fopen(conf.c_str(), "w");
      if (f == nullptr) return false;
      std::fputs(options_.sentinel_conf.c_str(), f);
      std::fclose(f);
    }
    args.insert(args.begin() + 1, {conf, "--sentinel"});
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, "redis-server", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    std::fprintf(stderr, "posix_spawnp(redis-server): %s\n", std::strerror(rc));
    return false;
  }
  pid_ = pid;
  install_crash_handlers();
  track_child(pid);
  return true;
}

bool RedisServer::wait_ready(std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: port taken or bad args
      untrack_child(pid_);
      pid_ = -1;
      return false;
    }
    if (answers_ping(port_)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

void RedisServer::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  untrack_child(pid_);
  pid_ = -1;
  paused_ = false;
}

void RedisServer::stop() {
  if (pid_ <= 0) return;
  if (paused_) resume();
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 500; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      untrack_child(pid_);
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill9();
}

void RedisServer::pause() {
  if (pid_ > 0 && ::kill(pid_, SIGSTOP) == 0) paused_ = true;
}

void RedisServer::resume() {
  if (pid_ > 0 && ::kill(pid_, SIGCONT) == 0) paused_ = false;
}

bool RedisServer::restart() {
  if (pid_ > 0) return true;
  for (int attempt = 0; attempt < 50; ++attempt) {  // the old socket may linger briefly
    if (spawn() && wait_ready(std::chrono::seconds(10))) return true;
    kill9();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

RedisServer::~RedisServer() {
  stop();
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

}  // namespace rcache::test
