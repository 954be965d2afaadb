// The one exponential backoff of rcache, used by retries, reconnects and probes, the breaker's open
// period and lock acquisition; and the retry budget. Pure logic: no sleeping, no clock.
//
// Thread safety: a Backoff belongs to one user (a call, a connection); RetryBudget is shared and
// every member may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>

#include "rcache/resilience.hpp"

namespace rcache::detail {

// The shape of an exponential backoff: base * multiplier^(n-1), at most cap, then jittered.
struct BackoffShape {
  std::chrono::microseconds base{10000};
  double multiplier = 2.0;
  std::chrono::microseconds cap{200000};
  Jitter jitter = Jitter::full;

  static BackoffShape from(const RetryPolicy& p) noexcept;
  // Doubling from `min` to `max` with equal jitter (half fixed, half random): reconnects, probes.
  static BackoffShape doubling(std::chrono::milliseconds min, std::chrono::milliseconds max,
                               Jitter jitter = Jitter::equal) noexcept;
};

class Backoff {
 public:
  Backoff(const BackoffShape& shape, std::uint64_t seed)
      : s_(shape), rng_(static_cast<std::uint_fast32_t>(seed % 2147483646u) + 1u) {}
  Backoff(const RetryPolicy& policy, std::uint64_t seed)
      : Backoff(BackoffShape::from(policy), seed) {}

  // The schedule can change between delays (a connection switches to the slower probe schedule
  // while the client is disabled).
  void reshape(const BackoffShape& shape) noexcept { s_ = shape; }

  // Delay before attempt number `n` after the first (1 = the first retry / reconnect).
  std::chrono::microseconds delay(int n);

  // The un-jittered delay for step n: min(cap, base * multiplier^(n-1)).
  static std::chrono::microseconds ceiling(const BackoffShape& s, int n);
  static std::chrono::microseconds ceiling(const RetryPolicy& p, int n) {
    return ceiling(BackoffShape::from(p), n);
  }

 private:
  std::chrono::microseconds uniform(std::chrono::microseconds lo, std::chrono::microseconds hi);

  BackoffShape s_;
  std::minstd_rand rng_;
  std::chrono::microseconds previous_{0};  // decorrelated jitter's memory
};

// gRPC-style retry throttling: a token bucket that one blip cannot drain past half.
class RetryBudget {
 public:
  RetryBudget(double max_tokens, double per_success)
      : max_milli_(static_cast<std::int64_t>(max_tokens * 1000)),
        per_success_milli_(static_cast<std::int64_t>(per_success * 1000)),
        milli_(max_milli_) {}

  // Spends a token if the bucket is above half; false means "do not retry".
  bool try_spend();
  void on_success();
  double tokens() const { return static_cast<double>(milli_.load()) / 1000.0; }
  bool enabled() const { return max_milli_ > 0; }

 private:
  const std::int64_t max_milli_;
  const std::int64_t per_success_milli_;
  std::atomic<std::int64_t> milli_;
};

}  // namespace rcache::detail
