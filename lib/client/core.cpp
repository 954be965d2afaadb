// Wiring of the layers behind Client, start-up, value encoding counters, and the blocking wait.
#include "client/core.hpp"

#include <algorithm>
#include <string_view>
#include <thread>

#include "base/cpus.hpp"

namespace rcache::detail {

ClientCore::ClientCore(Config cfg)
    : cfg_(std::move(cfg)),
      logger_(cfg_.log_sink, cfg_.log_event_sink, cfg_.log_level),
      clock_(SteadyClock::instance()),
      metrics_(std::make_unique<Metrics>()),
      envelope_{cfg_.compression,           cfg_.compression_threshold,
                cfg_.compression_level,     0.10,
                cfg_.max_decompressed_size, cfg_.legacy_hex},
      single_flight_(*metrics_),
      outage_loads_(cfg_.outage_loads_per_second),
      availability_(std::make_unique<Availability>(cfg_, logger_, *metrics_, clock_)) {}

Result<std::unique_ptr<ClientCore>> ClientCore::create(Config cfg) {
  std::unique_ptr<ClientCore> core(new ClientCore(std::move(cfg)));
  Availability& availability = *core->availability_;
  ClientCore* self = core.get();
  // The pool reached Redis again (from no ready connection to one): the degraded modes recover,
  // and an open breaker lets its probes through at once instead of waiting out its period.
  auto transport = Transport::create(core->cfg_, core->logger_, core->clock_, [self] {
    self->availability_->on_pool_available();
    if (Executor* ex = self->reachable_.load(std::memory_order_acquire)) ex->on_reachable();
  });
  if (!transport) return std::move(transport).error();
  core->transport_ = std::move(*transport);
  auto on_breaker = [self](BreakerState from, BreakerState to) {
    self->metrics_->breaker_transition(from, to);
    self->availability_->on_breaker_change(from, to);
    if (self->cfg_.on_breaker_change) self->cfg_.on_breaker_change(from, to);
  };
  auto wait = core->cfg_.connect_timeout + std::chrono::milliseconds(100);
  if (!core->cfg_.cluster_nodes.empty()) {
    // A cluster: the slot map first (asked of the seeds), then a pool and an executor per node.
    core->router_ = std::make_unique<ClusterRouter>(
        core->cfg_, core->logger_, *core->metrics_, availability, core->clock_, *core->transport_,
        on_breaker, [self] { self->availability_->on_pool_available(); });
    core->dispatch_ = core->router_.get();
    availability.attach(core->router_->topology());
    core->router_->start();
    wait += core->cfg_.command_timeout;
    const bool reached = core->router_->topology().wait_ready(wait);
    if (auto r = availability.start(reached); !r) return std::move(r).error();
    return core;
  }
  availability.attach(core->transport_->pool());
  core->executor_ = std::make_unique<Executor>(core->cfg_, *core->transport_, availability,
                                               *core->metrics_, core->clock_, core->logger_,
                                               core->transport_->endpoint(), std::move(on_breaker));
  core->dispatch_ = core->executor_.get();
  core->reachable_.store(core->executor_.get(), std::memory_order_release);
  if (!core->cfg_.sentinel_master.empty()) {
    // The master is found first: a sentinel's answer, then the connection to the master.
    core->sentinel_ = std::make_unique<SentinelMonitor>(core->cfg_, core->logger_, core->clock_,
                                                        *core->transport_);
    SentinelMonitor* sentinel = core->sentinel_.get();
    Transport* transport = core->transport_.get();
    core->executor_->set_on_wrong_role([sentinel, transport] {
      if (transport->on_loop_thread()) {
        sentinel->rediscover();
      } else {
        transport->post([sentinel] { sentinel->rediscover(); });
      }
    });
    core->transport_->post([sentinel] { sentinel->start(); });
    wait += core->cfg_.connect_timeout + core->cfg_.command_timeout;
  }
  if (NearCache* near = availability.near_cache()) {
    core->tracker_ = std::make_unique<Tracker>(core->cfg_, core->logger_, core->clock_,
                                               *core->transport_, *near);
    Tracker* tracker = core->tracker_.get();
    core->transport_->post([tracker] { tracker->start(); });
  }
  // Start-up: fail_fast (and Sentinel, whose discovery must end first) gives the pool its connect
  // timeout to reach Redis, then applies the mode. The other modes wait at most startup_wait: an
  // outcome that comes later (a hung endpoint, a slow handshake) is applied on the loop thread when
  // it comes, and calls made meanwhile wait for a connection within their deadline.
  Pool& pool = core->transport_->pool();
  const bool wait_all = core->cfg_.degraded_mode == DegradedMode::fail_fast || core->sentinel_;
  bool reached = pool.wait_first_outcome(wait_all ? wait : std::min(wait, core->cfg_.startup_wait));
  if (!reached && !wait_all) {
    Availability* avail = &availability;
    if (pool.when_first_outcome([avail](bool later) { (void)avail->start(later); })) return core;
    reached = pool.ready() > 0;  // the outcome came between the wait and the registration
  }
  if (auto r = availability.start(reached); !r) return std::move(r).error();
  return core;
}

void ClientCore::shutdown() {
  // Callbacks run with Errc::shutdown during this and may still call into the client: every
  // member stays valid until the loop thread has been joined.
  if (transport_) transport_->shutdown();
}

ClientCore::~ClientCore() {
  shutdown();
  executor_.reset();  // completions reach into the executor: only after the join
  transport_.reset();
  router_.reset();  // its node senders go with the transport's pools (nothing uses them now)
}

Encoded ClientCore::encode(std::string_view value) {
  Encoded e = encode_value(value, envelope_);
  if (e.compressed) {
    metrics_->add(Counter::compressed_bytes_in, value.size());
    metrics_->add(Counter::compressed_bytes_out, e.bytes.size());
  }
  return e;
}

std::vector<Executor*> ClientCore::executors(bool masters_only) const {
  if (executor_) return {executor_.get()};
  if (router_ && masters_only) return router_->master_executors();
  std::vector<Executor*> out;
  if (router_) {
    for (const auto& e : router_->executors()) out.push_back(e.executor);
  }
  return out;
}

thread_local const CallDeadline* t_call_deadlines = nullptr;

std::optional<std::chrono::milliseconds> ClientCore::scoped_budget() const noexcept {
  for (const CallDeadline* d = t_call_deadlines; d != nullptr; d = d->outer_) {
    if (d->core_ == this) return d->deadline_;
  }
  return std::nullopt;
}

TimePoint ClientCore::scoped_deadline() const noexcept {
  if (t_call_deadlines == nullptr) return TimePoint{};  // the common case: no scope at all
  const auto budget = scoped_budget();
  if (!budget) return TimePoint{};
  // A deadline <= 0 is already past; TimePoint{} means "none", so never return it.
  return std::max(clock_.now() + *budget, TimePoint{} + std::chrono::nanoseconds(1));
}

std::optional<Error> ClientCore::refuse_on_loop_thread(const char* what) const {
  if (!transport_->on_loop_thread()) return std::nullopt;
  return Error{Errc::invalid_argument,
               std::string(what) +
                   ": blocking call from an rcache callback would deadlock; use the async form"};
}

void ClientCore::wait(Waiter& w) {
  spin_until(w.ready);
  w.ready.wait();
}

// Adaptive wait: a reply on loopback often arrives within tens of microseconds, sooner than a
// sleeping thread can be woken. A caller that is the client's only blocking waiter spins for up
// to Config::blocking_spin before it sleeps, and stops as soon as another waiter appears; with
// many blocking threads nobody spins, so they do not burn the cores that the loop thread and
// the server need.
//
// The spin only pays when the loop thread has a CPU of its own to deliver the reply on. With one
// usable CPU (a pinned process, a container limited to one CPU) the spinning caller starves the
// very thread it waits for (issue 11 measured 4.7k GET/s against 14k without it), so it is off;
// the CPU count is re-read about once a second. And where spins keep ending without the reply (a
// busy machine, a slow server), spinning stops for a while and then tries again.
bool ClientCore::spin_worthwhile(TimePoint now) {
  auto check = spin_check_at_.load(std::memory_order_relaxed);
  if (now.time_since_epoch().count() >= check &&
      spin_check_at_.compare_exchange_strong(
          check, (now + std::chrono::seconds(1)).time_since_epoch().count(),
          std::memory_order_relaxed)) {
    spin_cpus_.store(usable_cpus(), std::memory_order_relaxed);
  }
  if (spin_cpus_.load(std::memory_order_relaxed) < 2) return false;
  if (const int rest = spin_rest_.load(std::memory_order_relaxed); rest > 0) {
    spin_rest_.store(rest - 1, std::memory_order_relaxed);
    if (rest == 1) spin_credit_.store(kSpinCreditProbe, std::memory_order_relaxed);
    return false;
  }
  return true;
}

void ClientCore::spin_until(const OneShotFutex& ready) {
  if (cfg_.blocking_spin.count() <= 0) return;
  if (waiters_.load(std::memory_order_relaxed) != 1) return;
  // Only one caller spins at a time (waiters_ == 1); the bookkeeping is relaxed atomics because
  // a caller arriving just as another leaves may still read it, which only skews a heuristic.
  const auto now = clock_.now();  // one clock read for the gate and the spin's end
  if (!spin_worthwhile(now)) return;
  const auto until = now + cfg_.blocking_spin;
  bool hit = true;
  for (unsigned i = 1; !ready.is_set(); ++i) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if ((i & 63) == 0 && (waiters_.load(std::memory_order_relaxed) != 1 || clock_.now() >= until)) {
      hit = ready.is_set();
      break;
    }
  }
  const int credit = spin_credit_.load(std::memory_order_relaxed);
  if (hit) {
    spin_credit_.store(std::min(credit + 1, kSpinCreditMax), std::memory_order_relaxed);
  } else {
    spin_credit_.store(credit - kSpinMissCost, std::memory_order_relaxed);
    // Out of credit: sleep-wait the next kSpinRest calls, then probe again.
    if (credit - kSpinMissCost < 0) spin_rest_.store(kSpinRest, std::memory_order_relaxed);
  }
}

void ClientCore::notify_hook(Op op, ResultKind kind, Errc code, std::chrono::nanoseconds took,
                             std::uint32_t keys) const noexcept {
  try {
    OpEvent e;
    e.op = op_name(op);
    e.keys = keys;
    e.duration = took;
    e.outcome = result_name(kind);
    e.error = code;
    const std::string node = router_ != nullptr ? router_->topology().where()
                             : transport_       ? transport_->pool().current_endpoint()
                                                : std::string();
    e.node = node;
    cfg_.op_hook(e);
  } catch (...) {
    // The application's hook failed: the call's result is unaffected.
  }
}

}  // namespace rcache::detail
