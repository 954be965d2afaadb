// A clock that tests can drive. Production code uses SteadyClock.
//
// Thread safety: now() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>

namespace rcache::detail {

class ClockSource {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~ClockSource() = default;
  virtual time_point now() const noexcept = 0;
};

class SteadyClock final : public ClockSource {
 public:
  time_point now() const noexcept override { return std::chrono::steady_clock::now(); }
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
