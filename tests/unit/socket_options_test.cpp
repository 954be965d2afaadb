// Keepalive options land on the socket with the configured values.
#include "transport/socket_options.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

int get_int(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  EXPECT_EQ(getsockopt(fd, level, name, &v, &len), 0);
  return v;
}

TEST(Keepalive, IdleIntervalAndCountAreSetOnTheSocket) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  auto r =
      rcache::detail::set_keepalive(fd, std::chrono::seconds(300), std::chrono::seconds(60), 3);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), 300);
  EXPECT_EQ(get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), 60);
  EXPECT_EQ(get_int(fd, IPPROTO_TCP, TCP_KEEPCNT), 3);
  close(fd);
}

TEST(Keepalive, ZeroIdleTurnsItOff) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_TRUE(
      rcache::detail::set_keepalive(fd, std::chrono::seconds(10), std::chrono::seconds(5), 2).ok());
  ASSERT_TRUE(
      rcache::detail::set_keepalive(fd, std::chrono::seconds(0), std::chrono::seconds(0), 0).ok());
  EXPECT_EQ(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
  close(fd);
}

TEST(Keepalive, BadDescriptorIsAnErrorNotACrash) {
  auto r = rcache::detail::set_keepalive(-1, std::chrono::seconds(10), std::chrono::seconds(5), 2);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("SO_KEEPALIVE"), std::string::npos);
}

}  // namespace
