// The circuit breaker's state machine, and the names of breaker states and degraded modes.
#include "resilience/circuit_breaker.hpp"

#include <algorithm>

namespace rcache {

std::string_view to_string(BreakerState s) noexcept {
  switch (s) {
    case BreakerState::closed:
      return "closed";
    case BreakerState::half_open:
      return "half_open";
    case BreakerState::open:
      return "open";
    case BreakerState::forced_open:
      return "forced_open";
    case BreakerState::disabled:
      return "disabled";
  }
  return "unknown";
}

std::string_view to_string(DegradedMode m) noexcept {
  switch (m) {
    case DegradedMode::disabled:
      return "disabled";
    case DegradedMode::local:
      return "local";
    case DegradedMode::fail_fast:
      return "fail_fast";
  }
  return "unknown";
}

}  // namespace rcache

namespace rcache::detail {

CircuitBreaker::CircuitBreaker(const BreakerPolicy& policy, const ClockSource& clock,
                               Listener listener)
    : p_(policy),
      clock_(clock),
      listener_(std::move(listener)),
      window_(static_cast<std::size_t>(std::max(1, policy.window)), false) {}

std::chrono::milliseconds CircuitBreaker::period_for(int trips) const {
  // The shared backoff without jitter: open_base doubling per re-trip, at most open_max.
  const auto shape = BackoffShape::doubling(p_.open_base, p_.open_max, Jitter::none);
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      Backoff::ceiling(shape, std::max(1, trips)));
}

std::chrono::milliseconds CircuitBreaker::open_period() const {
  std::lock_guard lock(mu_);
  return period_for(trips_in_a_row_);
}

void CircuitBreaker::move_to(BreakerState to, Lock& lock) {
  const BreakerState from = state_;
  if (from == to) return;
  state_ = to;
  since_ = clock_.now();
  ++generation_;
  ++transitions_;
  probes_admitted_ = 0;
  probes_succeeded_ = 0;
  if (to == BreakerState::closed) {
    consecutive_ = 0;
    window_next_ = window_count_ = window_failures_ = 0;
    std::fill(window_.begin(), window_.end(), false);
  }
  if (listener_) {
    Listener l = listener_;
    lock.unlock();
    try {
      l(from, to);
    } catch (...) {
    }
    lock.lock();
  }
}

void CircuitBreaker::trip(Lock& lock) {
  ++trips_in_a_row_;
  open_until_ = clock_.now() + period_for(trips_in_a_row_);
  move_to(BreakerState::open, lock);
}

std::string CircuitBreaker::refusal() const {
  std::lock_guard lock(mu_);
  const auto now = clock_.now();
  auto ms = [](std::chrono::nanoseconds d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
  };
  const std::string since = " since " + ms(now - since_) + " ago";
  switch (state_) {
    case BreakerState::open:
      return "open" + since + " (trip " + std::to_string(trips_in_a_row_) + " in a row), until " +
             ms(std::max(open_until_ - now, std::chrono::nanoseconds{0})) +
             " from now or the next reconnect, then " + std::to_string(p_.half_open_probes) +
             " probe calls";
    case BreakerState::half_open:
      return "half-open" + since + ": its " + std::to_string(p_.half_open_probes) +
             " probe calls are in flight";
    case BreakerState::forced_open:
      return "forced open by an operator" + since;
    default:
      return std::string(to_string(state_));
  }
}

CircuitBreaker::Ticket CircuitBreaker::admit() {
  Lock lock(mu_);
  switch (state_) {
    case BreakerState::disabled:
    case BreakerState::closed:
      return Ticket{true, false, generation_};
    case BreakerState::forced_open:
      return Ticket{false, false, generation_};
    case BreakerState::open:
      if (clock_.now() < open_until_) return Ticket{false, false, generation_};
      move_to(BreakerState::half_open, lock);
      if (state_ != BreakerState::half_open) return Ticket{false, false, generation_};
      [[fallthrough]];
    case BreakerState::half_open:
      if (probes_admitted_ >= p_.half_open_probes) return Ticket{false, false, generation_};
      ++probes_admitted_;
      return Ticket{true, true, generation_};
  }
  return Ticket{};
}

void CircuitBreaker::record_closed(bool failed, Lock& lock) {
  if (window_count_ == window_.size()) {
    if (window_[window_next_]) --window_failures_;
  } else {
    ++window_count_;
  }
  window_[window_next_] = failed;
  if (failed) ++window_failures_;
  window_next_ = (window_next_ + 1) % window_.size();
  consecutive_ = failed ? consecutive_ + 1 : 0;
  if (!failed) return;
  const bool by_streak = consecutive_ >= p_.consecutive_failures;
  const bool by_rate =
      window_count_ >= static_cast<std::size_t>(p_.min_calls) &&
      static_cast<double>(window_failures_) >= p_.failure_rate * static_cast<double>(window_count_);
  if (by_streak || by_rate) {
    trips_in_a_row_ = 0;  // a trip from closed starts the doubling afresh
    trip(lock);
  }
}

void CircuitBreaker::on_success(const Ticket& t, std::chrono::nanoseconds elapsed) {
  if (!t.admitted) return;
  if (p_.slow_call.count() > 0 && elapsed > p_.slow_call) {
    on_failure(t);
    return;
  }
  Lock lock(mu_);
  if (t.generation != generation_) return;
  if (state_ == BreakerState::closed) {
    record_closed(false, lock);
  } else if (state_ == BreakerState::half_open && t.probe) {
    if (++probes_succeeded_ >= p_.half_open_probes) {
      trips_in_a_row_ = 0;
      move_to(BreakerState::closed, lock);
    }
  }
}

void CircuitBreaker::on_failure(const Ticket& t) {
  if (!t.admitted) return;
  Lock lock(mu_);
  if (t.generation != generation_) return;
  if (state_ == BreakerState::closed) {
    record_closed(true, lock);
  } else if (state_ == BreakerState::half_open && t.probe) {
    trip(lock);  // re-trip: the open period doubles
  }
}

void CircuitBreaker::on_abandon(const Ticket& t) {
  if (!t.admitted || !t.probe) return;
  Lock lock(mu_);
  // A probe that ended without a verdict frees its slot for another probe.
  if (t.generation == generation_ && state_ == BreakerState::half_open && probes_admitted_ > 0) {
    --probes_admitted_;
  }
}

void CircuitBreaker::on_reachable() {
  Lock lock(mu_);
  if (state_ == BreakerState::open) move_to(BreakerState::half_open, lock);
}

void CircuitBreaker::force_open() {
  Lock lock(mu_);
  move_to(BreakerState::forced_open, lock);
}

void CircuitBreaker::disable() {
  Lock lock(mu_);
  move_to(BreakerState::disabled, lock);
}

void CircuitBreaker::reset() {
  Lock lock(mu_);
  trips_in_a_row_ = 0;
  move_to(BreakerState::closed, lock);
  consecutive_ = 0;
  window_next_ = window_count_ = window_failures_ = 0;
}

BreakerState CircuitBreaker::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

std::uint64_t CircuitBreaker::transitions() const {
  std::lock_guard lock(mu_);
  return transitions_;
}

}  // namespace rcache::detail
