// rcache CLI: a plain HTTP/1.0 GET over a socket for `stats --metrics`, bounded in time and size.
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "metrics.hpp"

namespace rcache::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Closes the socket it holds.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Waits for `events` on fd until the deadline: true when ready.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n > 0) return true;
    if (n == 0 || errno != EINTR) return false;
  }
}

Result<int> connect_to(const HttpTarget& t, Clock::time_point deadline, Fd& sock) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (const int rc = ::getaddrinfo(t.host.c_str(), t.port.c_str(), &hints, &list); rc != 0) {
    return Error{Errc::connection, "cannot resolve " + t.host + ": " + ::gai_strerror(rc)};
  }
  std::string last = "no address";
  for (addrinfo* a = list; a != nullptr; a = a->ai_next) {
    Fd s{::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol)};
    if (s.fd < 0) continue;
    if (::connect(s.fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last = std::strerror(errno);
      continue;
    }
    if (!wait_for(s.fd, POLLOUT, deadline)) {
      last = "connect timed out";
      continue;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      last = std::strerror(err);
      continue;
    }
    std::swap(sock.fd, s.fd);
    ::freeaddrinfo(list);
    return sock.fd;
  }
  ::freeaddrinfo(list);
  return Error{Errc::connection, "cannot connect to " + t.host + ":" + t.port + ": " + last};
}

}  // namespace

Result<HttpTarget> parse_http_url(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return Error{Errc::invalid_argument,
                 "'" + std::string(url) + "' is not an http:// URL (only plain http is supported)"};
  }
  std::string_view rest = url.substr(kScheme.size());
  HttpTarget t;
  const auto slash = rest.find('/');
  if (slash != std::string_view::npos) {
    t.path = std::string(rest.substr(slash));
    rest = rest.substr(0, slash);
  }
  std::optional<std::string_view> port;   // set when a ':' names one
  if (!rest.empty() && rest[0] == '[') {  // [v6]:port
    const auto close = rest.find(']');
    if (close == std::string_view::npos) return Error{Errc::invalid_argument, "unclosed '['"};
    t.host = std::string(rest.substr(1, close - 1));
    if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
  } else {
    const auto colon = rest.rfind(':');
    t.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
  }
  if (t.host.empty()) return Error{Errc::invalid_argument, "no host in '" + std::string(url) + "'"};
  if (port) {
    const bool digits = port->find_first_not_of("0123456789") == std::string_view::npos;
    if (port->empty() || !digits || port->size() > 5 || std::stoi(std::string(*port)) > 65535 ||
        std::stoi(std::string(*port)) == 0) {
      return Error{Errc::invalid_argument,
                   "bad port '" + std::string(*port) + "' in '" + std::string(url) + "'"};
    }
    t.port = std::string(*port);
  }
  return t;
}

Result<std::string> http_get(const HttpTarget& t, std::chrono::milliseconds timeout,
                             std::size_t max_bytes) {
  const auto deadline = Clock::now() + timeout;
  Fd sock;
  if (auto c = connect_to(t, deadline, sock); !c) return std::move(c).error();
  const std::string host = t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host;
  const std::string request = "GET " + t.path + " HTTP/1.0\r\nHost: " + host + ":" + t.port +
                              "\r\nAccept: text/plain\r\nUser-Agent: rcache-cli\r\n\r\n";
  for (std::size_t sent = 0; sent < request.size();) {
    if (!wait_for(sock.fd, POLLOUT, deadline)) return Error{Errc::timeout, "sending timed out"};
    const ssize_t n = ::send(sock.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return Error{Errc::connection, std::string("send: ") + std::strerror(errno)};
    }
    if (n > 0) sent += static_cast<std::size_t>(n);
  }
  std::string response;
  char buf[16384];
  for (;;) {
    if (!wait_for(sock.fd, POLLIN, deadline)) {
      return Error{Errc::timeout,
                   "no complete response within " + std::to_string(timeout.count()) + " ms"};
    }
    const ssize_t n = ::recv(sock.fd, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return Error{Errc::connection, std::string("recv: ") + std::strerror(errno)};
    }
    response.append(buf, static_cast<std::size_t>(n));
    if (response.size() > max_bytes + 65536) {
      return Error{Errc::too_large, "response over " + std::to_string(max_bytes) + " bytes"};
    }
  }
  const auto head_end = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos) {
    return Error{Errc::protocol, "not an HTTP response"};
  }
  const auto sp = response.find(' ');
  const std::string status = response.substr(sp + 1, 3);
  if (status != "200") {
    const auto eol = response.find("\r\n");
    return Error{Errc::server, "HTTP status: " + response.substr(sp + 1, eol - sp - 1)};
  }
  std::string head = response.substr(0, head_end);
  for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (head.find("transfer-encoding: chunked") != std::string::npos) {
    return Error{Errc::protocol, "chunked responses are not supported"};
  }
  return response.substr(head_end + 4);
}

}  // namespace rcache::cli
