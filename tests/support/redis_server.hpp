// A private redis-server for one test: started on a free loopback port with --save '' and
// --appendonly no in its own temporary directory, stopped by pid (never by name).
//
// Thread safety: one owner thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace rcache::test {

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_port();

// A socket connected to 127.0.0.1:port, or -1.
int connect_loopback(int port);

// A listening socket on 127.0.0.1 with a kernel-chosen port (stored in `port`); -1 on failure.
int listen_loopback(int& port, int backlog = 64);

// Another client of a redis-server (a service instance, redis-cli): one blocking hiredis
// connection to 127.0.0.1:port, kept open across commands.
class RedisConnection {
 public:
  explicit RedisConnection(int port,
                           std::chrono::milliseconds limit = std::chrono::milliseconds(2000));
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;
  bool ok() const;
  // The reply as text, as RedisServer::command() gives it; "" when the connection failed.
  std::string run(const std::vector<std::string>& argv);

 private:
  void* c_ = nullptr;  // redisContext (hiredis stays out of this header)
};

class RedisServer {
 public:
  struct Options {
    std::vector<std::string> args;  // extra arguments, e.g. {"--requirepass", "s3cret"}
    bool unix_socket = false;       // also listen on <dir>/redis.sock
    int port = 0;                   // 0: pick a free one
    // TLS: when cert and key are set the server also listens with TLS on tls_port() (the plain
    // port stays open for readiness checks and for "plaintext to a TLS port" tests).
    std::string tls_cert_file;
    std::string tls_key_file;
    std::string tls_ca_file;        // CA of client certificates (required by Redis with TLS)
    bool tls_auth_clients = false;  // require a client certificate
    // Non-empty: run as a sentinel (redis-server <dir>/sentinel.conf --sentinel) with this
    // configuration (e.g. "sentinel monitor mymaster 127.0.0.1 6379 2\n").
    std::string sentinel_conf;
  };

  // Starts and waits until it answers; nullptr (with the reason on stderr) if it cannot.
  static std::unique_ptr<RedisServer> start(Options options);
  static std::unique_ptr<RedisServer> start() { return start(Options{}); }
  ~RedisServer();

  int port() const { return port_; }
  int tls_port() const { return tls_port_; }
  pid_t pid() const { return pid_; }
  std::string host() const { return "127.0.0.1"; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  std::string socket_path() const { return dir_ + "/redis.sock"; }
  bool running() const { return pid_ > 0; }

  // One command over a fresh blocking connection (hiredis), the reply as text: a string, status
  // or integer as is, an error as "ERR: ...", nil as "(nil)", an array's elements one per line.
  // "" when the server cannot be reached within `limit`.
  std::string command(const std::vector<std::string>& argv,
                      std::chrono::milliseconds limit = std::chrono::milliseconds(2000)) const;

  void kill9();    // SIGKILL and reap
  void stop();     // SIGTERM, then SIGKILL after 5 s; reap
  void pause();    // SIGSTOP
  void resume();   // SIGCONT
  bool restart();  // start again on the same port (after kill9/stop)

 private:
  RedisServer() = default;
  bool spawn();
  bool wait_ready(std::chrono::milliseconds limit);

  Options options_;
  std::string dir_;
  int port_ = 0;
  int tls_port_ = 0;
  pid_t pid_ = -1;
  bool paused_ = false;
};

}  // namespace rcache::test
