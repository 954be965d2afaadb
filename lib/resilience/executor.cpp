// The executor: admission (disabled, bulkhead, breaker), attempts, retries within the deadline.
#include "resilience/executor.hpp"

#include <optional>

#include "protocol/cluster.hpp"
#include "protocol/replies.hpp"

namespace rcache::detail {

namespace {
// A cluster's TRYAGAIN (a multi-key call during a slot migration) or CLUSTERDOWN: retried, but
// no verdict on the node, whose breaker would otherwise open for all its slots.
bool slot_state(const redisReply& r) noexcept {
  const auto w = cluster_word(r);
  return w == ClusterWord::tryagain || w == ClusterWord::clusterdown;
}
}  // namespace

struct Executor::Call {
  std::string bytes;                          // the command, shared by every attempt
  std::shared_ptr<const std::string> shared;  // or these, the caller's
  std::uint32_t replies = 1;
  const char* name = "";
  bool idempotent = true;
  Op op = Op::other;
  TimePoint deadline{};
  TimePoint attempt_start{};
  int attempts = 0;
  CircuitBreaker::Ticket ticket{};
  std::optional<Backoff> backoff;
  Completion done;
};

Executor::Executor(const Config& cfg, Sender& sender, Availability& availability, Metrics& metrics,
                   const ClockSource& clock, const Logger& logger, std::string endpoint,
                   CircuitBreaker::Listener on_breaker_change)
    : cfg_(cfg),
      sender_(sender),
      availability_(availability),
      metrics_(metrics),
      clock_(clock),
      logger_(logger),
      endpoint_(std::move(endpoint)),
      on_breaker_change_(std::move(on_breaker_change)),
      budget_(cfg.retry.budget_tokens, cfg.retry.budget_per_success) {
  if (cfg.breaker.enabled) {
    breaker_ = std::make_unique<CircuitBreaker>(
        cfg.breaker, clock, [this](BreakerState from, BreakerState to) {
          // An outage's start (the breaker opens) and end (it closes) at one level; the probe
          // cycle in between (open -> half_open -> open) at info, rate-limited.
          const bool probing = (from == BreakerState::open && to == BreakerState::half_open) ||
                               (from == BreakerState::half_open && to == BreakerState::open);
          logger_.event(probing ? LogLevel::info : LogLevel::warning, "breaker_transition",
                        endpoint_,
                        "circuit breaker for " + endpoint_ + ": " + std::string(to_string(from)) +
                            " -> " + std::string(to_string(to)),
                        to_string(from), to_string(to), probing);
          if (on_breaker_change_) on_breaker_change_(from, to);
        });
  }
}

Result<void> Executor::execute(Command&& cmd, Completion&& done) {
  if (auto refused = availability_.refusal(cmd.name)) return std::move(*refused);
  if (cmd.deadline != TimePoint{} && clock_.now() >= cmd.deadline) {
    // A CallDeadline of 0, or a step of a multi-step call that ran out: nothing is sent.
    return Error{Errc::timeout, std::string(cmd.name) +
                                    ": the call's deadline passed before it "
                                    "was sent; nothing was sent"};
  }
  if (in_flight_.fetch_add(1, std::memory_order_relaxed) >= cfg_.max_in_flight) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    metrics_.add(Counter::rejected_bulkhead);
    return Error{Errc::rejected, std::string(cmd.name) +
                                     ": too many calls in flight (max_in_flight = " +
                                     std::to_string(cfg_.max_in_flight) + ")"};
  }
  CircuitBreaker::Ticket ticket{true, false, 0};
  if (breaker_) {
    ticket = breaker_->admit();
    if (!ticket.admitted) {
      in_flight_.fetch_sub(1, std::memory_order_relaxed);
      metrics_.add(Counter::rejected_circuit_open);
      return Error{Errc::circuit_open, std::string(cmd.name) + ": circuit breaker for " +
                                           endpoint_ + " is " + breaker_->refusal()};
    }
  }
  auto call = std::make_shared<Call>();
  call->bytes = std::move(cmd.wire);
  call->shared = std::move(cmd.shared_wire);
  call->replies = cmd.replies;
  call->name = cmd.name;
  call->idempotent = cmd.idempotent;
  call->op = cmd.op;
  auto now = clock_.now();
  call->deadline = cmd.deadline != TimePoint{} ? cmd.deadline : now + cfg_.deadline;
  if (cmd.build) {
    auto built = build(cmd, call->deadline);
    if (!built) {
      in_flight_.fetch_sub(1, std::memory_order_relaxed);
      if (breaker_) breaker_->on_abandon(ticket);  // no verdict on Redis: nothing was sent
      return std::move(built).error();
    }
    call->bytes = std::move(built->bytes);
    call->replies = built->replies;
    now = clock_.now();
  }
  call->ticket = ticket;
  call->done = std::move(done);
  attempt(call, now);
  return {};
}

