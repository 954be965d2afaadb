#include "fake_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

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
    const std::string& out = greeted ? script_.payload : script_.greeting;
    if (greeted || !script_.close_after_greeting) {
      ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    }
    if (!greeted && script_.close_after_greeting) break;
    greeted = true;
  }
  ::close(fd);
}

}  // namespace rcache::test
