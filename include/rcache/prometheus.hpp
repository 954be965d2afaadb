// rcache — Prometheus exposition (prometheus-cpp).
//
// Recording never touches prometheus-cpp: the client counts with lock-free atomics and this
// collectable turns the counts into metric families when scraped.
//
//   auto collectable = rcache::make_collectable(client);     // keep it alive while registered
//   exposer.RegisterCollectable(collectable);                // your prometheus::Exposer
// or let rcache run its own exposer:
//   auto exposer = rcache::start_exposer(client, "127.0.0.1:9464");   // Result<...>
//
// Metrics: rcache_requests_total{op,result}, rcache_hits_total, rcache_misses_total,
// rcache_request_duration_seconds{op} (50 us .. 1 s), rcache_errors_total{op,reason},
// rcache_retries_total, rcache_retry_budget_exhausted_total, rcache_circuit_state (0 closed,
// 1 half-open, 2 open), rcache_circuit_transitions_total{from,to}, rcache_rejected_total{reason},
// rcache_connections{state}, rcache_reconnects_total, rcache_up, rcache_build_info{version},
// and one family per declared counter (RCACHE_COUNTERS in rcache/stats.hpp):
// rcache_fallback_served_total, rcache_compressed_bytes_total{direction},
// rcache_loader_calls_total, rcache_singleflight_shared_total, rcache_bypassed_total,
// rcache_early_refresh_total, rcache_stale_served_total. No cache key ever appears in a label.
//
// Thread safety: Collect() may run concurrently with client calls. The Client must outlive
// the collectable's registration and the exposer.
#pragma once

#include <memory>
#include <string>

#include "rcache/client.hpp"
#include "rcache/error.hpp"

namespace prometheus {
class Collectable;
class Exposer;
}  // namespace prometheus

namespace rcache {

RCACHE_API std::shared_ptr<prometheus::Collectable> make_collectable(Client& client);

// The Prometheus text exposition format (version 0.0.4) of the client's metrics.
RCACHE_API std::string metrics_text(Client& client);

// An HTTP endpoint serving /metrics for one client. Binding failures are an Error, never an
// exception.
class RCACHE_API MetricsExposer {
 public:
  ~MetricsExposer();
  MetricsExposer(const MetricsExposer&) = delete;
  MetricsExposer& operator=(const MetricsExposer&) = delete;
  int port() const noexcept { return port_; }  // the bound port (useful with port 0)

 private:
  friend Result<std::unique_ptr<MetricsExposer>> start_exposer(Client&, const std::string&);
  MetricsExposer() = default;
  std::shared_ptr<prometheus::Collectable> collectable_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

// bind_address: "127.0.0.1:9464" (port 0 picks a free one).
RCACHE_API Result<std::unique_ptr<MetricsExposer>> start_exposer(Client& client,
                                                                 const std::string& bind_address);

}  // namespace rcache
