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
//   local mode  the near cache (resilience/near_cache.hpp, on in this mode even with
//               near_cache_bytes 0, sized local_max_bytes) also answers get/set/del that could
//               not use Redis (unavailable()): a read gets the copy within max_stale, else a
//               miss; a write or delete is applied to the copy (NearCache::end_outage_write).
//               Counted as fallback_served. One store, one set of rules: the near cache's.
//   recovery    a copy written during an outage is served only to calls that cannot use Redis,
//               and goes as soon as Redis answers for its key (a read, an own write, an
//               invalidation), coherence returns (the end of its epoch), or the outage ends
//               (the pool has a connection again or the breaker closes: outage_ended()):
//               nothing written during an outage is read back once Redis answers again.
//
// THE INVARIANT is the near cache's (near_cache.hpp): while coherent, a value is never served
// after Redis acknowledged a newer write to it plus the invalidation delivery time; while not
// coherent, only to calls that could not use Redis, and never more than max_stale past its
// freshness.
//   reporting   disabled(), up() and disabled_reason() are what health() and rcache_up read.
//
// Thread safety: every member may be called from any thread; on_pool_available() and
// on_breaker_change() run on the thread that observed the change (usually the loop thread).
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/backoff.hpp"
#include "base/clock.hpp"
#include "base/log.hpp"
#include "metrics/metrics.hpp"
#include "rcache/config.hpp"
#include "rcache/types.hpp"
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
  void attach(Reachability& pool) noexcept;

  // Applies the start-up decision; an Error is what Client::create returns.
  Result<void> start(bool reached);

  bool disabled() const noexcept { return disabled_.load(std::memory_order_acquire); }
  // The refusal of a call while disabled (counted); nullopt when calls may go ahead.
  std::optional<Error> refusal(const char* cmd);
  std::string disabled_reason() const;
  // rcache_up: a connection is ready and the client is not disabled.
  bool up() const noexcept;

  // The pool went from no ready connection to one.
  // Both end an outage: this client's outage writes are no longer served (local mode).
  void on_pool_available();
  void on_breaker_change(BreakerState from, BreakerState to);

  // ---- local mode ----
  bool local_mode() const noexcept { return local_; }
  // True when `e` should be answered from the near cache instead (local mode, Redis unusable).
  bool falls_back(const Error& e) const noexcept;
  // A read that could not use Redis and found no copy: a miss (counted).
  std::optional<std::string> local_miss();
  // A SET that could not reach Redis: kept as this client's copy (`token` from
  // NearCache::begin_outage_write before it was sent), following the SET's condition. `failed`
  // is returned when the copy may not be kept (the key was invalidated while the write ran).
  Result<bool> local_set(const std::string& near_key, const NearCache::FillToken& token,
                         std::string_view value, const SetOptions& o, Error failed);
  // A DEL that could not reach Redis: the copies go; the count is how many there were.
  Result<std::int64_t> local_del(const std::vector<std::string>& near_keys,
                                 const std::vector<NearCache::FillToken>& tokens);

  // ---- near cache ----
  // The near cache (Config::near_cache_bytes > 0, or local mode), else nullptr.
  NearCache* near_cache() noexcept { return near_.get(); }
  const NearCache* near_cache() const noexcept { return near_.get(); }

 private:
  void set_disabled(bool on);

  const Config& cfg_;
  const Logger& logger_;
  Metrics& metrics_;
  const bool local_;
  std::unique_ptr<NearCache> near_;
  std::atomic<Reachability*> pool_{nullptr};
  std::atomic<bool> disabled_{false};
};

}  // namespace rcache::detail
