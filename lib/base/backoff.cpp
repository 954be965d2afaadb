// Exponential backoff with jitter, and the retry budget's token bucket.
#include "base/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace rcache::detail {

using std::chrono::microseconds;

BackoffShape BackoffShape::from(const RetryPolicy& p) noexcept {
  return BackoffShape{std::chrono::duration_cast<microseconds>(p.base), p.multiplier,
                      std::chrono::duration_cast<microseconds>(p.cap), p.jitter};
}

BackoffShape BackoffShape::doubling(std::chrono::milliseconds min, std::chrono::milliseconds max,
                                    Jitter jitter) noexcept {
  return BackoffShape{std::chrono::duration_cast<microseconds>(min), 2.0,
                      std::chrono::duration_cast<microseconds>(max), jitter};
}

microseconds Backoff::ceiling(const BackoffShape& s, int n) {
  const auto base = static_cast<double>(s.base.count());
  const auto cap = static_cast<double>(s.cap.count());
  const double exp = base * std::pow(s.multiplier, std::max(0, n - 1));
  return microseconds(static_cast<std::int64_t>(std::min(cap, exp)));
}

microseconds Backoff::uniform(microseconds lo, microseconds hi) {
  if (hi <= lo) return lo;
  std::uniform_int_distribution<std::int64_t> d(lo.count(), hi.count());
  return microseconds(d(rng_));
}

microseconds Backoff::delay(int n) {
  const microseconds top = ceiling(s_, n);
  switch (s_.jitter) {
    case Jitter::none:
      return top;
    case Jitter::full:
      return uniform(microseconds(0), top);
    case Jitter::equal:
      return top / 2 + uniform(microseconds(0), top - top / 2);
    case Jitter::decorrelated: {
      const auto prev = previous_.count() > 0 ? previous_ : s_.base;
      previous_ = std::min(s_.cap, uniform(s_.base, prev * 3));
      return previous_;
    }
  }
  return top;
}

bool RetryBudget::try_spend() {
  if (max_milli_ <= 0) return true;
  std::int64_t cur = milli_.load(std::memory_order_relaxed);
  while (cur > max_milli_ / 2) {
    if (milli_.compare_exchange_weak(cur, cur - 1000, std::memory_order_relaxed)) return true;
  }
  return false;
}

void RetryBudget::on_success() {
  if (max_milli_ <= 0 || per_success_milli_ <= 0) return;
  std::int64_t cur = milli_.load(std::memory_order_relaxed);
  while (cur < max_milli_) {
    const std::int64_t next = std::min(max_milli_, cur + per_success_milli_);
    if (milli_.compare_exchange_weak(cur, next, std::memory_order_relaxed)) return;
  }
}

}  // namespace rcache::detail
