// The demo's private redis-server: started on a free loopback port, killed and revived by pid.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

namespace demo {

// One redis-server child process, run as
//   redis-server --port P --bind 127.0.0.1 --save '' --appendonly no
// in a fresh temporary directory (removed at the end). kill9() and restart() let the demo crash
// it mid-load and bring it back on the same port. It is only ever signalled by its pid, never by
// name: the destructor stops it, and if the demo itself gets SIGINT/SIGTERM/SIGHUP (or crashes)
// the server is SIGKILLed first, so nothing is left running. The demo has one at a time.
//
// Thread safety: none; create, use and destroy it on one thread (the demo's main thread).
class RedisProcess {
 public:
  // Running and answering PING, or nullptr (the reason on stderr) when no redis-server can run.
  static std::unique_ptr<RedisProcess> start();
  ~RedisProcess();
  RedisProcess(const RedisProcess&) = delete;
  RedisProcess& operator=(const RedisProcess&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }  // -1 while it is down
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  void kill9();    // SIGKILL and reap; nothing to do when it is already down
  bool restart();  // start it again on the same port; true once it answers PING

 private:
  explicit RedisProcess(std::string dir) : dir_(std::move(dir)) {}
  int spawn();           // 0, or the errno of a redis-server that cannot be run at all
  bool wait_until_up();  // false when it exited (port taken) or stayed silent for 10 s
  void forget();         // the child has been reaped

  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace demo
