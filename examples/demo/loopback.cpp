// Plain sockets on 127.0.0.1 for the demo: a free port, a connection, and a one-shot HTTP call.
#include "loopback.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>

namespace demo {
namespace {

sockaddr_in loopback_address(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  return addr;
}

// Whether a listener could bind 127.0.0.1:port now (with SO_REUSEADDR, as redis-server does, so
// connections in TIME_WAIT do not count).
bool can_bind(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  const sockaddr_in addr = loopback_address(port);
  const bool ok = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

int free_port_pair(int offset, const std::vector<int>& avoid) {
  int lo = 10000, hi = 65536 - offset;  // [lo, hi)
  int eph_lo = 0, eph_hi = 0;
  if (FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
    if (std::fscanf(f, "%d %d", &eph_lo, &eph_hi) == 2 && eph_lo - offset - lo >= 1000) {
      hi = std::min(hi, eph_lo - offset);
    }
    std::fclose(f);
  }
  if (hi <= lo) return 0;
  thread_local std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(::getpid()));
  std::uniform_int_distribution<int> pick(lo, hi - 1);
  for (int attempt = 0; attempt < 500; ++attempt) {
    const int p = pick(rng);
    bool clash = false;
    for (const int a : avoid) clash = clash || p == a || p == a + offset || p + offset == a;
    if (!clash && can_bind(p) && can_bind(p + offset)) return p;
  }
  return 0;
}

int free_port() {
  // Bind to port 0, ask the kernel which port it picked, and give it back.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr = loopback_address(0);
  socklen_t len = sizeof addr;
  auto* raw = reinterpret_cast<sockaddr*>(&addr);
  const bool picked = ::bind(fd, raw, sizeof addr) == 0 && ::getsockname(fd, raw, &len) == 0;
  ::close(fd);
  return picked ? ntohs(addr.sin_port) : 0;
}

int connect_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  const sockaddr_in addr = loopback_address(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return fd;
  ::close(fd);
  return -1;
}

HttpReply http_call(int port, const std::string& method, const std::string& path, int timeout_ms) {
  using Clock = std::chrono::steady_clock;
  HttpReply reply;
  const int fd = connect_loopback(port);
  if (fd < 0) return reply;

  // HTTP/1.0: the server closes the connection after its answer, which marks the end of it.
  const std::string request = method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  std::string answer;
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
      static_cast<ssize_t>(request.size())) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    char chunk[8192];
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      pollfd readable{fd, POLLIN, 0};
      if (left <= 0 || ::poll(&readable, 1, static_cast<int>(left)) != 1) break;
      const ssize_t got = ::recv(fd, chunk, sizeof chunk, 0);
      if (got <= 0) break;
      answer.append(chunk, static_cast<std::size_t>(got));
    }
  }
  ::close(fd);

  // "HTTP/1.1 200 OK\r\n<headers>\r\n\r\n<body>"
  const auto space = answer.find(' ');
  if (answer.rfind("HTTP/", 0) != 0 || space == std::string::npos) return reply;
  reply.status = std::atoi(answer.c_str() + space + 1);
  const auto line_end = answer.find("\r\n");
  const auto headers_end = answer.find("\r\n\r\n");
  if (headers_end != std::string::npos) {
    reply.headers = answer.substr(line_end + 2, headers_end + 2 - (line_end + 2));
    reply.body = answer.substr(headers_end + 4);
  }
  return reply;
}

std::string HttpReply::header(const std::string& name) const {
  std::size_t at = 0;
  while (at < headers.size()) {
    const auto end = headers.find("\r\n", at);
    const std::string line =
        headers.substr(at, end == std::string::npos ? std::string::npos : end - at);
    const auto colon = line.find(':');
    if (colon == name.size() && ::strncasecmp(line.c_str(), name.c_str(), name.size()) == 0) {
      const auto value = line.find_first_not_of(' ', colon + 1);
      return value == std::string::npos ? std::string() : line.substr(value);
    }
    if (end == std::string::npos) break;
    at = end + 2;
  }
  return {};
}

}  // namespace demo
