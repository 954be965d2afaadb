// rcache — statistics snapshot (Client::stats()).
//
// Counters are totals since the client was created; latency percentiles cover a rolling window
// (the last 60 s), from log-linear buckets accurate to about 3 %.
//
// Thread safety: a plain value type.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "rcache/resilience.hpp"

namespace rcache {

struct PoolStatus;

struct OpStats {
  std::string op;  // "get", "set", ...
  std::uint64_t calls = 0;
  std::uint64_t errors = 0;
};

struct LatencySummary {
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, p999_ms = 0, avg_ms = 0;
  std::uint64_t samples = 0;  // calls in the window
  int window_seconds = 60;
};

struct Stats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  double hit_rate = 0;  // hits / (hits + misses), 0 when none
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  std::vector<OpStats> ops;                                       // ops with at least one call
  std::vector<std::pair<std::string, std::uint64_t>> errors_by_kind;  // Errc name -> count
  LatencySummary latency;
  std::uint64_t retries = 0;
  std::uint64_t retry_budget_exhausted = 0;
  std::uint64_t rejected_bulkhead = 0;
  std::uint64_t rejected_circuit_open = 0;
  std::uint64_t rejected_disabled = 0;
  std::uint64_t fallback_served = 0;  // local-mode answers
  BreakerState breaker = BreakerState::closed;
  std::uint64_t breaker_transitions = 0;
  std::size_t connections_ready = 0, connections_connecting = 0, connections_down = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t compressed_bytes_in = 0;   // original bytes of values stored compressed
  std::uint64_t compressed_bytes_out = 0;  // their stored (compressed) size
  double compression_ratio = 0;            // out / in; 0 when nothing was compressed
  std::uint64_t loader_calls = 0;          // get_or_load
  std::uint64_t singleflight_shared = 0;
  std::uint64_t bypassed = 0;
  std::uint64_t early_refreshes = 0;
  std::uint64_t stale_served = 0;

  // The shape of the services' /cache/stats, extended:
  // {"hits":60,"misses":40,"hit_rate":0.6,"total_requests":205,"errors":5,"avg_latency_ms":0.1,
  //  "latency_ms":{"p50":..,"p90":..,"p99":..,"p999":..,"samples":..,"window_seconds":60},
  //  "ops":{"get":{"calls":100,"errors":0},...},"errors_by_kind":{"circuit_open":5},
  //  "retries":0,"retry_budget_exhausted":0,
  //  "rejected":{"bulkhead":0,"circuit_open":5,"disabled":0},"fallback_served":0,
  //  "circuit_breaker":{"state":"closed","transitions":2},
  //  "connections":{"ready":4,"connecting":0,"down":0,"reconnects":0},
  //  "compression":{"bytes_in":..,"bytes_out":..,"ratio":..},
  //  "get_or_load":{"loader_calls":..,"singleflight_shared":..,"bypassed":..,
  //                 "early_refreshes":..,"stale_served":..}}
  std::string to_json() const;
};

}  // namespace rcache
