// What an attempt's outcome means (for breaker, retry and fallback), and whether and when to retry.
//
// Thread safety: pure functions.
#pragma once

#include <chrono>

#include "base/backoff.hpp"
#include "base/clock.hpp"
#include "rcache/resilience.hpp"
#include "transport/request.hpp"

namespace rcache::detail {

enum class Verdict {
  success,    // the server answered (values, misses, -ERR/WRONGTYPE replies)
  retryable,  // connection, timeout, protocol, or LOADING/TRYAGAIN/MASTERDOWN/READONLY/BUSY...
  failure,    // a failure that a retry will not fix (auth)
  abandoned,  // no verdict (shutdown)
};
Verdict classify(const Outcome& o) noexcept;

// Errors that mean "Redis could not be used for this call" (as opposed to an answer from it):
// local-mode fallback and get_or_load's bypass act on exactly these.
bool unavailable(const Error& e) noexcept;

struct RetryPlan {
  enum class Why { retry, not_retryable, attempts_exhausted, not_idempotent, deadline, budget };
  Why why = Why::not_retryable;
  std::chrono::microseconds delay{0};
  bool retry() const noexcept { return why == Why::retry; }
};
// Whether and when to retry an attempt that ended with verdict `v`. No clock reads, no I/O.
// charge_budget = false: the retry does not spend a budget token (the retries of the calls one
// connection drop failed share the one token their first retry spent).
RetryPlan plan_retry(const RetryPolicy& policy, Verdict v, int attempts_made, bool idempotent,
                     bool sent, Backoff& backoff, RetryBudget& budget, TimePoint now,
                     TimePoint deadline, bool charge_budget = true);

}  // namespace rcache::detail
