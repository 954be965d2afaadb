// The wiring behind Client: owns the layers below (metrics, availability, transport, executor,
// single-flight) and runs a Command in the three call forms (blocking, callback, future).
//
// The callback rule is applied here: an async callback always runs on the loop thread. Refusals
// (disabled, rejected, circuit_open) and argument errors, which are known on the calling thread,
// are posted to the loop thread rather than run in place; a blocking call returns them directly.
//
// Thread safety: as Client.
#pragma once

#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <type_traits>

#include "base/clock.hpp"
#include "base/futex.hpp"
#include "base/log.hpp"
#include "cache/load_gate.hpp"
#include "cache/single_flight.hpp"
#include "cache/xfetch.hpp"
#include "codec/envelope.hpp"
#include "metrics/metrics.hpp"
#include "protocol/replies.hpp"
#include "rcache/callback.hpp"
#include "rcache/client.hpp"
#include "rcache/config.hpp"
#include "resilience/availability.hpp"
#include "resilience/cluster_router.hpp"
#include "resilience/executor.hpp"
#include "resilience/tracker.hpp"
#include "topology/sentinel.hpp"
#include "transport/transport.hpp"

namespace rcache::detail {

// The innermost CallDeadline of this thread (each links to the one it is nested in).
extern thread_local const CallDeadline* t_call_deadlines;

class ClientCore {
 public:
  static Result<std::unique_ptr<ClientCore>> create(Config cfg);
  // Completes everything pending with Errc::shutdown and joins the loop thread (idempotent).
  void shutdown();
  ~ClientCore();
  ClientCore(const ClientCore&) = delete;
  ClientCore& operator=(const ClientCore&) = delete;

  const Config& config() const noexcept { return cfg_; }
  // The `client` label of this client's metrics: client_name, made unique among the live clients
  // when the Client is built (set once, before the Client is published).
  const std::string& metrics_label() const noexcept { return metrics_label_; }
  void set_metrics_label(std::string label) { metrics_label_ = std::move(label); }
  const ClockSource& clock() const noexcept { return clock_; }
  Transport& transport() noexcept { return *transport_; }
  const Transport& transport() const noexcept { return *transport_; }
  // The one executor (null with a cluster: each node has its own, see executors()).
  Executor* executor() noexcept { return executor_.get(); }
  // Every executor: the one, or each cluster node's so far (masters_only: those of the current
  // map's masters).
  std::vector<Executor*> executors(bool masters_only = false) const;
  // Where calls go: the executor, or the cluster router.
  Dispatcher& dispatcher() noexcept { return *dispatch_; }
  // With Config::cluster_nodes: the router; else null.
  ClusterRouter* cluster() noexcept { return router_.get(); }
  const ClusterRouter* cluster() const noexcept { return router_.get(); }
  Availability& availability() noexcept { return *availability_; }
  const Availability& availability() const noexcept { return *availability_; }
  Metrics& metrics() noexcept { return *metrics_; }
  const Metrics& metrics() const noexcept { return *metrics_; }
  SingleFlight& single_flight() noexcept { return single_flight_; }
  LoadTimes& load_times() noexcept { return load_times_; }
  LoadGate& outage_loads() noexcept { return outage_loads_; }
  bool on_loop_thread() const noexcept { return transport_->on_loop_thread(); }
  void log(LogLevel level, std::string_view event, const std::string& message) const noexcept {
    logger_.event(level, event, endpoint_of(cfg_), message);
  }

  // Encodes a value for storage, counting what compression saved. Store e.view(value).
  Encoded encode(std::string_view value);
  Result<std::string> decode(std::string&& stored, std::string_view key) const {
    return decode_value(std::move(stored), envelope_, key);
  }
  // A value read by get/mget/get_renew: decoded, and get_or_load's "not found" marker read as a
  // miss (counted), never as a corrupt value.
  Result<std::optional<std::string>> decode_read(std::string&& stored, std::string_view key) {
    if (stored == kNegativeMarker) {
      metrics_->add(Counter::negative_reads);
      return std::optional<std::string>{};
    }
    auto v = decode(std::move(stored), key);
    if (!v) return std::move(v).error();
    return std::optional<std::string>(std::move(*v));
  }

