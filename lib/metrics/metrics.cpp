// The metrics recorder: sharded relaxed atomics written per call, summed when read.
#include "metrics/metrics.hpp"

namespace rcache::detail {

namespace {
constexpr std::memory_order relaxed = std::memory_order_relaxed;
std::atomic<unsigned> g_next_shard{0};
}  // namespace

std::string_view op_name(Op op) noexcept {
  switch (op) {
    case Op::get:
      return "get";
    case Op::set:
      return "set";
    case Op::del:
      return "del";
    case Op::unlink:
      return "unlink";
    case Op::exists:
      return "exists";
    case Op::expire:
      return "expire";
    case Op::ttl:
      return "ttl";
    case Op::incrby:
      return "incrby";
    case Op::mget:
      return "mget";
    case Op::mset:
      return "mset";
    case Op::ping:
      return "ping";
    case Op::command:
      return "command";
    case Op::hget:
      return "hget";
    case Op::hset:
      return "hset";
    case Op::update:
      return "update";
    case Op::batch:
      return "batch";
    case Op::script:
      return "script";
    case Op::scan:
      return "scan";
    case Op::publish:
      return "publish";
    case Op::delete_pattern:
      return "delete_pattern";
    case Op::get_or_load:
      return "get_or_load";
    case Op::other:
      return "other";
    case Op::internal:
      return "internal";
  }
  return "other";
}

Op op_from_command(std::string_view n) noexcept {
  if (n == "GET" || n == "GETEX") return Op::get;
  if (n == "SET") return Op::set;
  if (n == "DEL") return Op::del;
  if (n == "UNLINK") return Op::unlink;
  if (n == "EXISTS") return Op::exists;
  if (n == "PEXPIRE") return Op::expire;
  if (n == "PTTL") return Op::ttl;
  if (n == "INCRBY") return Op::incrby;
  if (n == "MGET") return Op::mget;
  if (n == "MSET") return Op::mset;
  if (n == "PING") return Op::ping;
  if (n == "command") return Op::command;
  if (n == "HGET" || n == "HMGET" || n == "HGETALL") return Op::hget;
  if (n == "HSET" || n == "HDEL" || n == "HINCRBY") return Op::hset;
  if (n == "EVALSHA" || n == "EVAL") return Op::script;
  if (n == "SCAN") return Op::scan;
  if (n == "PUBLISH") return Op::publish;
  return Op::other;
}

std::string_view result_name(ResultKind k) noexcept {
  switch (k) {
    case ResultKind::hit:
      return "hit";
    case ResultKind::miss:
      return "miss";
    case ResultKind::ok:
      return "ok";
    case ResultKind::error:
      return "error";
  }
  return "error";
}

std::string_view load_source_name(LoadSource s) noexcept {
  switch (s) {
    case LoadSource::cache:
      return "cache";
    case LoadSource::near_cache:
      return "near_cache";
    case LoadSource::near_cache_stale:
      return "near_cache_stale";
    case LoadSource::negative_cache:
      return "negative_cache";
    case LoadSource::loader:
      return "loader";
    case LoadSource::refreshed:
      return "refreshed";
    case LoadSource::stale:
      return "stale";
    case LoadSource::bypassed:
      return "bypassed";
    case LoadSource::error:
      return "error";
  }
  return "error";
}

int Metrics::my_shard() noexcept {
  thread_local const int shard = static_cast<int>(g_next_shard.fetch_add(1, relaxed) % kShards);
  return shard;
}

std::int64_t Metrics::epoch_of(std::chrono::steady_clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count() /
         kSlotSeconds;
}

void Metrics::record(Op op, ResultKind kind, Errc code, std::chrono::nanoseconds latency,
                     std::chrono::steady_clock::time_point now) noexcept {
  if (op == Op::internal) return;
  Shard& s = shards_[static_cast<std::size_t>(my_shard())];
  const auto o = static_cast<std::size_t>(op);
  s.requests[o][static_cast<std::size_t>(kind)].fetch_add(1, relaxed);
  if (kind == ResultKind::error) s.errors[o][static_cast<std::size_t>(code)].fetch_add(1, relaxed);
  if (kind == ResultKind::error && refused(code)) return;
  const auto ns = static_cast<std::uint64_t>(latency.count() > 0 ? latency.count() : 0);
  const double seconds = static_cast<double>(ns) * 1e-9;
  std::size_t b = 0;
  while (b < kPromBounds.size() && seconds > kPromBounds[b]) ++b;
  s.buckets[o][b].fetch_add(1, relaxed);
  s.sum_ns[o].fetch_add(ns, relaxed);

  const std::int64_t epoch = epoch_of(now);
  Slot& slot = s.slots[static_cast<std::size_t>(epoch % kSlots)];
  std::int64_t seen = slot.epoch.load(std::memory_order_acquire);
  if (seen != epoch) {
    // First record of a new period in this slot: reset it. Losing a concurrent increment or two
    // at the boundary is accepted (the window is an estimate; the totals above are exact).
    if (seen < epoch && slot.epoch.compare_exchange_strong(seen, epoch)) {
      for (auto& c : slot.counts) c.store(0, relaxed);
      slot.sum_ns.store(0, relaxed);
    }
  }
  slot.counts[static_cast<std::size_t>(LogBuckets::index(ns))].fetch_add(1, relaxed);
  slot.sum_ns.fetch_add(ns, relaxed);
}

void Metrics::breaker_transition(BreakerState from, BreakerState to) noexcept {
  transitions_[static_cast<std::size_t>(from)][static_cast<std::size_t>(to)].fetch_add(1, relaxed);
}

std::uint64_t Metrics::requests(Op op, ResultKind k) const noexcept {
  std::uint64_t n = 0;
  for (const auto& s : shards_) {
    n += s.requests[static_cast<std::size_t>(op)][static_cast<std::size_t>(k)].load(relaxed);
  }
  return n;
}

std::uint64_t Metrics::errors(Op op, Errc code) const noexcept {
  std::uint64_t n = 0;
  for (const auto& s : shards_) {
    n += s.errors[static_cast<std::size_t>(op)][static_cast<std::size_t>(code)].load(relaxed);
  }
  return n;
}

std::array<std::uint64_t, kPromBuckets> Metrics::latency_buckets(Op op) const noexcept {
  std::array<std::uint64_t, kPromBuckets> out{};
  for (const auto& s : shards_) {
    for (std::size_t b = 0; b < out.size(); ++b) {
      out[b] += s.buckets[static_cast<std::size_t>(op)][b].load(relaxed);
    }
  }
  for (std::size_t b = 1; b < out.size(); ++b) out[b] += out[b - 1];  // cumulative
  return out;
}

double Metrics::latency_sum_seconds(Op op) const noexcept {
  std::uint64_t ns = 0;
  for (const auto& s : shards_) ns += s.sum_ns[static_cast<std::size_t>(op)].load(relaxed);
  return static_cast<double>(ns) * 1e-9;
}

LogHistogram Metrics::window(std::chrono::steady_clock::time_point now) const noexcept {
  LogHistogram h;
  const std::int64_t epoch = epoch_of(now);
  for (const auto& s : shards_) {
    for (const auto& slot : s.slots) {
      const std::int64_t e = slot.epoch.load(std::memory_order_acquire);
      if (e < 0 || e > epoch || e <= epoch - kSlots) continue;
      for (std::size_t i = 0; i < slot.counts.size(); ++i) {
        const std::uint64_t c = slot.counts[i].load(relaxed);
        h.counts[i] += c;
        h.total += c;
      }
    }
  }
  return h;
}

double Metrics::window_sum_ns(std::chrono::steady_clock::time_point now) const noexcept {
  double sum = 0;
  const std::int64_t epoch = epoch_of(now);
  for (const auto& s : shards_) {
    for (const auto& slot : s.slots) {
      const std::int64_t e = slot.epoch.load(std::memory_order_acquire);
      if (e < 0 || e > epoch || e <= epoch - kSlots) continue;
      sum += static_cast<double>(slot.sum_ns.load(relaxed));
    }
  }
  return sum;
}

void Metrics::add(Counter c, std::uint64_t n) noexcept {
  shards_[static_cast<std::size_t>(my_shard())].counters[static_cast<std::size_t>(c)].fetch_add(
      n, relaxed);
}

std::uint64_t Metrics::count(Counter c) const noexcept {
  std::uint64_t n = 0;
  for (const auto& s : shards_) n += s.counters[static_cast<std::size_t>(c)].load(relaxed);
  return n;
}

void Metrics::retried(Op op) noexcept {
  const auto o = static_cast<std::size_t>(op == Op::internal ? Op::get_or_load : op);
  shards_[static_cast<std::size_t>(my_shard())].retries[o].fetch_add(1, relaxed);
}

void Metrics::load_result(LoadSource source) noexcept {
  shards_[static_cast<std::size_t>(my_shard())]
      .load_results[static_cast<std::size_t>(source)]
      .fetch_add(1, relaxed);
}

void Metrics::loader_ran(std::chrono::nanoseconds took) noexcept {
  Shard& s = shards_[static_cast<std::size_t>(my_shard())];
  const auto ns = static_cast<std::uint64_t>(took.count() > 0 ? took.count() : 0);
  const double seconds = static_cast<double>(ns) * 1e-9;
  std::size_t b = 0;
  while (b < kLoaderBounds.size() && seconds > kLoaderBounds[b]) ++b;
  s.loader_buckets[b].fetch_add(1, relaxed);
  s.loader_ns.fetch_add(ns, relaxed);
}

std::uint64_t Metrics::retries(Op op) const noexcept {
  std::uint64_t n = 0;
  for (const auto& s : shards_) n += s.retries[static_cast<std::size_t>(op)].load(relaxed);
  return n;
}

std::uint64_t Metrics::load_results(LoadSource source) const noexcept {
  std::uint64_t n = 0;
  for (const auto& s : shards_) n += s.load_results[static_cast<std::size_t>(source)].load(relaxed);
  return n;
}

std::array<std::uint64_t, kLoaderBuckets> Metrics::loader_buckets() const noexcept {
  std::array<std::uint64_t, kLoaderBuckets> out{};
  for (const auto& s : shards_) {
    for (std::size_t b = 0; b < out.size(); ++b) out[b] += s.loader_buckets[b].load(relaxed);
  }
  for (std::size_t b = 1; b < out.size(); ++b) out[b] += out[b - 1];  // cumulative
  return out;
}

double Metrics::loader_sum_seconds() const noexcept {
  std::uint64_t ns = 0;
  for (const auto& s : shards_) ns += s.loader_ns.load(relaxed);
  return static_cast<double>(ns) * 1e-9;
}

std::uint64_t Metrics::transitions(BreakerState from, BreakerState to) const noexcept {
  return transitions_[static_cast<std::size_t>(from)][static_cast<std::size_t>(to)].load(relaxed);
}

}  // namespace rcache::detail
