// Client::stats() and Stats::to_json().
#include <cstdio>

#include "client_access.hpp"
#include "json.hpp"
#include "rcache/stats.hpp"

namespace rcache {

using detail::ClientAccess;
using detail::Op;
using detail::ResultKind;

Stats Client::stats() const {
  auto& core = ClientAccess::core(*this);
  const auto& m = core.metrics();
  Stats s;
  for (int i = 0; i < detail::kOps; ++i) {
    const auto op = static_cast<Op>(i);
    OpStats o;
    o.op = std::string(detail::op_name(op));
    for (int k = 0; k < detail::kResultKinds; ++k) {
      o.calls += m.requests(op, static_cast<ResultKind>(k));
    }
    o.errors = m.requests(op, ResultKind::error);
    s.requests += o.calls;
    s.errors += o.errors;
    if (o.calls > 0) s.ops.push_back(std::move(o));
  }
  s.hits = m.requests(Op::get, ResultKind::hit);
  s.misses = m.requests(Op::get, ResultKind::miss);
  s.hit_rate = s.hits + s.misses > 0
                   ? static_cast<double>(s.hits) / static_cast<double>(s.hits + s.misses)
                   : 0.0;
  for (int e = 1; e < detail::kErrcs; ++e) {
    std::uint64_t n = 0;
    for (int i = 0; i < detail::kOps; ++i) n += m.errors(static_cast<Op>(i), static_cast<Errc>(e));
    if (n > 0) s.errors_by_kind.emplace_back(std::string(to_string(static_cast<Errc>(e))), n);
  }
  const auto now = std::chrono::steady_clock::now();
  const detail::LogHistogram w = m.window(now);
  s.latency.samples = w.total;
  s.latency.window_seconds = static_cast<int>(detail::Metrics::kSlots * detail::Metrics::kSlotSeconds);
  if (w.total > 0) {
    s.latency.p50_ms = w.quantile(0.50) / 1e6;
    s.latency.p90_ms = w.quantile(0.90) / 1e6;
    s.latency.p99_ms = w.quantile(0.99) / 1e6;
    s.latency.p999_ms = w.quantile(0.999) / 1e6;
    s.latency.avg_ms = m.window_sum_ns(now) / static_cast<double>(w.total) / 1e6;
  }
  const auto& c = core.executor().counters();
  s.retries = c.retries.load(std::memory_order_relaxed);
  s.retry_budget_exhausted = c.budget_exhausted.load(std::memory_order_relaxed);
  s.rejected_bulkhead = c.rejected.load(std::memory_order_relaxed);
  s.rejected_circuit_open = c.circuit_open.load(std::memory_order_relaxed);
  s.rejected_disabled = c.disabled.load(std::memory_order_relaxed);
  s.fallback_served = core.fallback_served().load(std::memory_order_relaxed);
  s.breaker = breaker_state();
  for (int a = 0; a < detail::kBreakerStates; ++a) {
    for (int b = 0; b < detail::kBreakerStates; ++b) {
      s.breaker_transitions +=
          m.transitions(static_cast<BreakerState>(a), static_cast<BreakerState>(b));
    }
  }
  const PoolStatus pool = pool_status();
  s.connections_ready = pool.ready;
  s.connections_connecting = pool.connecting;
  s.connections_down = pool.down;
  s.reconnects = pool.reconnects;
  s.compressed_bytes_in = core.compressed_in();
  s.compressed_bytes_out = core.compressed_out();
  s.compression_ratio = s.compressed_bytes_in > 0 ? static_cast<double>(s.compressed_bytes_out) /
                                                        static_cast<double>(s.compressed_bytes_in)
                                                  : 0.0;
  const auto& ca = core.cache_aside();
  s.loader_calls = ca.loader_calls.load();
  s.singleflight_shared = ca.shared.load();
  s.bypassed = ca.bypassed.load();
  s.early_refreshes = ca.early_refreshes.load();
  s.stale_served = ca.stale_served.load();
  return s;
}

namespace {
std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}
}  // namespace

std::string Stats::to_json() const {
  using detail::append_json_string;
  std::string o = "{";
  o += "\"hits\":" + std::to_string(hits);
  o += ",\"misses\":" + std::to_string(misses);
  o += ",\"hit_rate\":" + num(hit_rate);
  o += ",\"total_requests\":" + std::to_string(requests);
  o += ",\"errors\":" + std::to_string(errors);
  o += ",\"avg_latency_ms\":" + num(latency.avg_ms);
  o += ",\"latency_ms\":{\"p50\":" + num(latency.p50_ms) + ",\"p90\":" + num(latency.p90_ms) +
       ",\"p99\":" + num(latency.p99_ms) + ",\"p999\":" + num(latency.p999_ms) +
       ",\"samples\":" + std::to_string(latency.samples) +
       ",\"window_seconds\":" + std::to_string(latency.window_seconds) + "}";
  o += ",\"ops\":{";
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (i > 0) o += ",";
    append_json_string(o, ops[i].op);
    o += ":{\"calls\":" + std::to_string(ops[i].calls) +
         ",\"errors\":" + std::to_string(ops[i].errors) + "}";
  }
  o += "},\"errors_by_kind\":{";
  for (std::size_t i = 0; i < errors_by_kind.size(); ++i) {
    if (i > 0) o += ",";
    append_json_string(o, errors_by_kind[i].first);
    o += ":" + std::to_string(errors_by_kind[i].second);
  }
  o += "},\"retries\":" + std::to_string(retries);
  o += ",\"retry_budget_exhausted\":" + std::to_string(retry_budget_exhausted);
  o += ",\"rejected\":{\"bulkhead\":" + std::to_string(rejected_bulkhead) +
       ",\"circuit_open\":" + std::to_string(rejected_circuit_open) +
       ",\"disabled\":" + std::to_string(rejected_disabled) + "}";
  o += ",\"fallback_served\":" + std::to_string(fallback_served);
  o += ",\"circuit_breaker\":{\"state\":";
  append_json_string(o, to_string(breaker));
  o += ",\"transitions\":" + std::to_string(breaker_transitions) + "}";
  o += ",\"connections\":{\"ready\":" + std::to_string(connections_ready) +
       ",\"connecting\":" + std::to_string(connections_connecting) +
       ",\"down\":" + std::to_string(connections_down) +
       ",\"reconnects\":" + std::to_string(reconnects) + "}";
  o += ",\"compression\":{\"bytes_in\":" + std::to_string(compressed_bytes_in) +
       ",\"bytes_out\":" + std::to_string(compressed_bytes_out) +
       ",\"ratio\":" + num(compression_ratio) + "}";
  o += ",\"get_or_load\":{\"loader_calls\":" + std::to_string(loader_calls) +
       ",\"singleflight_shared\":" + std::to_string(singleflight_shared) +
       ",\"bypassed\":" + std::to_string(bypassed) +
       ",\"early_refreshes\":" + std::to_string(early_refreshes) +
       ",\"stale_served\":" + std::to_string(stale_served) + "}";
  o += "}";
  return o;
}

}  // namespace rcache
