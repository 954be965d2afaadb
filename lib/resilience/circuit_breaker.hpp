// Closed / open / half-open circuit breaker for one endpoint. Pure logic over an injectable clock.
//
// Each call asks admit() first and, if admitted, reports exactly one outcome with the Ticket it
// got: success (the server answered, misses and -ERR replies included), failure (connection,
// timeout, protocol...), or abandon (the call ended without a verdict, e.g. shutdown).
// Outcomes of calls admitted before the last state change are ignored for transitions, so a slow
// reply from before a trip cannot close a freshly opened breaker.
//
// Thread safety: every member may be called from any thread. The listener runs on the thread
// whose call caused the change, after the breaker's lock is released.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "base/backoff.hpp"
#include "base/clock.hpp"
#include "rcache/resilience.hpp"

namespace rcache::detail {

class CircuitBreaker {
 public:
  using Listener = std::function<void(BreakerState from, BreakerState to)>;

  struct Ticket {
    bool admitted = false;
    bool probe = false;
    std::uint64_t generation = 0;
  };

  CircuitBreaker(const BreakerPolicy& policy, const ClockSource& clock, Listener listener = {});

  Ticket admit();
  void on_success(const Ticket& t, std::chrono::nanoseconds elapsed);
  void on_failure(const Ticket& t);
  void on_abandon(const Ticket& t);

  // The endpoint was just reached again (a connection completed its handshake): an open breaker
  // lets its probes through now instead of waiting out the open period. Other states: no change.
  void on_reachable();

  // Operator controls.
  void force_open();
  void disable();
  void reset();  // back to closed, counters cleared

  BreakerState state() const;
  // Why a call is refused now, for its error: "open since 120 ms ago (trip 1 in a row), until
  // 380 ms from now or the next reconnect, then 3 probe calls", "half-open since ...", ...
  std::string refusal() const;
  // How long the current (or next) open period lasts.
  std::chrono::milliseconds open_period() const;
  std::uint64_t transitions() const;

 private:
  using Lock = std::unique_lock<std::mutex>;
  void move_to(BreakerState to, Lock& lock);  // unlocks to notify
  void trip(Lock& lock);
  void record_closed(bool failed, Lock& lock);
  std::chrono::milliseconds period_for(int trips) const;

  const BreakerPolicy p_;
  const ClockSource& clock_;
  Listener listener_;

  mutable std::mutex mu_;
  BreakerState state_ = BreakerState::closed;
  std::uint64_t generation_ = 1;
  std::uint64_t transitions_ = 0;
  int consecutive_ = 0;
  std::vector<bool> window_;  // ring of outcomes, true = failure
  std::size_t window_next_ = 0;
  std::size_t window_count_ = 0;
  std::size_t window_failures_ = 0;
  int trips_in_a_row_ = 0;  // re-trips from half-open since the last close
  ClockSource::time_point open_until_{};
  ClockSource::time_point since_{};  // of the current state
  int probes_admitted_ = 0;
  int probes_succeeded_ = 0;
};

}  // namespace rcache::detail
