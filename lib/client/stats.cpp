// Client::stats(): a snapshot of the recorder, the counters, the breaker and the pool.
#include "client/core.hpp"
#include "rcache/client.hpp"

namespace rcache {

using detail::Op;
using detail::ResultKind;

Stats Client::stats() const {
  const auto& m = core_->metrics();
  Stats s;
  for (int i = 0; i < detail::kOps; ++i) {
    const auto op = static_cast<Op>(i);
    OpStats o;
    o.op = std::string(detail::op_name(op));
    o.hits = m.requests(op, ResultKind::hit);
    o.misses = m.requests(op, ResultKind::miss);
    o.ok = m.requests(op, ResultKind::ok);
    o.errors = m.requests(op, ResultKind::error);
    o.calls = o.hits + o.misses + o.ok + o.errors;
    o.retries = m.retries(op);
    for (int e = 1; e < detail::kErrcs; ++e) {
      const auto n = m.errors(op, static_cast<Errc>(e));
      if (n > 0) o.errors_by_kind.emplace_back(std::string(to_string(static_cast<Errc>(e))), n);
    }
    const auto buckets = m.latency_buckets(op);
    o.latency_buckets.assign(buckets.begin(), buckets.end());
    o.latency_sum_seconds = m.latency_sum_seconds(op);
    s.requests += o.calls;
    s.errors += o.errors;
    if (op == Op::get || op == Op::get_or_load) {
      s.hits += o.hits;
      s.misses += o.misses;
    }
    s.ops.push_back(std::move(o));
  }
  s.hit_rate = s.hits + s.misses > 0
                   ? static_cast<double>(s.hits) / static_cast<double>(s.hits + s.misses)
                   : 0.0;
  for (int e = 1; e < detail::kErrcs; ++e) {
    std::uint64_t n = 0;
    for (int i = 0; i < detail::kOps; ++i) n += m.errors(static_cast<Op>(i), static_cast<Errc>(e));
    if (n > 0) s.errors_by_kind.emplace_back(std::string(to_string(static_cast<Errc>(e))), n);
  }
  const auto now = core_->clock().now();
  const detail::LogHistogram w = m.window(now);
  s.latency.samples = w.total;
  s.latency.window_seconds =
      static_cast<int>(detail::Metrics::kSlots * detail::Metrics::kSlotSeconds);
  if (w.total > 0) {
    s.latency.p50_ms = w.quantile(0.50) / 1e6;
    s.latency.p90_ms = w.quantile(0.90) / 1e6;
    s.latency.p99_ms = w.quantile(0.99) / 1e6;
    s.latency.p999_ms = w.quantile(0.999) / 1e6;
    s.latency.avg_ms = m.window_sum_ns(now) / static_cast<double>(w.total) / 1e6;
  }
#define RCACHE_STATS_COPY(field, group, key, family, label, help) \
  s.field = m.count(detail::Counter::field);
  RCACHE_COUNTERS(RCACHE_STATS_COPY)
#undef RCACHE_STATS_COPY
  for (int i = 0; i < detail::kLoadSources; ++i) {
    const auto src = static_cast<detail::LoadSource>(i);
    s.get_or_load_sources.emplace_back(std::string(detail::load_source_name(src)),
                                       m.load_results(src));
  }
  const auto loader = m.loader_buckets();
  s.loader_buckets.assign(loader.begin(), loader.end());
  s.loader_seconds = m.loader_sum_seconds();
  s.compression_ratio = s.compressed_bytes_in > 0 ? static_cast<double>(s.compressed_bytes_out) /
                                                        static_cast<double>(s.compressed_bytes_in)
                                                  : 0.0;
  s.breaker = breaker_state();
  for (int a = 0; a < detail::kBreakerStates; ++a) {
    for (int b = 0; b < detail::kBreakerStates; ++b) {
      const auto from = static_cast<BreakerState>(a);
      const auto to = static_cast<BreakerState>(b);
      const auto n = m.transitions(from, to);
      if (n == 0) continue;
      s.breaker_transitions += n;
      s.transitions.push_back(BreakerTransition{from, to, n});
    }
  }
  const PoolStatus pool = pool_status();
  s.connections_ready = pool.ready;
  s.connections_connecting = pool.connecting;
  s.connections_down = pool.down;
  s.reconnects = pool.reconnects;
  s.tls_handshakes = pool.tls_handshakes;
  s.tls_resumed = pool.tls_resumed;
  s.master_switches = pool.master_switches;
  if (const detail::NearCache* near = core_->availability().near_cache()) {
    const detail::NearCacheCounts c = near->counts();
    auto& n = s.near_cache;
    n.enabled = true;
    n.coherent = near->coherent();
    n.hits = c.hits;
    n.misses = c.misses;
    n.stale_served = c.stale_served;
    n.fills = c.fills;
    n.fills_refused = c.fills_refused;
    n.invalidations = c.invalidations;
    n.evictions = c.evictions;
    n.flushes_lost = c.flushes_lost;
    n.flushes_flushall = c.flushes_flushall;
    n.bytes = c.bytes;
    n.entries = c.entries;
    n.pending_keys = c.pending_keys;
  }
  s.discovery_failures = pool.discovery_failures;
  if (const auto* router = core_->cluster()) {
    auto& c = s.cluster;
    c.enabled = true;
    c.moved = router->redirections(false);
    c.ask = router->redirections(true);
    c.refreshes = router->topology().refreshes();
    if (auto v = router->topology().view()) c.map_changes = v->version;
    for (auto& n : router->node_health()) {
      c.nodes.push_back({std::move(n.address), std::move(n.role), n.breaker, n.ready});
    }
  }
  s.up = core_->availability().up() && s.breaker != BreakerState::open &&
         s.breaker != BreakerState::forced_open;
  s.client = core_->metrics_label();
  return s;
}

}  // namespace rcache
