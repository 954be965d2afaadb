// Internal access to a Client's core, for the stats and Prometheus code in lib/.
#pragma once

#include "client_core.hpp"
#include "rcache/client.hpp"

namespace rcache::detail {

struct ClientAccess {
  static ClientCore& core(const Client& c) noexcept { return *c.core_; }
};

}  // namespace rcache::detail
