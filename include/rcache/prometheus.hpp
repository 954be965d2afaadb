// rcache — Prometheus exposition (prometheus-cpp).
//
// Recording never touches prometheus-cpp: the client counts with lock-free atomics and these
// collectables turn the counts into metric families when scraped.
//
// Every series carries client="<Config::client_name>", so several Clients share one registry and
// one exposer (give each its own client_name; a repeated name gets a suffix: "api_2").
//   exposer.RegisterCollectable(rcache::make_collectable());  // every Client in the process
//   exposer.RegisterCollectable(rcache::make_collectable(client));   // or just this one
// Register one of them per exposer: two collectables on one exposer repeat each family's HELP
// line, which Prometheus rejects. Or let rcache run the exposer: Config::metrics_address (clients
// naming the same address share it), or start_exposer(client, "127.0.0.1:9464").
//
// Metrics, their types, labels and meaning: docs/METRICS.md. No cache key ever appears in a label.
//
// Thread safety: Collect() may run concurrently with client calls. A Client must outlive a
// collectable made for it (make_collectable(client)) while that is registered; the all-clients
// collectable follows clients as they are created and destroyed.
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
// Every Client alive in the process, including those created after this call.
RCACHE_API std::shared_ptr<prometheus::Collectable> make_collectable();

// The Prometheus text exposition format (version 0.0.4) of one client's metrics, or of every
// live client's.
RCACHE_API std::string metrics_text(Client& client);
RCACHE_API std::string metrics_text();

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
