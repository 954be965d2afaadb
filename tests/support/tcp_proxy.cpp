#include "tcp_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "redis_server.hpp"

namespace rcache::test {
namespace {

void send_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

}  // namespace

TcpProxy::TcpProxy(int target_port) : target_port_(target_port) {
  listen_fd_ = listen_loopback(port_);
  thread_ = std::thread([this] { run(); });
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

void TcpProxy::close_pair(Pair& p, bool rst) {
  if (rst) {
    linger l{1, 0};  // close with RST
    ::setsockopt(p.client, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  if (p.client >= 0) ::close(p.client);
  if (p.server >= 0) ::close(p.server);
  p.client = p.server = -1;
}

void TcpProxy::run() {
  std::vector<Pair> pairs;
  char buf[64 * 1024];
  static const char kGarbage[] = "#garbage\x01\x02 not RESP at all\r\n";
  while (!stop_) {
    if (reset_requested_.exchange(false)) {
      for (auto& p : pairs) close_pair(p, true);
      pairs.clear();
    }
    std::vector<pollfd> fds;
    fds.push_back({listen_fd_, POLLIN, 0});
    for (auto& p : pairs) {
      fds.push_back({p.client, POLLIN, 0});
      fds.push_back({p.server, POLLIN, 0});
    }
    ::poll(fds.data(), fds.size(), 5);
    const std::size_t polled = pairs.size();  // a pair accepted below has no pollfd this round
    if (fds[0].revents & POLLIN) {
      const int c = ::accept(listen_fd_, nullptr, nullptr);
      if (c >= 0 && pairs.size() < 256) {
        const int s = connect_loopback(target_port_);
        if (s < 0) {
          ::close(c);
        } else {
          pairs.push_back(Pair{c, s, {}});
          accepted_.fetch_add(1);
        }
      } else if (c >= 0) {
        ::close(c);
      }
    }
    const auto now = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < polled; ++i) {
      Pair& p = pairs[i];
      const short cev = fds[1 + 2 * i].revents;
      const short sev = fds[2 + 2 * i].revents;
      bool dead = false;
      if (cev & (POLLIN | POLLHUP | POLLERR)) {  // client -> server: always forwarded
        const ssize_t n = ::recv(p.client, buf, sizeof buf, 0);
        if (n <= 0) {
          dead = true;
        } else {
          send_all(p.server, buf, static_cast<std::size_t>(n));
          if (mode_ == Mode::garbage) send_all(p.client, kGarbage, sizeof kGarbage - 1);
        }
      }
      if (!dead && (sev & (POLLIN | POLLHUP | POLLERR))) {  // server -> client: per mode
        const ssize_t n = ::recv(p.server, buf, sizeof buf, 0);
        if (n <= 0) {
          dead = true;
        } else {
          switch (mode_.load()) {
            case Mode::pass:
              send_all(p.client, buf, static_cast<std::size_t>(n));
              break;
            case Mode::delay:
              p.held.emplace_back(now + std::chrono::milliseconds(delay_ms_.load()),
                                  std::vector<char>(buf, buf + n));
              break;
            case Mode::blackhole:
            case Mode::garbage:
              break;
          }
        }
      }
      while (!dead && !p.held.empty() && p.held.front().first <= now) {
        send_all(p.client, p.held.front().second.data(), p.held.front().second.size());
        p.held.erase(p.held.begin());
      }
      if (dead) close_pair(p, false);
    }
    std::erase_if(pairs, [](const Pair& p) { return p.client < 0; });
  }
  for (auto& p : pairs) close_pair(p, false);
}

}  // namespace rcache::test