  template <class T>
  static ResultKind kind_of(const Result<T>& r) noexcept {
    if (!r.ok()) return ResultKind::error;
    if constexpr (std::is_same_v<T, std::optional<std::string>>) {
      return r.value().has_value() ? ResultKind::hit : ResultKind::miss;
    } else if constexpr (std::is_same_v<T, RawRead>) {
      return r.value().raw.has_value() ? ResultKind::hit : ResultKind::miss;
    } else {
      return ResultKind::ok;
    }
  }

  // A call of the application ended: metrics, and the operation hook when there is one.
  void finished(Op op, ResultKind kind, Errc code, TimePoint start,
                std::uint32_t keys = 1) noexcept {
    const auto now = clock_.now();
    metrics_->record(op, kind, code, now - start, now);
    if (cfg_.op_hook && op != Op::internal) notify_hook(op, kind, code, now - start, keys);
  }
  template <class T>
  void record(Op op, const Result<T>& r, TimePoint start, std::uint32_t keys = 1) noexcept {
    finished(op, kind_of(r), r.ok() ? Errc{} : r.error().code, start, keys);
  }

  // The deadline of a call this thread starts now: a CallDeadline scope's, or none (the
  // executor applies Config::deadline).
  TimePoint scoped_deadline() const noexcept;
  // The scope's duration, if this thread has one for this client (multi-step calls keep it for
  // their later steps, which run on the loop thread).
  std::optional<std::chrono::milliseconds> scoped_budget() const noexcept;
  void stamp(Command& cmd) const noexcept {
    if (cmd.deadline == TimePoint{}) cmd.deadline = scoped_deadline();
  }

  // Blocking form: parse runs on the calling thread.
  template <class T, class Parse>
  Result<T> call(Command&& cmd, Parse parse) {
    return call_on<T>(nullptr, std::move(cmd), std::move(parse));
  }
  // The same on one cluster node (null: where the dispatcher routes it).
  template <class T, class Parse>
  Result<T> call_on(ClusterNode* node, Command&& cmd, Parse parse) {
    if (auto e = refuse_on_loop_thread(cmd.name)) return std::move(*e);  // not a call: unrecorded
    const auto start = clock_.now();
    const Op op = cmd.op;
    const std::uint32_t keys = cmd.keys;
    stamp(cmd);
    Result<T> r = wait_for<T>(node, std::move(cmd), parse);
    record(op, r, start, keys);
    return r;
  }

  // Callback form: parse and cb run on the loop thread, whatever the outcome.
  template <class T, class Parse>
  void call_async(Command&& cmd, Parse parse, Callback<T> cb) {
    const Op op = cmd.op;
    const std::uint32_t keys = cmd.keys;
    const auto start = clock_.now();
    stamp(cmd);
    Completion done = [this, op, keys, start, name = cmd.name, parse = std::move(parse),
                       cb = std::move(cb)](Outcome&& o) mutable {
      Result<T> r = parse_safely<T>(name, parse, o);
      record(op, r, start, keys);
      if (cb) cb(std::move(r));
    };
    auto refused = dispatch_->execute(std::move(cmd), std::move(done));
    if (!refused) {
      // Refused: execute() left `done` untouched (its contract), so it is still ours; it runs on
      // the loop thread like any other completion.
      // NOLINTNEXTLINE(bugprone-use-after-move)
      transport_->post([done = std::move(done), e = std::move(refused).error()]() mutable {
        Outcome o;
        o.error = std::move(e);
        complete(done, std::move(o));
      });
    }
  }

  template <class T, class Parse>
  std::future<Result<T>> call_future(Command&& cmd, Parse parse) {
    auto promise = std::make_shared<std::promise<Result<T>>>();
    auto future = promise->get_future();
    call_async<T>(std::move(cmd), std::move(parse),
                  Callback<T>([promise](Result<T> r) { promise->set_value(std::move(r)); }));
    return future;
  }

