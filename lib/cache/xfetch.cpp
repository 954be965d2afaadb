// XFetch early-refresh decision, TTL jitter and loader durations.
#include "cache/xfetch.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace rcache::detail {

bool xfetch_should_refresh(double load_ms, double beta, double u, std::int64_t pttl_ms) noexcept {
  if (pttl_ms <= 0 || u <= 0 || u > 1) return false;
  return -load_ms * beta * std::log(u) >= static_cast<double>(pttl_ms);
}

std::chrono::milliseconds jittered_ttl(std::chrono::milliseconds ttl, double jitter,
                                       double u) noexcept {
  if (jitter <= 0) return ttl;
  const double f = 1.0 + jitter * (2.0 * u - 1.0);
  return std::max(
      std::chrono::milliseconds(1),
      std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(ttl.count()) * f)));
}

double uniform01() {
  thread_local std::minstd_rand rng(std::random_device{}());
  return (static_cast<double>(rng() - std::minstd_rand::min()) + 1.0) /
         (static_cast<double>(std::minstd_rand::max() - std::minstd_rand::min()) + 1.0);
}

void LoadTimes::note(const std::string& key, std::chrono::nanoseconds took) {
  std::lock_guard lock(mu_);
  if (times_.size() >= 10000 && times_.count(key) == 0) times_.clear();  // bounded memory
  times_[key] = took;
}

std::chrono::nanoseconds LoadTimes::get(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = times_.find(key);
  return it != times_.end() ? it->second : std::chrono::milliseconds(100);
}

}  // namespace rcache::detail
