// Outcome classification and the retry decision.
#include "resilience/verdict.hpp"

#include "protocol/replies.hpp"

namespace rcache::detail {

Verdict classify(const Outcome& o) noexcept {
  if (o.error) {
    switch (o.error->code) {
      case Errc::timeout:
      case Errc::connection:
      case Errc::protocol:
        return Verdict::retryable;
      case Errc::shutdown:
        return Verdict::abandoned;
      default:
        return Verdict::failure;
    }
  }
  if (o.reply != nullptr) {
    switch (classify_error_word(*o.reply)) {
      case ErrorWord::transient:
        return Verdict::retryable;
      case ErrorWord::auth:
        return Verdict::failure;
      default:
        break;
    }
  }
  return Verdict::success;
}

RetryPlan plan_retry(const RetryPolicy& policy, Verdict v, int attempts_made, bool idempotent,
                     bool sent, Backoff& backoff, RetryBudget& budget, TimePoint now,
                     TimePoint deadline, bool charge_budget) {
  using Why = RetryPlan::Why;
  if (v != Verdict::retryable) return {Why::not_retryable};
  if (attempts_made >= policy.max_attempts) return {Why::attempts_exhausted};
  if (!idempotent && sent && !policy.retry_non_idempotent) return {Why::not_idempotent};
  const auto delay = backoff.delay(attempts_made);
  if (now + delay >= deadline) return {Why::deadline};  // never sleep past the deadline
  if (charge_budget && budget.enabled() && !budget.try_spend()) return {Why::budget};
  return {Why::retry, delay};
}

bool unavailable(const Error& e) noexcept {
  switch (e.code) {
    case Errc::disabled:
    case Errc::circuit_open:
    case Errc::connection:
    case Errc::timeout:
    case Errc::rejected:
      return true;
    default:
      return false;
  }
}

}  // namespace rcache::detail
