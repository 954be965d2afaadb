// rcache — connection pool status and health snapshots (Client::pool_status(), Client::health()).
//
// Thread safety: plain value types.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rcache/export.hpp"
#include "rcache/resilience.hpp"

namespace rcache {

// Connection counts, for health checks.
struct PoolStatus {
  std::size_t ready = 0;       // connected and handshaken
  std::size_t connecting = 0;  // connecting or handshaking
  std::size_t down = 0;        // waiting to reconnect
  std::uint64_t reconnects = 0;
  // TLS handshakes completed (0 without TLS), and how many resumed an earlier session.
  std::uint64_t tls_handshakes = 0;
  std::uint64_t tls_resumed = 0;
  std::string last_error;  // most recent connection error, "" if none
  // The server the pool dials ("host:port"), and how it was found ("" for a fixed address,
  // "sentinel 10.0.0.7:26379" for a master found through Sentinel).
  std::string endpoint;
  std::string via;
  // Why the master could not be looked up lately ("" when fine): with Sentinel, every sentinel
  // unreachable; the pool keeps the master it knows.
  std::string discovery_error;
  // With Sentinel: how often the master moved (a failover followed), and how many lookups of it
  // failed on every sentinel. 0 for a fixed address.
  std::uint64_t master_switches = 0;
  std::uint64_t discovery_failures = 0;
};

// One node of a cluster, as health() sees it.
struct NodeHealth {
  std::string address;    // "host:port"
  std::string role;       // "master" or "replica"
  std::size_t slots = 0;  // slots it serves (a master)
  BreakerState breaker = BreakerState::closed;
  std::size_t ready = 0;   // ready connections
  std::string last_error;  // its pool's most recent connection error, "" if none
};

// A health snapshot; see Client::health().
struct RCACHE_API Health {
  enum class Status { ok, degraded, disabled };
  Status status = Status::ok;
  std::string reason;  // why not ok ("" when ok); never contains a password
  std::optional<std::chrono::microseconds> ping;  // live PING round trip, when one succeeded
  BreakerState breaker = BreakerState::closed;
  DegradedMode mode = DegradedMode::disabled;
  PoolStatus pool;
  // With a cluster: every master of the slot map, and the replicas when reads may go to them
  // (Config::read_from); the client's status is degraded while a master has no ready connection
  // or an open breaker. Empty for a single Redis.
  std::vector<NodeHealth> nodes;

  // {"status":"ok","reason":"","ping_ms":0.21,"circuit_breaker":{"state":"closed"},
  //  "mode":"disabled","connections":{"ready":4,"connecting":0,"down":0,"reconnects":0,
  //  "tls_handshakes":0,"tls_resumed":0,"last_error":"","endpoint":"127.0.0.1:6379","via":"",
  //  "discovery_error":"","master_switches":0,"discovery_failures":0}}
  // and, with a cluster, "nodes":[{"address":"127.0.0.1:7000","role":"master","slots":5461,
  // "circuit_breaker":"closed","ready":4,"last_error":""},...] before the final brace.
  std::string to_json() const;
};

RCACHE_API std::string_view to_string(Health::Status s) noexcept;

}  // namespace rcache
