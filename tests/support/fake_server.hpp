// A scripted TCP server on 127.0.0.1 for tests that need a misbehaving "Redis": it answers the
// first read on each connection with `greeting` and every later read with `payload` (or closes
// the connection when close_after_greeting is set). Runs on its own thread; stops in the
// destructor. Bounded: at most 64 connections, each served until the server stops.
#pragma once

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace rcache::test {

class FakeServer {
 public:
  struct Script {
    std::string greeting = "+PONG\r\n";
    std::string payload;
    bool close_after_greeting = false;
  };
  explicit FakeServer(Script script);
  ~FakeServer();
  int port() const { return port_; }

 private:
  void run();
  void serve(int fd);
  Script script_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::thread> conns_;
};

}  // namespace rcache::test
