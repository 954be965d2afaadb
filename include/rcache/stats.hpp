// rcache — statistics snapshot (Client::stats()) and the declaration of every counter.
//
// Counters are totals since the client was created; latency percentiles cover a rolling window
// (the last 60 s), from log-linear buckets accurate to about 3 %.
//
// Thread safety: a plain value type.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "rcache/export.hpp"
#include "rcache/resilience.hpp"

// Every event counter of rcache, declared once. Each entry generates a field of Stats, a JSON key
// of Stats::to_json() (inside the group object when the group is not empty), a sample of a
// Prometheus family (with the label, when not empty) and the internal counter that records it.
// Entries of one JSON group, and of one Prometheus family, are adjacent.
//   X(field, json group, json key, Prometheus family, "label=value" or "", help)
#define RCACHE_COUNTERS(X)                                                                         \
  X(retries, "", "retries", "rcache_retries_total", "", "Retries made.")                           \
  X(retry_budget_exhausted, "", "retry_budget_exhausted", "rcache_retry_budget_exhausted_total",   \
    "", "Retries refused by the retry budget.")                                                    \
  X(rejected_bulkhead, "rejected", "bulkhead", "rcache_rejected_total", "reason=bulkhead",         \
    "Calls refused without touching Redis.")                                                       \
  X(rejected_circuit_open, "rejected", "circuit_open", "rcache_rejected_total",                    \
    "reason=circuit_open", "Calls refused without touching Redis.")                                \
  X(rejected_disabled, "rejected", "disabled", "rcache_rejected_total", "reason=disabled",         \
    "Calls refused without touching Redis.")                                                       \
  X(fallback_served, "", "fallback_served", "rcache_fallback_served_total", "",                    \
    "Calls answered in-process (local mode) while Redis was unavailable.")                         \
  X(compressed_bytes_in, "compression", "bytes_in", "rcache_compressed_bytes_total",               \
    "direction=in",                                                                                \
    "Bytes through the value envelope's compressor: in = original size of values stored "          \
    "compressed, out = their stored size.")                                                        \
  X(compressed_bytes_out, "compression", "bytes_out", "rcache_compressed_bytes_total",             \
    "direction=out",                                                                               \
    "Bytes through the value envelope's compressor: in = original size of values stored "          \
    "compressed, out = their stored size.")                                                        \
  X(loader_calls, "get_or_load", "loader_calls", "rcache_loader_calls_total", "",                  \
    "get_or_load loader invocations.")                                                             \
  X(loader_errors, "get_or_load", "loader_errors", "rcache_loader_errors_total", "",               \
    "get_or_load loader invocations that returned an error or threw.")                             \
  X(singleflight_shared, "get_or_load", "singleflight_shared", "rcache_singleflight_shared_total", \
    "", "get_or_load callers served by another caller's load.")                                    \
  X(bypassed, "get_or_load", "bypassed", "rcache_bypassed_total", "",                              \
    "get_or_load results returned straight from the loader because Redis was unavailable.")        \
  X(early_refreshes, "get_or_load", "early_refreshes", "rcache_early_refresh_total", "",           \
    "Early (XFetch) refreshes of hot keys.")                                                       \
  X(stale_served, "get_or_load", "stale_served", "rcache_stale_served_total", "",                  \
    "Stale copies served because the loader failed.")                                              \
  X(outage_loads_refused, "get_or_load", "outage_loads_refused",                                   \
    "rcache_outage_loads_refused_total", "",                                                       \
    "get_or_load loads refused by the outage cap (outage_loads_per_second) while Redis was "       \
    "unavailable.")                                                                                \
  X(negative_reads, "get_or_load", "negative_reads", "rcache_negative_cache_reads_total", "",      \
    "Reads by get/mget/get_renew that found a get_or_load \"not found\" entry: answered as a "     \
    "miss.")

