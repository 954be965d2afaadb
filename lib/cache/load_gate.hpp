// A token bucket for loads: at most `rate` per second on average, bursts of up to max(1, rate).
// get_or_load uses it to cap loader calls while Redis is unavailable (Config::
// outage_loads_per_second), so an outage cannot turn into a flood on the API behind the cache.
//
// Thread safety: admit() may be called from any thread (one mutex).
#pragma once

#include <algorithm>
#include <chrono>
#include <mutex>

#include "base/clock.hpp"

namespace rcache::detail {

class LoadGate {
 public:
  // rate <= 0: no cap.
  explicit LoadGate(double rate) : rate_(rate), burst_(std::max(1.0, rate)), tokens_(burst_) {}

  bool capped() const noexcept { return rate_ > 0; }
  double rate() const noexcept { return rate_; }

  // True if a load may start at `now` (and takes its token).
  bool admit(TimePoint now) {
    if (rate_ <= 0) return true;
    std::lock_guard lock(mu_);
    if (last_ != TimePoint{}) {
      const double seconds = std::chrono::duration<double>(now - last_).count();
      if (seconds > 0) tokens_ = std::min(burst_, tokens_ + seconds * rate_);
    }
    // Times read by other threads before they took the lock may be older: never step back.
    if (now > last_) last_ = now;
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }

 private:
  const double rate_;
  const double burst_;
  std::mutex mu_;
  double tokens_;     // guarded by mu_
  TimePoint last_{};  // guarded by mu_
};

}  // namespace rcache::detail
