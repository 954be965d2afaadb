#include "backoff.hpp"

#include <algorithm>
#include <cmath>

namespace rcache::detail {

using std::chrono::microseconds;

microseconds Backoff::ceiling(const RetryPolicy& p, int retry) {
  const double base = static_cast<double>(std::chrono::duration_cast<microseconds>(p.base).count());
  const double cap = static_cast<double>(std::chrono::duration_cast<microseconds>(p.cap).count());
  const double exp = base * std::pow(p.multiplier, std::max(0, retry - 1));
  return microseconds(static_cast<std::int64_t>(std::min(cap, exp)));
}

microseconds Backoff::uniform(microseconds lo, microseconds hi) {
  if (hi <= lo) return lo;
  std::uniform_int_distribution<std::int64_t> d(lo.count(), hi.count());
  return microseconds(d(rng_));
}

microseconds Backoff::delay(int retry) {
  const microseconds top = ceiling(p_, retry);
  switch (p_.jitter) {
    case Jitter::none: return top;
    case Jitter::full: return uniform(microseconds(0), top);
    case Jitter::equal: return top / 2 + uniform(microseconds(0), top - top / 2);
    case Jitter::decorrelated: {
      const auto base = std::chrono::duration_cast<microseconds>(p_.base);
      const auto cap = std::chrono::duration_cast<microseconds>(p_.cap);
      const auto prev = previous_.count() > 0 ? previous_ : base;
      previous_ = std::min(cap, uniform(base, prev * 3));
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