namespace rcache {

// Prometheus latency bucket upper bounds in seconds (+Inf implied): 50 us .. 1 s.
inline constexpr std::array<double, 14> kLatencyBounds = {50e-6,  100e-6, 250e-6, 500e-6, 1e-3,
                                                          2.5e-3, 5e-3,   10e-3,  25e-3,  50e-3,
                                                          100e-3, 250e-3, 500e-3, 1.0};
// Bucket upper bounds in seconds for get_or_load's loader (the slow API): 1 ms .. 10 s.
inline constexpr std::array<double, 13> kLoaderBounds = {
    1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0, 2.5, 5.0, 10.0};

struct OpStats {
  std::string op;  // "get", "set", ... ("get_or_load": its cache hits and misses)
  std::uint64_t calls = 0;
  std::uint64_t retries = 0;  // retries made for calls of this op
  std::uint64_t errors = 0;
  std::uint64_t hits = 0, misses = 0, ok = 0;                         // results other than errors
  std::vector<std::pair<std::string, std::uint64_t>> errors_by_kind;  // Errc name -> count
  // Cumulative counts per kLatencyBounds bucket, the last one +Inf; and the sum in seconds.
  // Calls refused without touching Redis (errors disabled, circuit_open, rejected) are counted
  // in calls and errors but not here.
  std::vector<std::uint64_t> latency_buckets;
  double latency_sum_seconds = 0;
};

struct LatencySummary {
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, p999_ms = 0, avg_ms = 0;
  std::uint64_t samples = 0;  // calls in the window
  int window_seconds = 60;
};

struct BreakerTransition {
  BreakerState from = BreakerState::closed;
  BreakerState to = BreakerState::closed;
  std::uint64_t count = 0;
};

struct RCACHE_API Stats {
  // User-visible hits and misses: get() and get_or_load()'s read (not its internal traffic).
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  double hit_rate = 0;  // hits / (hits + misses), 0 when none
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  std::vector<OpStats> ops;  // every op, in a fixed order, those without calls included
  std::vector<std::pair<std::string, std::uint64_t>> errors_by_kind;  // Errc name -> count
  LatencySummary latency;
#define RCACHE_STATS_FIELD(field, group, key, family, label, help) std::uint64_t field = 0;
  RCACHE_COUNTERS(RCACHE_STATS_FIELD)
#undef RCACHE_STATS_FIELD
  BreakerState breaker = BreakerState::closed;
  std::uint64_t breaker_transitions = 0;
  std::vector<BreakerTransition> transitions;  // only pairs that happened
  std::size_t connections_ready = 0, connections_connecting = 0, connections_down = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t tls_handshakes = 0, tls_resumed = 0;          // see PoolStatus
  std::uint64_t master_switches = 0, discovery_failures = 0;  // see PoolStatus
  // Redis Cluster (Config::cluster_nodes; `enabled` false and all empty otherwise).
  struct ClusterStats {
    bool enabled = false;
    std::uint64_t moved = 0, ask = 0;  // redirections followed
    std::uint64_t refreshes = 0;       // slot-map reads started
    std::uint64_t map_changes = 0;     // maps installed (the first included) and MOVED patches
    struct Node {
      std::string address;  // "host:port"
      std::string role;     // "master" or "replica"
      BreakerState breaker = BreakerState::closed;
      std::size_t ready = 0;  // ready connections
    };
    std::vector<Node> nodes;  // the map's masters (and replicas that reads may go to)
  };
  ClusterStats cluster;
  // The near cache (Config::near_cache_bytes > 0; `enabled` false and all 0 otherwise).
  struct NearCacheStats {
    bool enabled = false;
    bool coherent = false;  // tracking is on: fresh copies may be served
    std::uint64_t hits = 0, misses = 0;
    std::uint64_t stale_served = 0;   // copies served past their freshness while Redis was away
    std::uint64_t fills = 0;          // values stored after a read from Redis
    std::uint64_t fills_refused = 0;  // reads overtaken by an invalidation or an own write
    std::uint64_t invalidations = 0, evictions = 0;
    std::uint64_t flushes_lost = 0;      // tracking lost: every entry stale
    std::uint64_t flushes_flushall = 0;  // FLUSHALL / FLUSHDB: every entry dropped
    std::uint64_t bytes = 0, entries = 0;
    // Keys with a read, load or outage write in flight (their guards); back to 0 when idle.
    std::uint64_t pending_keys = 0;
  } near_cache;
  double compression_ratio = 0;  // compressed_bytes_out / compressed_bytes_in; 0 when none
  // get_or_load results by where the value came from: "cache", "near_cache", "near_cache_stale",
  // "negative_cache", "loader", "refreshed", "stale", "bypassed", "error" (all, in that order).
  std::vector<std::pair<std::string, std::uint64_t>> get_or_load_sources;
  // Time spent in get_or_load loaders: cumulative counts per kLoaderBounds bucket (last +Inf),
  // and the sum in seconds.
  std::vector<std::uint64_t> loader_buckets;
  double loader_seconds = 0;
  // Calls are being served by Redis: a connection is ready, the breaker lets calls through
  // (closed, half-open or switched off) and the client is not disabled (Prometheus: rcache_up).
  bool up = false;
  // The `client` label of every Prometheus series of this client: Config::client_name ("rcache"
  // when empty), with a suffix ("api_2") while another live client holds that name. Fixed for the
  // client's life.
  std::string client;

  // The shape of the services' /cache/stats, extended (keys in this order; docs/METRICS.md):
  // {"hits":60,"misses":40,"hit_rate":0.6,"total_requests":205,"errors":5,"avg_latency_ms":0.1,
  //  "latency_ms":{"p50":..,"p90":..,"p99":..,"p999":..,"samples":..,"window_seconds":60},
  //  "ops":{"get":{"calls":100,"errors":0,"retries":0},...every op},
  //  "errors_by_kind":{"circuit_open":5},
  //  "retries":0,"retry_budget_exhausted":0,"fallback_served":0,
  //  "rejected":{"bulkhead":0,"circuit_open":5,"disabled":0},
  //  "compression":{"bytes_in":..,"bytes_out":..,"ratio":..},
  //  "get_or_load":{"loader_calls":..,"loader_errors":..,"singleflight_shared":..,"bypassed":..,
  //                 "early_refreshes":..,"stale_served":..,"outage_loads_refused":..,
  //                 "negative_reads":..},
  //  "get_or_load_sources":{"cache":..,"near_cache":..,...,"error":..},
  //  "loader":{"calls":..,"seconds":..},
  //  "circuit_breaker":{"state":"closed","transitions":2},
  //  "connections":{"ready":4,"connecting":0,"down":0,"reconnects":0,"tls_handshakes":0,
  //  "tls_resumed":0,"master_switches":0,"discovery_failures":0},"up":true}
  // and, with the near cache, "near_cache":{"coherent":true,"hits":..,"misses":..,
  //  "stale_served":..,"fills":..,"fills_refused":..,"invalidations":..,"evictions":..,
  //  "flushes":{"tracking_lost":..,"flushall":..},"bytes":..,"entries":..,"pending_keys":..}
  //  before "up".
  // Numbers are written with '.' whatever the C locale.
  std::string to_json() const;
};

}  // namespace rcache
