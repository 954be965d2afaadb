// The machinery behind Client: owns the transport and the executor, and turns a Command's
// Outcome into a Result<T> for the blocking, callback and future forms alike.
//
// Thread safety: as Client.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>

#include "log.hpp"
#include "rcache/client.hpp"
#include "resilience/clock.hpp"
#include "resilience/executor.hpp"
#include "resilience/local_store.hpp"
#include "transport.hpp"
#include "values/cache_aside.hpp"
#include "values/envelope.hpp"

namespace rcache::detail {

// Raw GET (+ PTTL) for get_or_load.
struct RawRead {
  std::optional<std::string> raw;
  std::int64_t pttl_ms = -3;  // -3: not asked
};

class ClientCore {
 public:
  static Result<std::unique_ptr<ClientCore>> create(Config cfg) {
    std::unique_ptr<ClientCore> core(new ClientCore(std::move(cfg)));
    ClientCore* self = core.get();
    if (core->cfg_.degraded_mode == DegradedMode::local) {
      core->local_ = std::make_unique<LocalStore>(core->cfg_.local_max_bytes,
                                                  SteadyClock::instance());
    }
    // Redis reachable again (pool or breaker): drop what was stored locally during the outage.
    auto recovered = [self] {
      if (self->local_) self->local_->clear();
    };
    auto transport = Transport::create(core->cfg_, core->logger_, recovered);
    if (!transport) return std::move(transport).error();
    core->transport_ = std::move(*transport);
    core->executor_ = std::make_unique<Executor>(
        core->cfg_, *core->transport_, SteadyClock::instance(), core->logger_,
        core->transport_->endpoint(), [recovered, self](BreakerState from, BreakerState to) {
          self->metrics_->breaker_transition(from, to);
          if (to == BreakerState::closed) recovered();
          if (self->cfg_.on_breaker_change) self->cfg_.on_breaker_change(from, to);
        });
    // Start-up: give the pool its connect timeout to reach Redis, then apply the mode.
    const bool up = core->transport_->wait_first_outcome(core->cfg_.connect_timeout +
                                                         std::chrono::milliseconds(100));
    if (!up) {
      const Error last = core->transport_->last_error();
      const std::string why = last.to_string();
      const std::string where = core->transport_->endpoint();
      if (core->cfg_.degraded_mode == DegradedMode::fail_fast) {
        return Error{last.code == Errc::auth ? Errc::auth : Errc::connection,
                     "redis " + where + " unreachable at start-up (" + why +
                         ") and degraded_mode is fail_fast"};
      }
      // Refused credentials are a configuration error, not an absent Redis: calls keep failing
      // with Errc::auth, which says so, rather than a generic `disabled`.
      if (last.code == Errc::auth) return core;
      core->transport_->disable_unless_ready();
      if (core->transport_->disabled()) {
        core->logger_.log(LogLevel::warning,
                          "redis " + where + " unreachable at start-up (" + why +
                              "): client disabled (" +
                              std::string(to_string(core->cfg_.degraded_mode)) +
                              " mode), probing in the background");
      }
    }
    return core;
  }

  ~ClientCore() {
    transport_.reset();  // fails and completes everything pending, joins the loop thread
    executor_.reset();   // only then: completions reach into the executor
  }

  const Config& config() const noexcept { return cfg_; }
  Transport& transport() noexcept { return *transport_; }
  Executor& executor() noexcept { return *executor_; }
  LocalStore* local() noexcept { return local_.get(); }
  std::atomic<std::uint64_t>& fallback_served() noexcept { return fallback_served_; }

  Command make_command(const char* name) const {
    Command c;
    c.name = name;
    c.op = op_from_command(name);
    return c;
  }

  Metrics& metrics() noexcept { return *metrics_; }
  const EnvelopeOptions& envelope() const noexcept { return envelope_; }
  CacheAside& cache_aside() noexcept { return cache_aside_; }

  // Encodes a value for storage, counting what compression saved. Store e.view(value).
  Encoded encode(std::string_view value) {
    Encoded e = encode_value(value, envelope_);
    if (e.compressed) {
      compressed_in_.fetch_add(value.size(), std::memory_order_relaxed);
      compressed_out_.fetch_add(e.bytes.size(), std::memory_order_relaxed);
    }
    return e;
  }
  Result<std::string> decode(std::string&& stored, std::string_view key) {
    return decode_value(std::move(stored), envelope_, key);
  }
  std::uint64_t compressed_in() const noexcept { return compressed_in_.load(); }
  std::uint64_t compressed_out() const noexcept { return compressed_out_.load(); }

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

