// TCP keepalive with idle, interval and count on a connected socket.
#include "transport/socket_options.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace rcache::detail {
namespace {
Result<void> set_int(int fd, int level, int name, int value, const char* what) {
  if (setsockopt(fd, level, name, &value, sizeof value) != 0) {
    return Error{Errc::connection,
                 std::string("setsockopt(") + what + "): " + std::strerror(errno)};
  }
  return {};
}
}  // namespace

Result<void> set_keepalive(int fd, std::chrono::seconds idle, std::chrono::seconds interval,
                           int count) {
  if (idle.count() <= 0) return set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 0, "SO_KEEPALIVE");
  if (auto r = set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE"); !r) return r;
  if (auto r =
          set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, static_cast<int>(idle.count()), "TCP_KEEPIDLE");
      !r) {
    return r;
  }
  if (auto r = set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, static_cast<int>(interval.count()),
                       "TCP_KEEPINTVL");
      !r) {
    return r;
  }
  return set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, count, "TCP_KEEPCNT");
}

}  // namespace rcache::detail
