// A scripted TCP server on 127.0.0.1 for tests that need a misbehaving "Redis": it answers the
// first read on each connection with `greeting` and every later read with `payload` (or closes
// the connection when close_after_greeting is set; or streams the payload endlessly). Runs on its
// own thread; stops in the destructor. Bounded: at most 64 connections, each served until the
// server stops.
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
    std::string payload{};
    bool close_after_greeting = false;
    // `payload` is sent over and over, not once, until the client closes the connection, the
    // server stops or 1 GiB went out (an endless reply).
    bool endless = false;
    // The payload starts right after the greeting, with no request (a server streaming into an
    // idle connection).
    bool unprompted = false;
    // Sent once before an endless payload (e.g. "*16777216\r\n" before ":1\r\n" forever).
    std::string stream_prefix{};
  };
  explicit FakeServer(Script script);
  ~FakeServer();
  int port() const { return port_; }

 private:
  void run();
  void serve(int fd);
  void stream(int fd);
  Script script_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::thread> conns_;
};

}  // namespace rcache::test
