// Lock-free recording of every call's outcome and latency, and of every event counter declared
// in RCACHE_COUNTERS (rcache/stats.hpp), aggregated when read.
//
// Hot path: record() does a handful of relaxed atomic increments on one of kShards
// cache-line-separated shards (a thread keeps its shard), no locks, no allocation. Readers
// (stats(), the Prometheus collectable) sum the shards.
//
// Latency is kept twice: in fixed Prometheus buckets (cumulative, since start) per op, and in a
// rolling window of log-linear buckets (kSlots slots of kSlotSeconds) for percentiles.
//
// Thread safety: record() and every reader may run concurrently from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "metrics/log_histogram.hpp"
#include "rcache/error.hpp"
#include "rcache/resilience.hpp"
#include "rcache/stats.hpp"

namespace rcache::detail {

// What a call was, for metrics. `internal`: traffic rcache makes for its own purposes (the reads
// and writes inside get_or_load); it is not recorded as a user call at all.
enum class Op : std::uint8_t {
  get,
  set,
  del,
  unlink,
  exists,
  expire,
  ttl,
  incrby,
  mget,
  mset,
  ping,
  command,
  delete_pattern,
  get_or_load,
  hget,     // HGET, HMGET, HGETALL
  hset,     // HSET, HDEL, HINCRBY
  update,   // update_record
  batch,    // a Batch: pipelined or MULTI/EXEC
  script,   // Client::eval (EVALSHA, EVAL after NOSCRIPT)
  scan,     // a page of Client::scan, count_pattern's pages
  publish,  // PUBLISH
  other,
  internal
};
inline constexpr int kOps = static_cast<int>(Op::other) + 1;  // recorded ops (not internal)
std::string_view op_name(Op op) noexcept;
Op op_from_command(std::string_view name) noexcept;  // "GET" -> Op::get, ...

enum class ResultKind : std::uint8_t { hit, miss, ok, error };
inline constexpr int kResultKinds = 4;
std::string_view result_name(ResultKind k) noexcept;

inline constexpr int kErrcs = static_cast<int>(Errc::tls) + 1;

// Calls refused without touching Redis (disabled mode, an open breaker, the bulkhead): counted
// as errors, kept out of the latency histogram and window (0.3 us refusals would pull the
// quantiles down exactly when Redis is in trouble).
constexpr bool refused(Errc code) noexcept {
  return code == Errc::disabled || code == Errc::circuit_open || code == Errc::rejected;
}

// Where a get_or_load result came from (rcache_get_or_load_total{source}).
enum class LoadSource : std::uint8_t {
  cache,
  near_cache,
  near_cache_stale,
  negative_cache,
  loader,
  refreshed,
  stale,
  bypassed,
  error
};
inline constexpr int kLoadSources = static_cast<int>(LoadSource::error) + 1;
std::string_view load_source_name(LoadSource s) noexcept;

inline constexpr int kLoaderBuckets = static_cast<int>(kLoaderBounds.size()) + 1;
inline constexpr int kBreakerStates = static_cast<int>(BreakerState::disabled) + 1;

inline constexpr const auto& kPromBounds = kLatencyBounds;
inline constexpr int kPromBuckets = static_cast<int>(kPromBounds.size()) + 1;

// One enumerator per RCACHE_COUNTERS entry.
enum class Counter : std::uint8_t {
#define RCACHE_COUNTER_ENUM(field, group, key, family, label, help) field,
  RCACHE_COUNTERS(RCACHE_COUNTER_ENUM)
#undef RCACHE_COUNTER_ENUM
      count_  // not a counter: how many there are
};
inline constexpr int kCounters = static_cast<int>(Counter::count_);

class Metrics {
 public:
  static constexpr int kShards = 8;
  static constexpr int kSlots = 6;
  static constexpr std::int64_t kSlotSeconds = 10;  // window: 60 s

  Metrics() = default;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // `now` is the call's end time (the caller has it already: no extra clock read).
  void record(Op op, ResultKind kind, Errc code, std::chrono::nanoseconds latency,
              std::chrono::steady_clock::time_point now) noexcept;
  void breaker_transition(BreakerState from, BreakerState to) noexcept;
  void add(Counter c, std::uint64_t n = 1) noexcept;
  // A retry of a call of `op` (Op::internal counts as get_or_load: its reads and writes).
  void retried(Op op) noexcept;
  void load_result(LoadSource source) noexcept;
  // One run of a get_or_load loader, however it ended.
  void loader_ran(std::chrono::nanoseconds took) noexcept;

  // ---- readers (sum over shards) ----
  std::uint64_t requests(Op op, ResultKind k) const noexcept;
  std::uint64_t errors(Op op, Errc code) const noexcept;
  // Cumulative count per Prometheus bucket (last = +Inf), and the sum of latencies in seconds.
  std::array<std::uint64_t, kPromBuckets> latency_buckets(Op op) const noexcept;
  double latency_sum_seconds(Op op) const noexcept;
  // Log-linear histogram of the last kSlots * kSlotSeconds seconds, all ops.
  LogHistogram window(std::chrono::steady_clock::time_point now) const noexcept;
  double window_sum_ns(std::chrono::steady_clock::time_point now) const noexcept;
  std::uint64_t transitions(BreakerState from, BreakerState to) const noexcept;
  std::uint64_t count(Counter c) const noexcept;
  std::uint64_t retries(Op op) const noexcept;
  std::uint64_t load_results(LoadSource source) const noexcept;
  // Cumulative count per kLoaderBounds bucket (last = +Inf), and the sum in seconds.
  std::array<std::uint64_t, kLoaderBuckets> loader_buckets() const noexcept;
  double loader_sum_seconds() const noexcept;

 private:
  struct Slot {
    std::atomic<std::int64_t> epoch{-1};
    std::atomic<std::uint64_t> sum_ns{0};
    std::array<std::atomic<std::uint64_t>, LogBuckets::kCount> counts{};
  };
  struct alignas(64) Shard {
    std::array<std::array<std::atomic<std::uint64_t>, kResultKinds>, kOps> requests{};
    std::array<std::array<std::atomic<std::uint64_t>, kErrcs>, kOps> errors{};
    std::array<std::array<std::atomic<std::uint64_t>, kPromBuckets>, kOps> buckets{};
    std::array<std::atomic<std::uint64_t>, kOps> sum_ns{};
    std::array<Slot, kSlots> slots{};
    std::array<std::atomic<std::uint64_t>, kCounters> counters{};
    std::array<std::atomic<std::uint64_t>, kOps> retries{};
    std::array<std::atomic<std::uint64_t>, kLoadSources> load_results{};
    std::array<std::atomic<std::uint64_t>, kLoaderBuckets> loader_buckets{};
    std::atomic<std::uint64_t> loader_ns{0};
  };
  static int my_shard() noexcept;
  static std::int64_t epoch_of(std::chrono::steady_clock::time_point t) noexcept;

  std::array<Shard, kShards> shards_{};
  std::array<std::array<std::atomic<std::uint64_t>, kBreakerStates>, kBreakerStates> transitions_{};
};

}  // namespace rcache::detail
