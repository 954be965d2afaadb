// Runs a Command under the resilience policies: bulkhead, circuit breaker, per-call deadline,
// retries with backoff and a retry budget. Sits between the Client and the Transport.
//
//   execute(cmd, done):
//     bulkhead full        -> done(rejected) at once, on the calling thread
//     breaker refuses      -> done(circuit_open) at once, on the calling thread, no socket touched
//     otherwise            -> attempt; each attempt ends by min(now + command_timeout, deadline)
//     retryable failure    -> (attempts left, idempotent or never sent, budget, before deadline)
//                             retry after backoff, on the loop thread
//     done(outcome) exactly once, with the last attempt's outcome
//
// Thread safety: execute() from any thread; the rest runs on the loop thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "log.hpp"
#include "rcache/config.hpp"
#include "request.hpp"
#include "resilience/backoff.hpp"
#include "resilience/circuit_breaker.hpp"

namespace rcache::detail {

class Transport;

// What an attempt's outcome means for breaker and retry.
enum class Verdict {
  success,    // the server answered (values, misses, -ERR/WRONGTYPE replies)
  retryable,  // connection, timeout, protocol, or LOADING/TRYAGAIN/MASTERDOWN/READONLY/BUSY...
  failure,    // a failure that a retry will not fix (auth)
  abandoned,  // no verdict (shutdown)
};
Verdict classify(const Outcome& o) noexcept;

// Errors that mean "Redis could not be used for this call" (as opposed to an answer from it):
// local-mode fallback and get_or_load's bypass act on exactly these.
bool unavailable(const Error& e) noexcept;

// Whether and when to retry an attempt that ended with verdict `v`. Pure: no clock reads, no I/O.
struct RetryPlan {
  enum class Why { retry, not_retryable, attempts_exhausted, not_idempotent, deadline, budget };
  Why why = Why::not_retryable;
  std::chrono::microseconds delay{0};
  bool retry() const noexcept { return why == Why::retry; }
};
RetryPlan plan_retry(const RetryPolicy& policy, Verdict v, int attempts_made, bool idempotent,
                     bool sent, Backoff& backoff, RetryBudget& budget, ClockSource::time_point now,
                     ClockSource::time_point deadline);

struct ExecutorCounters {
  std::atomic<std::uint64_t> retries{0};
  std::atomic<std::uint64_t> budget_exhausted{0};
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> circuit_open{0};
  std::atomic<std::uint64_t> disabled{0};
};

class Executor {
 public:
  // on_breaker_change runs after each breaker transition (any thread), besides the log line.
  Executor(const Config& cfg, Transport& transport, const ClockSource& clock,
           const Logger& logger, std::string endpoint,
           CircuitBreaker::Listener on_breaker_change = {});

  void execute(Command&& cmd, Completion done);

  CircuitBreaker* breaker() noexcept { return breaker_.get(); }
  const RetryBudget& budget() const noexcept { return budget_; }
  const ExecutorCounters& counters() const noexcept { return counters_; }
  std::size_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }

 private:
  struct Call;
  void attempt(const std::shared_ptr<Call>& call, ClockSource::time_point now);
  void on_attempt(const std::shared_ptr<Call>& call, Outcome&& o);
  void finish(Call& call, Outcome&& o);
  void refuse(Completion& done, Errc code, std::string message);

  const Config& cfg_;
  Transport& transport_;
  const ClockSource& clock_;
  const Logger& logger_;
  const std::string endpoint_;
  CircuitBreaker::Listener on_breaker_change_;
  std::unique_ptr<CircuitBreaker> breaker_;  // null when disabled by config
  RetryBudget budget_;
  ExecutorCounters counters_;
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<std::uint64_t> seed_{0x9e3779b97f4a7c15ull};
};

}  // namespace rcache::detail
