// Client::health(): the availability owner's view, the breaker, the pool and a live PING.
#include "client/core.hpp"
#include "rcache/client.hpp"

namespace rcache {

std::string_view to_string(Health::Status st) noexcept {
  switch (st) {
    case Health::Status::ok:
      return "ok";
    case Health::Status::degraded:
      return "degraded";
    case Health::Status::disabled:
      return "disabled";
  }
  return "unknown";
}

namespace {
std::size_t masters_of(const detail::ClientCore& core) {
  const auto* router = core.cluster();
  if (router == nullptr) return 1;
  auto v = router->topology().view();
  return v == nullptr ? 1 : v->map.masters().size();
}
}  // namespace

Health Client::health() {
  auto expected_connections = [this] { return core_->config().pool_size * masters_of(*core_); };
  Health h;
  h.mode = core_->config().degraded_mode;
  h.breaker = breaker_state();
  h.pool = pool_status();
  std::string where = core_->transport().endpoint();
  if (const auto* router = core_->cluster()) {
    where = router->topology().where();
    h.nodes = router->node_health();
    for (const auto& n : h.nodes) {  // name the master whose breaker is the one shown
      if (n.role == "master" && n.breaker == h.breaker) {
        where = n.address;
        break;
      }
    }
  }
  if (core_->availability().disabled()) {
    h.status = Health::Status::disabled;
    h.reason = core_->availability().disabled_reason();
    return h;
  }
  if (h.breaker == BreakerState::open || h.breaker == BreakerState::forced_open) {
    h.status = Health::Status::degraded;
    h.reason = "circuit breaker " + std::string(rcache::to_string(h.breaker)) + " for " + where +
               (h.pool.last_error.empty() ? "" : " (last error: " + h.pool.last_error + ")");
    return h;
  }
  auto p = ping();
  h.pool = pool_status();
  if (p.ok()) {
    h.ping = *p;
  } else {
    h.status = Health::Status::degraded;
    h.reason = "PING failed: " + p.error().to_string();
    return h;
  }
  if (!h.pool.discovery_error.empty()) {
    h.status = Health::Status::degraded;
    h.reason = h.pool.discovery_error + "; serving from the last known master " + h.pool.endpoint;
  } else if (h.breaker == BreakerState::half_open) {
    h.status = Health::Status::degraded;
    h.reason = "circuit breaker half_open: probing " + where;
  } else if (h.pool.ready < expected_connections()) {
    h.status = Health::Status::degraded;
    h.reason = std::to_string(h.pool.ready) + " of " + std::to_string(expected_connections()) +
               " connections ready";
  }
  return h;
}

}  // namespace rcache
