// The one clock of rcache: steady time, injectable so that every layer can be tested without
// sleeps.
//
// Production code reads SteadyClock::instance(); unit tests pass a ManualClock. Deadlines,
// backoffs, breaker periods and latencies are all measured on this clock.
//
// Thread safety: now() may be called from any thread; ManualClock::advance() too.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace rcache::detail {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

class ClockSource {
 public:
  using time_point = TimePoint;
  virtual ~ClockSource() = default;
  virtual time_point now() const noexcept = 0;
};

class SteadyClock final : public ClockSource {
 public:
  time_point now() const noexcept override { return Clock::now(); }
  static const SteadyClock& instance() noexcept {
    static const SteadyClock clock;
    return clock;
  }
};

class ManualClock final : public ClockSource {
 public:
  time_point now() const noexcept override {
    return time_point(std::chrono::nanoseconds(ns_.load(std::memory_order_acquire)));
  }
  void advance(std::chrono::nanoseconds d) noexcept {
    ns_.fetch_add(d.count(), std::memory_order_acq_rel);
  }

 private:
  std::atomic<std::int64_t> ns_{1'000'000'000};
};

}  // namespace rcache::detail
