// The demo's private redis-server: started on a free loopback port, killed and revived by pid.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace demo {

// One redis-server child process, run as
//   redis-server --port P --bind 127.0.0.1 --save '' --appendonly no [extra args]
// in a fresh temporary directory (removed at the end; it survives kill9()/restart(), so a
// cluster node keeps its nodes.conf). kill9() and restart() let the demo crash it mid-load and
// bring it back on the same port. It is only ever signalled by its pid, never by name: the
// destructor stops it, and if the demo itself gets SIGINT/SIGTERM/SIGHUP (or crashes) every
// running server is SIGKILLed first, so nothing is left running (up to 16 at a time).
//
// Thread safety: none; create, use and destroy it on one thread at a time.
class RedisProcess {
 public:
  struct Options {
    // The port is picked free; with bus_offset > 0, port + bus_offset must be free too (a
    // cluster node's bus) and the port is none of `avoid` nor `avoid` + bus_offset.
    int bus_offset = 0;
    std::vector<int> avoid;
    std::vector<std::string> args;  // appended to redis-server's command line
  };
  // Running and answering PING, or nullptr (the reason on stderr) when no redis-server can run.
  static std::unique_ptr<RedisProcess> start(const Options& options);
  static std::unique_ptr<RedisProcess> start() { return start(Options{}); }
  ~RedisProcess();
  RedisProcess(const RedisProcess&) = delete;
  RedisProcess& operator=(const RedisProcess&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }  // -1 while it is down
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  void kill9();      // SIGKILL and reap; nothing to do when it is already down
  bool restart();    // start it again on the same port; true once it answers PING
  void terminate();  // SIGTERM without waiting (the destructor waits): to stop several at once

 private:
  RedisProcess(std::string dir, std::vector<std::string> args)
      : dir_(std::move(dir)), args_(std::move(args)) {}
  int spawn();           // 0, or the errno of a redis-server that cannot be run at all
  bool wait_until_up();  // false when it exited (port taken) or stayed silent for 10 s
  void forget();         // the child has been reaped

  std::string dir_;
  std::vector<std::string> args_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace demo
