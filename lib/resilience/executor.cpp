#include "resilience/executor.hpp"

#include <optional>

#include "transport.hpp"

namespace rcache::detail {

namespace {

bool starts_with(const redisReply& r, std::string_view word) {
  return r.len >= word.size() && std::string_view(r.str, word.size()) == word &&
         (r.len == word.size() || r.str[word.size()] == ' ');
}

}  // namespace

Verdict classify(const Outcome& o) noexcept {
  if (o.error) {
    switch (o.error->code) {
      case Errc::timeout:
      case Errc::connection:
      case Errc::protocol: return Verdict::retryable;
      case Errc::auth: return Verdict::failure;
      case Errc::shutdown: return Verdict::abandoned;
      default: return Verdict::failure;
    }
  }
  const redisReply* r = o.reply.get();
  if (r != nullptr && r->type == REDIS_REPLY_ERROR) {
    for (std::string_view w : {"LOADING", "TRYAGAIN", "MASTERDOWN", "READONLY", "BUSY",
                               "CLUSTERDOWN"}) {
      if (starts_with(*r, w)) return Verdict::retryable;
    }
    if (starts_with(*r, "NOAUTH") || starts_with(*r, "WRONGPASS")) return Verdict::failure;
  }
  return Verdict::success;
}

RetryPlan plan_retry(const RetryPolicy& policy, Verdict v, int attempts_made, bool idempotent,
                     bool sent, Backoff& backoff, RetryBudget& budget, ClockSource::time_point now,
                     ClockSource::time_point deadline) {
  using Why = RetryPlan::Why;
  if (v != Verdict::retryable) return {Why::not_retryable};
  if (attempts_made >= policy.max_attempts) return {Why::attempts_exhausted};
  if (!idempotent && sent && !policy.retry_non_idempotent) return {Why::not_idempotent};
  const auto delay = backoff.delay(attempts_made);
  if (now + delay >= deadline) return {Why::deadline};  // never sleep past the deadline
  if (budget.enabled() && !budget.try_spend()) return {Why::budget};
  return {Why::retry, delay};
}

bool unavailable(const Error& e) noexcept {
  switch (e.code) {
    case Errc::disabled:
    case Errc::circuit_open:
    case Errc::connection:
    case Errc::timeout:
    case Errc::rejected: return true;
    default: return false;
  }
}

struct Executor::Call {
  std::string bytes;  // the command, shared by every attempt
  std::uint32_t replies = 1;
  const char* name = "";
  bool idempotent = true;
  Clock::time_point deadline{};
  Clock::time_point attempt_start{};
  int attempts = 0;
  CircuitBreaker::Ticket ticket{};
  std::optional<Backoff> backoff;
  Completion done;
};

Executor::Executor(const Config& cfg, Transport& transport, const ClockSource& clock,
                   const Logger& logger, std::string endpoint,
                   CircuitBreaker::Listener on_breaker_change)
    : cfg_(cfg), transport_(transport), clock_(clock), logger_(logger),
      endpoint_(std::move(endpoint)), on_breaker_change_(std::move(on_breaker_change)),
      budget_(cfg.retry.budget_tokens, cfg.retry.budget_per_success) {
  if (cfg.breaker.enabled) {
    breaker_ = std::make_unique<CircuitBreaker>(
        cfg.breaker, clock, [this](BreakerState from, BreakerState to) {
          const LogLevel level = to == BreakerState::closed ? LogLevel::info : LogLevel::warning;
          logger_.log(level, "circuit breaker for " + endpoint_ + ": " +
                                 std::string(to_string(from)) + " -> " +
                                 std::string(to_string(to)));
          if (on_breaker_change_) on_breaker_change_(from, to);
        });
  }
}

void Executor::refuse(Completion& done, Errc code, std::string message) {
  Request r;
  r.done = std::move(done);
  complete(r, Error{code, std::move(message)});
}

void Executor::execute(Command&& cmd, Completion done) {
  if (transport_.disabled()) {
    counters_.disabled.fetch_add(1, std::memory_order_relaxed);
    refuse(done, Errc::disabled,
           std::string(cmd.name) + ": client disabled, redis " + endpoint_ +
               " unreachable since start-up (" + transport_.status().last_error +
               "); probing in the background");
    return;
  }
  if (in_flight_.fetch_add(1, std::memory_order_relaxed) >= cfg_.max_in_flight) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    counters_.rejected.fetch_add(1, std::memory_order_relaxed);
    refuse(done, Errc::rejected,
           std::string(cmd.name) + ": too many calls in flight (max_in_flight = " +
               std::to_string(cfg_.max_in_flight) + ")");
    return;
  }
  CircuitBreaker::Ticket ticket{true, false, 0};
  if (breaker_) {
    ticket = breaker_->admit();
    if (!ticket.admitted) {
      in_flight_.fetch_sub(1, std::memory_order_relaxed);
      counters_.circuit_open.fetch_add(1, std::memory_order_relaxed);
      refuse(done, Errc::circuit_open,
             std::string(cmd.name) + ": circuit breaker for " + endpoint_ + " is " +
                 std::string(to_string(breaker_->state())));
      return;
    }
  }
  auto call = std::make_shared<Call>();
  call->bytes = std::move(cmd.wire);
  call->replies = cmd.replies;
  call->name = cmd.name;
  call->idempotent = cmd.idempotent;
  const auto now = clock_.now();
  call->deadline = now + cfg_.deadline;
  call->ticket = ticket;
  call->done = std::move(done);
  attempt(call, now);
}

