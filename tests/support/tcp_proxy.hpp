// A loopback TCP proxy for fault tests, in front of a real redis-server. One poll() thread
// forwards bytes both ways; the mode can change at any time:
//   pass       forward as is
//   delay      hold server->client bytes for `delay` before forwarding
//   blackhole  forward client->server, drop everything server->client (replies are lost)
//   garbage    answer the client with bytes that are not RESP instead of the server's reply
// reset_all() closes every proxied connection with an RST. Stops in its destructor.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

namespace rcache::test {

class TcpProxy {
 public:
  enum class Mode { pass, delay, blackhole, garbage };

  explicit TcpProxy(int target_port);
  ~TcpProxy();
  int port() const { return port_; }
  void set_mode(Mode m, std::chrono::milliseconds delay = {}) {
    delay_ms_ = static_cast<int>(delay.count());
    mode_ = m;
  }
  void reset_all() { reset_requested_ = true; }
  int accepted() const { return accepted_.load(); }

 private:
  struct Pair {
    int client = -1;
    int server = -1;
    std::vector<std::pair<std::chrono::steady_clock::time_point, std::vector<char>>> held;
  };
  void run();
  void close_pair(Pair& p, bool rst);

  int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<Mode> mode_{Mode::pass};
  std::atomic<int> delay_ms_{0};
  std::atomic<bool> reset_requested_{false};
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

}  // namespace rcache::test
