// Runs a Command under the resilience policies: disabled mode, bulkhead, circuit breaker,
// per-call deadline, retries with backoff and a retry budget. Sits between the client and the
// transport, which it reaches only through the narrow Sender interface.
//
//   execute(cmd, done):
//     disabled / bulkhead full / breaker refuses
//                          -> returns the Error; `done` is never called (libuv's rule)
//     deferred bytes (Command::build) -> made now; an error, or the deadline passing while
//                             they were made, is returned the same way (nothing sent)
//     otherwise            -> attempt; each attempt ends by min(now + command_timeout, deadline)
//     retryable failure    -> (attempts left, idempotent or never sent, budget, before deadline)
//                             retry after backoff, on the loop thread
//     done(outcome) exactly once, with the last attempt's outcome, on the loop thread
//
// Thread safety: execute() from any thread; the rest runs on the loop thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "metrics/metrics.hpp"
#include "rcache/config.hpp"
#include "resilience/availability.hpp"
#include "resilience/circuit_breaker.hpp"
#include "resilience/command.hpp"
#include "resilience/dispatcher.hpp"
#include "resilience/verdict.hpp"
#include "transport/sender.hpp"

namespace rcache::detail {

class Executor final : public Dispatcher {
 public:
  // Every reference must outlive the Executor. on_breaker_change runs after each breaker
  // transition (any thread), besides the log line.
  Executor(const Config& cfg, Sender& sender, Availability& availability, Metrics& metrics,
           const ClockSource& clock, const Logger& logger, std::string endpoint,
           CircuitBreaker::Listener on_breaker_change = {});

  // An Error return means the call was refused: `done` is left untouched (the caller still owns
  // it) and the executor will never call it. Otherwise `done` is moved from.
  [[nodiscard]] Result<void> execute(Command&& cmd, Completion&& done) override;

  CircuitBreaker* breaker() noexcept { return breaker_.get(); }
  // The pool reached the endpoint again: an open breaker lets its probes through now.
  void on_reachable() {
    if (breaker_) breaker_->on_reachable();
  }
  // Runs (loop thread) when a reply says the node is not the master (READONLY): the topology
  // should look again. Set before any call.
  void set_on_wrong_role(std::function<void()> fn) { on_wrong_role_ = std::move(fn); }
  const RetryBudget& budget() const noexcept { return budget_; }
  std::size_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }

 private:
  struct Call;
  Result<Wire> build(Command& cmd, TimePoint deadline);
  void attempt(const std::shared_ptr<Call>& call, TimePoint now);
  void on_attempt(const std::shared_ptr<Call>& call, Outcome&& o);
  void finish(Call& call, Outcome&& o);

  const Config& cfg_;
  Sender& sender_;
  Availability& availability_;
  Metrics& metrics_;
  const ClockSource& clock_;
  const Logger& logger_;
  const std::string endpoint_;
  CircuitBreaker::Listener on_breaker_change_;
  std::unique_ptr<CircuitBreaker> breaker_;  // null when disabled by config
  RetryBudget budget_;
  std::atomic<std::size_t> in_flight_{0};
  // A connection drop fails every call in flight on it at once: the breaker counts it as one
  // failure and the retries it causes spend one budget token. These hold the last drop id
  // counted and charged (the calls of one drop complete one after another on the loop thread).
  std::atomic<std::uint64_t> drop_counted_{0};
  std::atomic<std::uint64_t> drop_charged_{0};
  std::atomic<std::uint64_t> seed_{0x9e3779b97f4a7c15ull};
  std::function<void()> on_wrong_role_;
};

}  // namespace rcache::detail
