// Delays between retries, per RetryPolicy. Pure logic: no sleeping, no clock.
//
// Thread safety: one Backoff per call; not shared.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>

#include "rcache/resilience.hpp"

namespace rcache::detail {

class Backoff {
 public:
  Backoff(const RetryPolicy& policy, std::uint64_t seed)
      : p_(policy), rng_(static_cast<std::uint_fast32_t>(seed % 2147483646u) + 1u) {}

  // Delay before retry number `retry` (1 = the first retry).
  std::chrono::microseconds delay(int retry);

  // The un-jittered exponential delay for retry n: min(cap, base * multiplier^(n-1)).
  static std::chrono::microseconds ceiling(const RetryPolicy& p, int retry);

 private:
  std::chrono::microseconds uniform(std::chrono::microseconds lo, std::chrono::microseconds hi);

  RetryPolicy p_;
  std::minstd_rand rng_;
  std::chrono::microseconds previous_{0};  // decorrelated jitter's memory
};

// gRPC-style retry throttling. Thread safety: all members may be called from any thread.
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
