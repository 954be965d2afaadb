// Prometheus exposition of a client's metrics, built at scrape time.
#include "rcache/prometheus.hpp"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <exception>
#include <limits>
#include <sstream>

#include "client_access.hpp"
#include "rcache/version.hpp"

namespace rcache {

namespace {

using detail::ClientAccess;
using detail::Op;
using detail::ResultKind;
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void add(MetricFamily& f, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

double breaker_gauge(BreakerState s) {
  switch (s) {
    case BreakerState::half_open: return 1;
    case BreakerState::open:
    case BreakerState::forced_open: return 2;
    default: return 0;
  }
}

class ClientCollectable final : public prometheus::Collectable {
 public:
  explicit ClientCollectable(Client& c) : client_(c) {}

  std::vector<MetricFamily> Collect() const override {
    auto& core = ClientAccess::core(client_);
    const auto& m = core.metrics();
    std::vector<MetricFamily> out;

    auto requests = family("rcache_requests_total", "Calls by operation and result.",
                           MetricType::Counter);
    auto errors = family("rcache_errors_total", "Failed calls by operation and error kind.",
                         MetricType::Counter);
    auto duration = family("rcache_request_duration_seconds",
                           "Call latency, submission to result, retries included.",
                           MetricType::Histogram);
    for (int i = 0; i < detail::kOps; ++i) {
      const auto op = static_cast<Op>(i);
      const std::string name(detail::op_name(op));
      std::uint64_t calls = 0;
      for (int k = 0; k < detail::kResultKinds; ++k) {
        const auto kind = static_cast<ResultKind>(k);
        const auto n = m.requests(op, kind);
        calls += n;
        if (n > 0) {
          add(requests, static_cast<double>(n),
              {{"op", name}, {"result", std::string(detail::result_name(kind))}});
        }
      }
      for (int e = 1; e < detail::kErrcs; ++e) {
        const auto n = m.errors(op, static_cast<Errc>(e));
        if (n > 0) {
          add(errors, static_cast<double>(n),
              {{"op", name}, {"reason", std::string(to_string(static_cast<Errc>(e)))}});
        }
      }
      if (calls == 0) continue;
      ClientMetric h;
      h.label = {{"op", name}};
      const auto buckets = m.latency_buckets(op);
      for (std::size_t b = 0; b < detail::kPromBounds.size(); ++b) {
        h.histogram.bucket.push_back({buckets[b], detail::kPromBounds[b]});
      }
      h.histogram.bucket.push_back({buckets.back(), std::numeric_limits<double>::infinity()});
      h.histogram.sample_count = buckets.back();
      h.histogram.sample_sum = m.latency_sum_seconds(op);
      duration.metric.push_back(std::move(h));
    }
    out.push_back(std::move(requests));
    out.push_back(std::move(errors));
    out.push_back(std::move(duration));

    auto hits = family("rcache_hits_total", "GET calls that found a value.", MetricType::Counter);
    add(hits, static_cast<double>(m.requests(Op::get, ResultKind::hit)));
    out.push_back(std::move(hits));
    auto misses = family("rcache_misses_total", "GET calls that found no value.",
                         MetricType::Counter);
    add(misses, static_cast<double>(m.requests(Op::get, ResultKind::miss)));
    out.push_back(std::move(misses));

    const auto& c = core.executor().counters();
    auto retries = family("rcache_retries_total", "Retries made.", MetricType::Counter);
    add(retries, static_cast<double>(c.retries.load()));
    out.push_back(std::move(retries));
    auto exhausted = family("rcache_retry_budget_exhausted_total",
                            "Retries refused by the retry budget.", MetricType::Counter);
    add(exhausted, static_cast<double>(c.budget_exhausted.load()));
    out.push_back(std::move(exhausted));
    auto rejected = family("rcache_rejected_total", "Calls refused without touching Redis.",
                           MetricType::Counter);
    add(rejected, static_cast<double>(c.rejected.load()), {{"reason", "bulkhead"}});
    add(rejected, static_cast<double>(c.circuit_open.load()), {{"reason", "circuit_open"}});
    add(rejected, static_cast<double>(c.disabled.load()), {{"reason", "disabled"}});
    out.push_back(std::move(rejected));

    auto state = family("rcache_circuit_state", "Circuit breaker: 0 closed, 1 half-open, 2 open.",
                        MetricType::Gauge);
    add(state, breaker_gauge(client_.breaker_state()));
    out.push_back(std::move(state));
    auto transitions = family("rcache_circuit_transitions_total",
                              "Circuit breaker state changes.", MetricType::Counter);
    for (int a = 0; a < detail::kBreakerStates; ++a) {
      for (int b = 0; b < detail::kBreakerStates; ++b) {
        const auto from = static_cast<BreakerState>(a);
        const auto to = static_cast<BreakerState>(b);
        const auto n = m.transitions(from, to);
        if (n > 0) {
          add(transitions, static_cast<double>(n),
              {{"from", std::string(to_string(from))}, {"to", std::string(to_string(to))}});
        }
      }
    }
    out.push_back(std::move(transitions));

    const PoolStatus pool = client_.pool_status();
    auto conns = family("rcache_connections", "Pool connections by state.", MetricType::Gauge);
    add(conns, static_cast<double>(pool.ready), {{"state", "ready"}});
    add(conns, static_cast<double>(pool.connecting), {{"state", "connecting"}});
    add(conns, static_cast<double>(pool.down), {{"state", "down"}});
    out.push_back(std::move(conns));
    auto reconnects = family("rcache_reconnects_total", "Connections lost after being ready.",
                             MetricType::Counter);
    add(reconnects, static_cast<double>(pool.reconnects));
    out.push_back(std::move(reconnects));
    auto fallback = family("rcache_fallback_served_total",
                           "Calls answered by the local store while Redis was unavailable.",
                           MetricType::Counter);
    add(fallback, static_cast<double>(core.fallback_served().load()));
    out.push_back(std::move(fallback));
    auto compressed = family("rcache_compressed_bytes_total",
                             "Bytes through the value envelope's compressor: in = original size "
                             "of values stored compressed, out = their stored size.",
                             MetricType::Counter);
    add(compressed, static_cast<double>(core.compressed_in()), {{"direction", "in"}});
    add(compressed, static_cast<double>(core.compressed_out()), {{"direction", "out"}});
    out.push_back(std::move(compressed));
    auto& ca = core.cache_aside();
    auto loads = family("rcache_loader_calls_total", "get_or_load loader invocations.",
                        MetricType::Counter);
    add(loads, static_cast<double>(ca.loader_calls.load()));
    out.push_back(std::move(loads));
    auto shared = family("rcache_singleflight_shared_total",
                         "get_or_load callers served by another caller's load.",
                         MetricType::Counter);
    add(shared, static_cast<double>(ca.shared.load()));
    out.push_back(std::move(shared));
    auto bypass = family("rcache_bypassed_total",
                         "get_or_load results returned straight from the loader because Redis "
                         "was unavailable.", MetricType::Counter);
    add(bypass, static_cast<double>(ca.bypassed.load()));
    out.push_back(std::move(bypass));
    auto early = family("rcache_early_refresh_total", "Early (XFetch) refreshes of hot keys.",
                        MetricType::Counter);
    add(early, static_cast<double>(ca.early_refreshes.load()));
    out.push_back(std::move(early));
    auto stale = family("rcache_stale_served_total",
                        "Stale copies served because the loader failed.", MetricType::Counter);
    add(stale, static_cast<double>(ca.stale_served.load()));
    out.push_back(std::move(stale));
    auto up = family("rcache_up", "1 when at least one connection is ready and the client is "
                                  "not disabled.", MetricType::Gauge);
    add(up, pool.ready > 0 && !core.transport().disabled() ? 1.0 : 0.0);
    out.push_back(std::move(up));
    auto info = family("rcache_build_info", "rcache version.", MetricType::Gauge);
    add(info, 1.0, {{"version", RCACHE_VERSION}});
    out.push_back(std::move(info));
    return out;
  }

 private:
  Client& client_;
};

}  // namespace

std::shared_ptr<prometheus::Collectable> make_collectable(Client& client) {
  return std::make_shared<ClientCollectable>(client);
}

std::string metrics_text(Client& client) {
  try {
    ClientCollectable c(client);
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, c.Collect());
    return out.str();
  } catch (const std::exception& e) {
    return std::string("# rcache: cannot serialize metrics: ") + e.what() + "\n";
  }
}

MetricsExposer::~MetricsExposer() = default;

Result<std::unique_ptr<MetricsExposer>> start_exposer(Client& client,
                                                      const std::string& bind_address) {
  std::unique_ptr<MetricsExposer> e(new MetricsExposer());
  try {
    e->exposer_ = std::make_unique<prometheus::Exposer>(bind_address, 1);
    e->collectable_ = make_collectable(client);
    e->exposer_->RegisterCollectable(e->collectable_);
    const auto ports = e->exposer_->GetListeningPorts();
    e->port_ = ports.empty() ? 0 : ports.front();
  } catch (const std::exception& ex) {
    return Error{Errc::invalid_argument,
                 "cannot start metrics exposer on '" + bind_address + "': " + ex.what()};
  } catch (...) {
    return Error{Errc::invalid_argument, "cannot start metrics exposer on '" + bind_address + "'"};
  }
  return e;
}

}  // namespace rcache
