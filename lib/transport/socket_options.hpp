// Socket options rcache sets on its TCP connections.
//
// Thread safety: pure function over a file descriptor.
#pragma once

#include <chrono>

#include "rcache/error.hpp"

namespace rcache::detail {

// SO_KEEPALIVE on, then TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT (uv_tcp_keepalive() sets only
// the idle time). idle == 0 turns keepalive off.
Result<void> set_keepalive(int fd, std::chrono::seconds idle, std::chrono::seconds interval,
                           int count);

}  // namespace rcache::detail
