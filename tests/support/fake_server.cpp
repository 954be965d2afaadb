#include "fake_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "redis_server.hpp"

namespace rcache::test {

FakeServer::FakeServer(Script script) : script_(std::move(script)) {
  listen_fd_ = listen_loopback(port_);
  thread_ = std::thread([this] { run(); });
}

FakeServer::~FakeServer() {
  stop_ = true;
  thread_.join();
  for (auto& t : conns_) t.join();
  ::close(listen_fd_);
}

void FakeServer::run() {
  while (!stop_ && conns_.size() < 64) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 20) != 1) continue;
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    conns_.emplace_back([this, fd] { serve(fd); });
  }
}

void FakeServer::serve(int fd) {
  bool greeted = false;
  char buf[4096];
  while (!stop_) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) != 1) continue;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    if (!greeted) {
      greeted = true;
      if (script_.close_after_greeting) break;
      ::send(fd, script_.greeting.data(), script_.greeting.size(), MSG_NOSIGNAL);
      if (script_.endless && script_.unprompted) {
        stream(fd);
        break;
      }
      continue;
    }
    if (script_.endless) {
      stream(fd);
      break;
    }
    ::send(fd, script_.payload.data(), script_.payload.size(), MSG_NOSIGNAL);
  }
  ::close(fd);
}

void FakeServer::stream(int fd) {
  if (script_.payload.empty()) return;
  const std::string& prefix = script_.stream_prefix;
  if (!prefix.empty() && ::send(fd, prefix.data(), prefix.size(), MSG_NOSIGNAL) !=
                             static_cast<ssize_t>(prefix.size())) {
    return;
  }
  constexpr std::size_t kMaxBytes = std::size_t{1} << 30;
  std::size_t sent = 0;
  std::size_t off = 0;
  while (!stop_ && sent < kMaxBytes) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 20) != 1) continue;
    if ((p.revents & (POLLERR | POLLHUP)) != 0) return;
    const std::string& out = script_.payload;
    const ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      return;  // the client closed the connection
    }
    sent += static_cast<std::size_t>(n);
    off = (off + static_cast<std::size_t>(n)) % out.size();
  }
}

}  // namespace rcache::test