Result<Wire> Executor::build(Command& cmd, TimePoint deadline) {
  const auto start = clock_.now();
  Result<Wire> w = Error{Errc::too_large, std::string(cmd.name) + ": out of memory building it"};
  try {
    w = cmd.build();
  } catch (const std::bad_alloc&) {
  }
  if (w.ok() && clock_.now() >= deadline) {
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - start);
    return Error{Errc::timeout, std::string(cmd.name) + ": the deadline (" +
                                    std::to_string(cfg_.deadline.count()) +
                                    " ms) passed while encoding the value (" +
                                    std::to_string(took.count()) + " ms); nothing was sent"};
  }
  return w;
}

void Executor::attempt(const std::shared_ptr<Call>& call, TimePoint now) {
  ++call->attempts;
  call->attempt_start = now;
  Request r;
  // Aliasing pointer: keeps the Call (and so its bytes) alive, no second allocation.
  r.wire = call->shared ? call->shared : std::shared_ptr<const std::string>(call, &call->bytes);
  r.replies = call->replies;
  r.name = call->name;
  r.deadline = std::min(call->attempt_start + cfg_.command_timeout, call->deadline);
  r.done = [this, call](Outcome&& o) { on_attempt(call, std::move(o)); };
  sender_.submit(std::move(r));
}

void Executor::on_attempt(const std::shared_ptr<Call>& call, Outcome&& o) {
  const Verdict v = classify(o);
  if (v == Verdict::retryable && on_wrong_role_ && o.reply != nullptr && is_readonly(*o.reply)) {
    on_wrong_role_();
  }
  if (breaker_) {
    switch (v) {
      case Verdict::success:
        breaker_->on_success(call->ticket, clock_.now() - call->attempt_start);
        break;
      case Verdict::retryable:
      case Verdict::failure:
        // No verdict on the node for a slot's state (it answered), or for a drop that was
        // counted already.
        if ((o.reply != nullptr && slot_state(*o.reply)) ||
            (o.drop != 0 && drop_counted_.exchange(o.drop) == o.drop)) {
          breaker_->on_abandon(call->ticket);
        } else {
          breaker_->on_failure(call->ticket);
        }
        break;
      case Verdict::abandoned:
        breaker_->on_abandon(call->ticket);
        break;
    }
  }
  if (v == Verdict::success) {
    budget_.on_success();
    finish(*call, std::move(o));
    return;
  }
  if (!sender_.on_loop_thread()) {  // only the loop thread owns retry timers (shutdown path)
    finish(*call, std::move(o));
    return;
  }
  if (!call->backoff) {
    call->backoff.emplace(cfg_.retry, seed_.fetch_add(0x9e3779b97f4a7c15ull));
  }
  // The budget guards the server against retry storms: an attempt that never reached it costs
  // nothing, and the calls one drop failed together cost one token.
  const bool charge = o.sent && (o.drop == 0 || drop_charged_.exchange(o.drop) != o.drop);
  const RetryPlan plan = plan_retry(cfg_.retry, v, call->attempts, call->idempotent, o.sent,
                                    *call->backoff, budget_, clock_.now(), call->deadline, charge);
  if (!plan.retry()) {
    if (plan.why == RetryPlan::Why::budget) metrics_.add(Counter::retry_budget_exhausted);
    finish(*call, std::move(o));
    return;
  }
  metrics_.add(Counter::retries);
  metrics_.retried(call->op);
  auto last = std::make_shared<Outcome>(std::move(o));
  sender_.schedule_after(plan.delay, [this, call, last] {
    if (breaker_) {
      call->ticket = breaker_->admit();
      if (!call->ticket.admitted) {  // the breaker opened meanwhile: give the last answer
        metrics_.add(Counter::rejected_circuit_open);
        finish(*call, std::move(*last));
        return;
      }
    }
    attempt(call, clock_.now());
  });
}

void Executor::finish(Call& call, Outcome&& o) {
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  complete(call.done, std::move(o));
}

}  // namespace rcache::detail
