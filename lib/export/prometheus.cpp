// Prometheus exposition of a client's metrics, built at scrape time from the public
// Client::stats().
#include "rcache/prometheus.hpp"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <exception>
#include <limits>
#include <sstream>

#include "client/exposer_hook.hpp"
#include "export/counter_table.hpp"
#include "rcache/version.hpp"

namespace rcache {

namespace {

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
    case BreakerState::half_open:
      return 1;
    case BreakerState::open:
    case BreakerState::forced_open:
      return 2;
    default:
      return 0;
  }
}

// The families of the declared counters (RCACHE_COUNTERS): entries of one family are adjacent.
void add_counters(const Stats& s, std::vector<MetricFamily>& out) {
  for (const auto& c : detail::kCounterTable) {
    if (out.empty() || out.back().name != c.family) {
      out.push_back(family(std::string(c.family), std::string(c.help), MetricType::Counter));
    }
    std::vector<ClientMetric::Label> labels;
    if (const auto eq = c.label.find('='); eq != std::string_view::npos) {
      labels.push_back({std::string(c.label.substr(0, eq)), std::string(c.label.substr(eq + 1))});
    }
    add(out.back(), static_cast<double>(s.*c.field), std::move(labels));
  }
}

class ClientCollectable final : public prometheus::Collectable {
 public:
  explicit ClientCollectable(Client& c) : client_(c) {}

