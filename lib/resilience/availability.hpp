// THE owner of degraded behaviour: what rcache does when Redis is down, in one place.
//
//   start-up    decide_start(): Redis reached within connect_timeout -> serve; not reached ->
//               fail_fast: Client::create fails; auth refused: calls keep failing with Errc::auth
//               (a configuration error, not an absent Redis); otherwise the client is disabled.
//   disabled    every call is refused at once with Errc::disabled (counted), and the pool
//               reconnects on the slower probe schedule (probe_min..probe_max) instead of the
//               reconnect schedule; the first ready connection enables the client (logged).
//   outage      once Redis has been reached, later outages are the breaker's (Errc::circuit_open)
//               and the transport's (Errc::connection / timeout); see the executor.
//   local mode  get/set/del that could not use Redis (unavailable()) are answered from a bounded
//               in-process store (counted as fallback_served).
//   recovery    when the pool goes from no ready connection to one, or the breaker closes, the
//               local store is cleared: nothing written during an outage is read back after it.
//
// THE LOCAL-MODE INVARIANT: every entry of the local store was written by a call that failed to
// reach Redis, and no call that started before it has been answered by Redis since. So a value
// is never read locally once Redis has answered again: the first successful reply from Redis
// (any command: a write, a delete, a read) clears the store (on_answered()), and a fallback
// write whose call started before the last successful reply is not stored at all (its call
// returns its own error instead). A short stall that no pool or breaker event marked as an
// outage is covered too: the next success clears what it left. The price: during a partial
// outage (some calls answered, some not) local entries live only until the next answer, and a
// read there misses rather than risk a stale value. Deletes always apply locally.
//   reporting   disabled(), up() and disabled_reason() are what health() and rcache_up read.
//
// Thread safety: every member may be called from any thread; on_pool_available() and
// on_breaker_change() run on the thread that observed the change (usually the loop thread).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/backoff.hpp"
#include "base/clock.hpp"
#include "base/log.hpp"
#include "metrics/metrics.hpp"
#include "rcache/config.hpp"
#include "rcache/types.hpp"
#include "resilience/local_store.hpp"
#include "resilience/near_cache.hpp"
#include "transport/pool.hpp"

namespace rcache::detail {

// What Client::create does after giving the pool its connect timeout. Pure.
struct StartDecision {
  enum class Action { serve, disable, keep_auth_errors, fail };
  Action action = Action::serve;
  std::optional<Error> error;  // for `fail`: what create() returns
};
StartDecision decide_start(DegradedMode mode, bool reached, const Error& last_error,
                           const std::string& endpoint);

class Availability {
 public:
  Availability(const Config& cfg, const Logger& logger, Metrics& metrics, const ClockSource& clock);
  Availability(const Availability&) = delete;
  Availability& operator=(const Availability&) = delete;

  // The pool whose schedule this class drives and whose state it reads. Before attach() the
  // client counts as not reached.
  void attach(Pool& pool) noexcept;

  // Applies the start-up decision; an Error is what Client::create returns.
  Result<void> start(bool reached);

  bool disabled() const noexcept { return disabled_.load(std::memory_order_acquire); }
  // The refusal of a call while disabled (counted); nullopt when calls may go ahead.
  std::optional<Error> refusal(const char* cmd);
  std::string disabled_reason() const;
  // rcache_up: a connection is ready and the client is not disabled.
  bool up() const noexcept;

  // The pool went from no ready connection to one.
  void on_pool_available();
  void on_breaker_change(BreakerState from, BreakerState to);

  // ---- local mode ----
  bool local_mode() const noexcept { return local_ != nullptr; }
  // True when `e` should be answered from the local store instead (local mode, Redis unusable).
  bool falls_back(const Error& e) const noexcept;
  Result<std::optional<std::string>> local_get(std::string_view key);
  // `started`: when the call began; `failed`: its error, returned when the write may not be
  // stored because Redis answered something since the call began.
  Result<bool> local_set(std::string_view key, std::string_view value, const SetOptions& o,
                         TimePoint started, Error failed);
  Result<std::int64_t> local_del(const std::vector<std::string>& keys);
  LocalStore* local_store() noexcept { return local_.get(); }

  // ---- near cache ----
  // The near cache (Config::near_cache_bytes > 0), else nullptr.
  NearCache* near_cache() noexcept { return near_.get(); }
  const NearCache* near_cache() const noexcept { return near_.get(); }
  // Redis answered a call successfully (the executor, on every success): local entries are stale
  // from now on.
  void on_answered(TimePoint now) {
    last_answer_.store(now.time_since_epoch().count());
    if (local_written_.load()) clear_local();
  }

 private:
  void set_disabled(bool on);
  void recovered();
  void clear_local();

  const Config& cfg_;
  const Logger& logger_;
  Metrics& metrics_;
  std::unique_ptr<LocalStore> local_;
  std::unique_ptr<NearCache> near_;
  std::atomic<Pool*> pool_{nullptr};
  std::atomic<bool> disabled_{false};
  // The local-mode invariant (seq_cst on purpose: on_answered() writes last_answer_ then reads
  // local_written_, local_set() writes local_written_ then reads last_answer_, so at least one
  // of them sees the other; local_mu_ orders the store and the clear).
  std::atomic<TimePoint::rep> last_answer_{TimePoint::min().time_since_epoch().count()};
  std::atomic<bool> local_written_{false};
  std::mutex local_mu_;
};

}  // namespace rcache::detail