  template <class T>
  void record(Op op, const Result<T>& r, Clock::time_point start) noexcept {
    const auto now = Clock::now();
    metrics_->record(op, kind_of(r), r.ok() ? Errc{} : r.error().code, now - start, now);
  }

  // Blocking form: parse runs on the calling thread.
  template <class T, class Parse>
  Result<T> call(Command&& cmd, Parse parse) {
    if (std::this_thread::get_id() == transport_->loop_thread()) {
      return Error{Errc::invalid_argument,
                   std::string(cmd.name) +
                       ": blocking call from an rcache callback would deadlock; use the async form"};
    }
    const auto start = Clock::now();
    const Op op = cmd.op;
    struct Slot {
      std::mutex mu;
      std::condition_variable cv;
      bool done = false;
      std::atomic<bool> ready{false};
      Outcome out;
    } slot;
    waiters_.fetch_add(1, std::memory_order_relaxed);
    executor_->execute(std::move(cmd), [&slot](Outcome&& o) {
      std::lock_guard lock(slot.mu);  // notify under the lock: `slot` dies as soon as we unlock
      slot.out = std::move(o);
      slot.done = true;
      slot.ready.store(true, std::memory_order_release);
      slot.cv.notify_one();
    });
    spin_until(slot.ready);
    {
      std::unique_lock lock(slot.mu);
      slot.cv.wait(lock, [&] { return slot.done; });
    }
    waiters_.fetch_sub(1, std::memory_order_relaxed);
    Result<T> r = slot.out.error ? Result<T>(std::move(*slot.out.error)) : parse(slot.out);
    record(op, r, start);
    return r;
  }

  // Callback form: parse and cb run on the loop thread (or at once on the calling thread when
  // the call is refused before reaching the transport).
  template <class T, class Parse>
  void call_async(Command&& cmd, Parse parse, Callback<T> cb) {
    const Op op = cmd.op;
    executor_->execute(std::move(cmd), [this, op, start = Clock::now(), parse = std::move(parse),
                                        cb = std::move(cb)](Outcome&& o) {
      Result<T> r = o.error ? Result<T>(std::move(*o.error)) : parse(o);
      record(op, r, start);
      if (cb) cb(std::move(r));
    });
  }

  template <class T, class Parse>
  std::future<Result<T>> call_future(Command&& cmd, Parse parse) {
    auto promise = std::make_shared<std::promise<Result<T>>>();
    auto future = promise->get_future();
    call_async<T>(std::move(cmd), std::move(parse),
                  Callback<T>([promise](Result<T> r) { promise->set_value(std::move(r)); }));
    return future;
  }

 private:
  explicit ClientCore(Config cfg)
      : cfg_(std::move(cfg)), logger_(cfg_.log_sink, cfg_.log_level),
        metrics_(std::make_unique<Metrics>()),
        envelope_{cfg_.compression, cfg_.compression_threshold, cfg_.compression_level, 0.10,
                  cfg_.max_decompressed_size, cfg_.legacy_hex} {}

  // Adaptive wait: a reply on loopback often arrives within tens of microseconds, sooner than a
  // sleeping thread can be woken. A caller that is the client's only blocking waiter spins for up
  // to Config::blocking_spin before it sleeps, and stops as soon as another waiter appears; with
  // many blocking threads nobody spins, so they do not burn the cores that the loop thread and
  // the server need.
  void spin_until(const std::atomic<bool>& ready) {
    if (cfg_.blocking_spin.count() <= 0) return;
    if (waiters_.load(std::memory_order_relaxed) != 1) return;
    const auto until = Clock::now() + cfg_.blocking_spin;
    for (unsigned i = 1; !ready.load(std::memory_order_acquire); ++i) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
      if ((i & 63) == 0 &&
          (waiters_.load(std::memory_order_relaxed) != 1 || Clock::now() >= until)) {
        break;
      }
    }
  }

  const Config cfg_;
  const Logger logger_;
  std::unique_ptr<Metrics> metrics_;
  const EnvelopeOptions envelope_;
  CacheAside cache_aside_;
  std::atomic<std::uint64_t> compressed_in_{0}, compressed_out_{0};
  std::unique_ptr<LocalStore> local_;  // `local` mode only; outlives transport_ and executor_
  std::unique_ptr<Transport> transport_;
  std::unique_ptr<Executor> executor_;
  std::atomic<std::uint64_t> fallback_served_{0};
  std::atomic<int> waiters_{0};  // blocking calls waiting for their reply
};

}  // namespace rcache::detail