void Executor::attempt(const std::shared_ptr<Call>& call, ClockSource::time_point now) {
  ++call->attempts;
  call->attempt_start = now;
  Request r;
  // Aliasing pointer: keeps the Call (and so its bytes) alive, no second allocation.
  r.wire = std::shared_ptr<const std::string>(call, &call->bytes);
  r.replies = call->replies;
  r.name = call->name;
  r.deadline = std::min(call->attempt_start + cfg_.command_timeout, call->deadline);
  r.done = [this, call](Outcome&& o) { on_attempt(call, std::move(o)); };
  transport_.submit(std::move(r));
}

void Executor::on_attempt(const std::shared_ptr<Call>& call, Outcome&& o) {
  const Verdict v = classify(o);
  if (breaker_) {
    switch (v) {
      case Verdict::success:
        breaker_->on_success(call->ticket, clock_.now() - call->attempt_start);
        break;
      case Verdict::retryable:
      case Verdict::failure: breaker_->on_failure(call->ticket); break;
      case Verdict::abandoned: breaker_->on_abandon(call->ticket); break;
    }
  }
  if (v == Verdict::success) {
    budget_.on_success();
    finish(*call, std::move(o));
    return;
  }
  if (!transport_.on_loop_thread()) {  // only the loop thread owns retry timers
    finish(*call, std::move(o));
    return;
  }
  if (!call->backoff) {
    call->backoff.emplace(cfg_.retry, seed_.fetch_add(0x9e3779b97f4a7c15ull));
  }
  const RetryPlan plan = plan_retry(cfg_.retry, v, call->attempts, call->idempotent, o.sent,
                                    *call->backoff, budget_, clock_.now(), call->deadline);
  if (!plan.retry()) {
    if (plan.why == RetryPlan::Why::budget) {
      counters_.budget_exhausted.fetch_add(1, std::memory_order_relaxed);
    }
    finish(*call, std::move(o));
    return;
  }
  const auto delay = plan.delay;
  counters_.retries.fetch_add(1, std::memory_order_relaxed);
  auto last = std::make_shared<Outcome>(std::move(o));
  transport_.schedule_after(delay, [this, call, last] {
    if (breaker_) {
      call->ticket = breaker_->admit();
      if (!call->ticket.admitted) {  // the breaker opened meanwhile: give the last answer
        counters_.circuit_open.fetch_add(1, std::memory_order_relaxed);
        finish(*call, std::move(*last));
        return;
      }
    }
    attempt(call, clock_.now());
  });
}

void Executor::finish(Call& call, Outcome&& o) {
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  Request r;
  r.done = std::move(call.done);
  complete(r, std::move(o));
}

}  // namespace rcache::detail