  // An async call that failed before reaching the executor (an argument error): its callback
  // still runs on the loop thread. Like the blocking form's argument errors, it is not recorded
  // as a call (nothing was attempted).
  template <class T>
  void fail_async(Error e, Callback<T> cb) {
    transport_->post([e = std::move(e), cb = std::move(cb)]() mutable {
      if (cb) cb(Result<T>(std::move(e)));
    });
  }

  // Refuses a blocking call made from the loop thread (it would wait for itself).
  std::optional<Error> refuse_on_loop_thread(const char* what) const;

  // The outcome's error, or the parsed reply. Parsing allocates what the server sent (a value,
  // its decoded form): an allocation failure there is this call's error, never an exception out
  // of a blocking call or a callback that does not run.
  template <class T, class Parse>
  static Result<T> parse_safely(const char* name, Parse& parse, Outcome& o) {
    if (o.error) return Result<T>(std::move(*o.error));
    try {
      return parse(o);
    } catch (const std::bad_alloc&) {
      o.reply.reset();  // give back what we can before building the message
      o.earlier.clear();
      return Error{Errc::too_large, std::string(name) + ": out of memory reading the reply"};
    }
  }

 private:
  std::string metrics_label_;
  void notify_hook(Op op, ResultKind kind, Errc code, std::chrono::nanoseconds took,
                   std::uint32_t keys) const noexcept;
  explicit ClientCore(Config cfg);

  template <class T, class Parse>
  Result<T> wait_for(ClusterNode* node, Command&& cmd, Parse& parse) {
    const char* name = cmd.name;
    Waiter w;
    waiters_.fetch_add(1, std::memory_order_relaxed);
    Completion deliver = [&w](Outcome&& o) { w.deliver(std::move(o)); };
    auto refused = node != nullptr && router_
                       ? router_->execute_on(*node, std::move(cmd), std::move(deliver))
                       : dispatch_->execute(std::move(cmd), std::move(deliver));
    if (refused) wait(w);
    waiters_.fetch_sub(1, std::memory_order_relaxed);
    if (!refused) return std::move(refused).error();
    return parse_safely<T>(name, parse, w.out);
  }

  // A blocking caller's wait for its reply: the outcome is moved in, then the futex word is set
  // (release) and woken; the caller reads the outcome after seeing the word (acquire), and may
  // return at once (see OneShotFutex for why waking a word that is gone is safe).
  struct Waiter {
    OneShotFutex ready;
    Outcome out;
    void deliver(Outcome&& o) {
      out = std::move(o);
      ready.set();
    }
  };
  void wait(Waiter& w);
  void spin_until(const OneShotFutex& ready);
  bool spin_worthwhile(TimePoint now);

  const Config cfg_;
  const Logger logger_;
  const ClockSource& clock_;
  std::unique_ptr<Metrics> metrics_;
  const EnvelopeOptions envelope_;
  SingleFlight single_flight_;
  LoadTimes load_times_;
  LoadGate outage_loads_;
  std::unique_ptr<Availability> availability_;  // outlives transport_ and executor_
  std::unique_ptr<SentinelMonitor> sentinel_;   // with Sentinel; outlives the loop thread
  std::unique_ptr<Tracker> tracker_;            // with the near cache; outlives the loop thread
  std::unique_ptr<Transport> transport_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<ClusterRouter> router_;  // with a cluster, instead of executor_
  Dispatcher* dispatch_ = nullptr;         // executor_ or router_
  std::atomic<int> waiters_{0};            // blocking calls waiting for their reply
  // The spin's gate (see spin_until): usable CPUs, re-read when the clock passes spin_check_at_
  // (nanoseconds of the clock's epoch); a credit that misses spend and hits earn; and how many
  // waits to skip spinning after the credit ran out.
  std::atomic<unsigned> spin_cpus_{1};
  std::atomic<std::int64_t> spin_check_at_{0};
  static constexpr int kSpinCreditMax = 16, kSpinCreditProbe = 4, kSpinMissCost = 4;
  static constexpr int kSpinRest = 1024;
  std::atomic<int> spin_credit_{kSpinCreditProbe};
  std::atomic<int> spin_rest_{0};
  // executor_ once it exists, for the pool's "reachable again" callback on the loop thread.
  std::atomic<Executor*> reachable_{nullptr};
};

}  // namespace rcache::detail
