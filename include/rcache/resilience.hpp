// rcache — resilience policies: retry with backoff and a retry budget, and the circuit breaker.
//
// Plain aggregates with defaults; Config holds one of each and validates them in create().
// Thread safety: plain value types.
#pragma once

#include <chrono>
#include <string_view>

#include "rcache/export.hpp"

namespace rcache {

enum class Jitter {
  none,          // exactly base * multiplier^(n-1), capped
  full,          // uniform in [0, that]                       (default; AWS "full jitter")
  equal,         // half of it plus uniform in [0, half]
  decorrelated,  // uniform in [base, 3 * previous delay], capped (AWS "decorrelated jitter")
};

struct RetryPolicy {
  // Attempts in all, the first included; 1 disables retries. 1..10.
  int max_attempts = 3;
  // Delay before the first retry (before jitter), > 0.
  std::chrono::milliseconds base{10};
  // Growth per retry, >= 1.
  double multiplier = 2.0;
  // Largest delay, >= base.
  std::chrono::milliseconds cap{200};
  Jitter jitter = Jitter::full;
  // Retry budget, a token bucket as in gRPC's retry throttling: starts full at budget_tokens,
  // each retry spends one, each success earns budget_per_success (up to the maximum); no retry is
  // made while the bucket holds half of the maximum or less. Zero tokens disables the budget.
  double budget_tokens = 10.0;
  double budget_per_success = 0.1;
  // Retry commands that are not idempotent (INCRBY, or marked so) even when they may have
  // reached the server. Off: such a command is retried only if it was never sent.
  bool retry_non_idempotent = false;
};

// What the client does when Redis cannot be reached.
enum class DegradedMode {
  // Client::create succeeds without Redis; calls fail at once with Errc::disabled until a
  // background probe (Config::probe_min..probe_max backoff) reaches Redis, then it serves. Once
  // Redis has been reached, later outages are handled by the breaker (Errc::circuit_open).
  disabled,
  // As `disabled`, with the near cache on (Config::near_cache_bytes, or local_max_bytes when
  // that is 0), and get/set/del that cannot reach Redis (disabled, circuit open, connection
  // error, timeout, rejected) answered from it: a read gets the near-cache copy within
  // max_stale (or this client's own outage write), else a miss; a set or del is applied to the
  // copy (a read of it says Read::Source::local; the set itself returns true, the del the
  // number of copies it removed: stats().fallback_served counts them). Such a copy is served
  // only to calls that cannot use Redis, and goes when Redis answers a read of its key, when
  // the key is invalidated, when coherence returns, or when the outage ends (the pool has a
  // connection again, or the breaker closes), so no value written during an outage is read
  // back once Redis answers again; such writes are not replayed to Redis. A set is not kept
  // (its error is returned) when the key was invalidated while it ran, when the outage ended
  // while it ran, or when the value exceeds a shard's share (a 16th of the near cache's size,
  // key and ~128 B included). NX/XX are decided against the copy, a copy past its TTL counting
  // as absent.
  local,
  // Client::create fails with Errc::connection when no connection can be made within
  // connect_timeout.
  fail_fast,
};

RCACHE_API std::string_view to_string(DegradedMode m) noexcept;

enum class BreakerState {
  closed,       // calls flow; failures are counted
  half_open,    // a few probe calls are let through to test the server
  open,         // calls fail with circuit_open without touching a socket
  forced_open,  // an operator holds it open
  disabled,     // an operator turned the breaker off: every call flows, nothing is counted
};

RCACHE_API std::string_view to_string(BreakerState s) noexcept;

struct BreakerPolicy {
  // false: no breaker at all (every call goes to the transport).
  bool enabled = true;
  // Trip after this many consecutive failures, >= 1.
  int consecutive_failures = 5;
  // ...or when at least min_calls of the last `window` calls were seen and this fraction failed.
  double failure_rate = 0.5;  // (0, 1]
  int window = 100;           // 1..100000
  int min_calls = 20;         // 1..window
  // How long it stays open: open_base after the first trip, doubling on each re-trip from
  // half-open, at most open_max (the trip count resets when it closes). Both > 0,
  // open_base <= open_max. A connection that completes its handshake while it is open lets the
  // probes through at once. Defaults: a first trip is short (a blip should cost well under a
  // second of refusals, and a fixed 5 s kept the cache away 2-3 s after Redis was back); an outage
  // that lasts is probed at 0.5, 1, 2, 4 ... s, at most every 30 s (Envoy's outlier detection
  // grows its ejection time the same way).
  std::chrono::milliseconds open_base{500};
  std::chrono::milliseconds open_max{30000};
  // Probe calls admitted in half-open: all must succeed to close; any failure reopens. >= 1.
  int half_open_probes = 3;
  // A call slower than this counts as a failure even if it succeeded; zero: off.
  std::chrono::milliseconds slow_call{0};
};

}  // namespace rcache