  std::vector<MetricFamily> Collect() const override {
    const Stats s = client_.stats();
    std::vector<MetricFamily> out;

    auto requests =
        family("rcache_requests_total", "Calls by operation and result.", MetricType::Counter);
    auto errors = family("rcache_errors_total", "Failed calls by operation and error kind.",
                         MetricType::Counter);
    auto duration =
        family("rcache_request_duration_seconds",
               "Call latency, submission to result, retries included.", MetricType::Histogram);
    for (const OpStats& op : s.ops) {
      const std::pair<const char*, std::uint64_t> results[] = {
          {"hit", op.hits}, {"miss", op.misses}, {"ok", op.ok}, {"error", op.errors}};
      for (const auto& [name, n] : results) {
        if (n > 0) add(requests, static_cast<double>(n), {{"op", op.op}, {"result", name}});
      }
      for (const auto& [reason, n] : op.errors_by_kind) {
        add(errors, static_cast<double>(n), {{"op", op.op}, {"reason", reason}});
      }
      ClientMetric h;
      h.label = {{"op", op.op}};
      for (std::size_t b = 0; b < kLatencyBounds.size() && b < op.latency_buckets.size(); ++b) {
        h.histogram.bucket.push_back({op.latency_buckets[b], kLatencyBounds[b]});
      }
      const std::uint64_t total = op.latency_buckets.empty() ? 0 : op.latency_buckets.back();
      h.histogram.bucket.push_back({total, std::numeric_limits<double>::infinity()});
      h.histogram.sample_count = total;
      h.histogram.sample_sum = op.latency_sum_seconds;
      duration.metric.push_back(std::move(h));
    }
    out.push_back(std::move(requests));
    out.push_back(std::move(errors));
    out.push_back(std::move(duration));

    auto hits = family("rcache_hits_total",
                       "Reads that found a value: get, and get_or_load served from Redis.",
                       MetricType::Counter);
    add(hits, static_cast<double>(s.hits));
    out.push_back(std::move(hits));
    auto misses = family("rcache_misses_total",
                         "Reads that found no value: get, and get_or_load that called its loader.",
                         MetricType::Counter);
    add(misses, static_cast<double>(s.misses));
    out.push_back(std::move(misses));

    add_counters(s, out);

    auto state = family("rcache_circuit_state", "Circuit breaker: 0 closed, 1 half-open, 2 open.",
                        MetricType::Gauge);
    add(state, breaker_gauge(s.breaker));
    out.push_back(std::move(state));
    auto transitions = family("rcache_circuit_transitions_total", "Circuit breaker state changes.",
                              MetricType::Counter);
    for (const auto& t : s.transitions) {
      add(transitions, static_cast<double>(t.count),
          {{"from", std::string(to_string(t.from))}, {"to", std::string(to_string(t.to))}});
    }
    out.push_back(std::move(transitions));

    auto conns = family("rcache_connections", "Pool connections by state.", MetricType::Gauge);
    add(conns, static_cast<double>(s.connections_ready), {{"state", "ready"}});
    add(conns, static_cast<double>(s.connections_connecting), {{"state", "connecting"}});
    add(conns, static_cast<double>(s.connections_down), {{"state", "down"}});
    out.push_back(std::move(conns));
    auto reconnects = family("rcache_reconnects_total", "Connections lost after being ready.",
                             MetricType::Counter);
    add(reconnects, static_cast<double>(s.reconnects));
    out.push_back(std::move(reconnects));
    if (s.tls_handshakes > 0) {
      auto tls = family("rcache_tls_handshakes_total",
                        "TLS handshakes completed, by whether they resumed an earlier session.",
                        MetricType::Counter);
      add(tls, static_cast<double>(s.tls_handshakes - s.tls_resumed), {{"resumed", "false"}});
      add(tls, static_cast<double>(s.tls_resumed), {{"resumed", "true"}});
      out.push_back(std::move(tls));
    }
    if (!client_.config().sentinel_master.empty()) {
      auto switches = family("rcache_master_switches_total",
                             "Failovers followed: the master found through Sentinel moved.",
                             MetricType::Counter);
      add(switches, static_cast<double>(s.master_switches));
      out.push_back(std::move(switches));
      auto failures =
          family("rcache_discovery_failures_total",
                 "Lookups of the master that failed on every sentinel.", MetricType::Counter);
      add(failures, static_cast<double>(s.discovery_failures));
      out.push_back(std::move(failures));
    }
    if (s.near_cache.enabled) {
      const auto& n = s.near_cache;
      auto counter = [&](const char* name, const char* help, std::uint64_t v) {
        auto f = family(name, help, MetricType::Counter);
        add(f, static_cast<double>(v));
        out.push_back(std::move(f));
      };
      auto gauge = [&](const char* name, const char* help, double v) {
        auto f = family(name, help, MetricType::Gauge);
        add(f, v);
        out.push_back(std::move(f));
      };
      counter("rcache_near_cache_hits_total", "Reads answered by a fresh near-cache copy.", n.hits);
      counter("rcache_near_cache_misses_total", "Near-cache lookups that found no fresh copy.",
              n.misses);
      counter("rcache_near_cache_stale_served_total",
              "Near-cache copies served, marked stale, while Redis was unavailable.",
              n.stale_served);
      counter("rcache_near_cache_fills_total", "Values kept in the near cache after a read.",
              n.fills);
      counter("rcache_near_cache_fills_refused_total",
              "Reads not kept: an invalidation or an own write overtook them.", n.fills_refused);
      counter("rcache_near_cache_invalidations_total",
              "Invalidations applied (from Redis, or this client's own writes).", n.invalidations);
      counter("rcache_near_cache_evictions_total", "Entries evicted to stay within the byte bound.",
              n.evictions);
      auto flushes = family("rcache_near_cache_flushes_total",
                            "Whole-cache flushes: tracking_lost (every entry stale), flushall "
                            "(every entry dropped).",
                            MetricType::Counter);
      add(flushes, static_cast<double>(n.flushes_lost), {{"reason", "tracking_lost"}});
      add(flushes, static_cast<double>(n.flushes_flushall), {{"reason", "flushall"}});
      out.push_back(std::move(flushes));
      gauge("rcache_near_cache_bytes", "Bytes held by the near cache (keys, values, overhead).",
            static_cast<double>(n.bytes));
      gauge("rcache_near_cache_entries", "Entries in the near cache.",
            static_cast<double>(n.entries));
      gauge("rcache_near_cache_coherent",
            "1 while invalidations are tracked (fresh copies may be served).",
            n.coherent ? 1.0 : 0.0);
    }
    auto up = family("rcache_up",
                     "1 when at least one connection is ready and the client is not disabled.",
                     MetricType::Gauge);
    add(up, s.up ? 1.0 : 0.0);
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

namespace detail {
Result<std::shared_ptr<void>> start_owned_exposer(Client& client, const std::string& address) {
  auto e = start_exposer(client, address);
  if (!e) return std::move(e).error();
  return std::shared_ptr<void>(std::move(*e));
}
}  // namespace detail

}  // namespace rcache
