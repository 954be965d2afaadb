// Prometheus exposition of a client's metrics, built at scrape time from the public
// Client::stats().
#include "rcache/prometheus.hpp"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

#include "client/exposer_hook.hpp"
#include "export/counter_table.hpp"
#include "rcache/version.hpp"

namespace rcache {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

// The families of one client, each series labelled client="<Config::client_name>". Families are
// looked up by name so that several clients' series land in one family (one HELP and TYPE line
// each, as the exposition format requires).
class Families {
 public:
  MetricFamily& family(const std::string& name, const std::string& help, MetricType type) {
    for (auto& f : out_) {
      if (f.name == name) return f;
    }
    MetricFamily f;
    f.name = name;
    f.help = help;
    f.type = type;
    out_.push_back(std::move(f));
    return out_.back();
  }
  void add(MetricFamily& f, double value, Labels labels) {
    ClientMetric m;
    m.label.push_back({"client", client_});
    for (auto& l : labels) m.label.push_back(std::move(l));
    if (f.type == MetricType::Counter) {
      m.counter.value = value;
    } else {
      m.gauge.value = value;
    }
    f.metric.push_back(std::move(m));
  }
  void counter(const std::string& name, const std::string& help, std::uint64_t v,
               Labels labels = {}) {
    add(family(name, help, MetricType::Counter), static_cast<double>(v), std::move(labels));
  }
  void gauge(const std::string& name, const std::string& help, double v, Labels labels = {}) {
    add(family(name, help, MetricType::Gauge), v, std::move(labels));
  }
  // Cumulative bucket counts (the last one +Inf) against `bounds`.
  template <class Bounds>
  void histogram(const std::string& name, const std::string& help, const Bounds& bounds,
                 const std::vector<std::uint64_t>& cumulative, double sum, Labels labels = {}) {
    ClientMetric h;
    h.label.push_back({"client", client_});
    for (auto& l : labels) h.label.push_back(std::move(l));
    for (std::size_t b = 0; b < bounds.size() && b < cumulative.size(); ++b) {
      h.histogram.bucket.push_back({cumulative[b], bounds[b]});
    }
    const std::uint64_t total = cumulative.empty() ? 0 : cumulative.back();
    h.histogram.bucket.push_back({total, std::numeric_limits<double>::infinity()});
    h.histogram.sample_count = total;
    h.histogram.sample_sum = sum;
    family(name, help, MetricType::Histogram).metric.push_back(std::move(h));
  }
  void set_client(std::string name) { client_ = std::move(name); }
  std::vector<MetricFamily> take() { return std::move(out_); }

 private:
  std::vector<MetricFamily> out_;
  std::string client_;
};

// The results each op can end with, present at 0 from the start.
bool expected_result(const std::string& op, std::string_view result) {
  if (result == "error") return true;
  if (op == "get" || op == "get_or_load") return result == "hit" || result == "miss";
  return result == "ok";
}

void add_requests(const Stats& s, Families& f) {
  for (const OpStats& op : s.ops) {
    const std::pair<const char*, std::uint64_t> results[] = {
        {"hit", op.hits}, {"miss", op.misses}, {"ok", op.ok}, {"error", op.errors}};
    for (const auto& [name, n] : results) {
      if (n == 0 && !expected_result(op.op, name)) continue;
      f.counter("rcache_requests_total", "Calls made by the application, by operation and result.",
                n, {{"op", op.op}, {"result", name}});
    }
  }
  for (const OpStats& op : s.ops) {
    for (const auto& [reason, n] : op.errors_by_kind) {
      f.counter("rcache_errors_total", "Failed calls by operation and error kind.", n,
                {{"op", op.op}, {"reason", reason}});
    }
  }
  for (const OpStats& op : s.ops) {
    f.histogram("rcache_request_duration_seconds",
                "Latency of calls that were attempted, submission to result, retries included "
                "(calls refused without touching Redis are not in it: see rcache_rejected_total).",
                kLatencyBounds, op.latency_buckets, op.latency_sum_seconds, {{"op", op.op}});
  }
  f.counter("rcache_hits_total", "Application reads (get, get_or_load) that found a value.",
            s.hits);
  f.counter("rcache_misses_total", "Application reads (get, get_or_load) that found no value.",
            s.misses);
  for (const OpStats& op : s.ops) {
    f.counter("rcache_retries_total", "Retries made, by operation.", op.retries, {{"op", op.op}});
  }
}

// The families of the declared counters (RCACHE_COUNTERS), but retries (by op, above).
void add_counters(const Stats& s, Families& f) {
  for (const auto& c : detail::kCounterTable) {
    if (c.field == &Stats::retries) continue;
    Labels labels;
    if (const auto eq = c.label.find('='); eq != std::string_view::npos) {
      labels.push_back({std::string(c.label.substr(0, eq)), std::string(c.label.substr(eq + 1))});
    }
    f.counter(std::string(c.family), std::string(c.help), s.*c.field, std::move(labels));
  }
  for (const auto& [source, n] : s.get_or_load_sources) {
    f.counter("rcache_get_or_load_total",
              "get_or_load results by where the value came from (cache, near_cache, "
              "near_cache_stale, negative_cache, loader, refreshed, stale, bypassed, error).",
              n, {{"source", source}});
  }
  f.histogram("rcache_loader_duration_seconds", "Time spent in get_or_load loaders.", kLoaderBounds,
              s.loader_buckets, s.loader_seconds);
}

void add_breaker_and_pool(const Stats& s, const Config& cfg, Families& f) {
  constexpr BreakerState states[] = {BreakerState::closed, BreakerState::half_open,
                                     BreakerState::open, BreakerState::forced_open,
                                     BreakerState::disabled};
  for (const BreakerState st : states) {
    f.gauge("rcache_circuit_state",
            "Circuit breaker state: 1 for the current state, 0 for the others.",
            s.breaker == st ? 1.0 : 0.0, {{"state", std::string(to_string(st))}});
  }
  // The breaker's own transitions are there at 0 from the start (so that increase() sees the
  // first trip); operator-made ones appear when they happen.
  const std::pair<BreakerState, BreakerState> automatic[] = {
      {BreakerState::closed, BreakerState::open},
      {BreakerState::open, BreakerState::half_open},
      {BreakerState::half_open, BreakerState::open},
      {BreakerState::half_open, BreakerState::closed}};
  auto transition = [&](BreakerState from, BreakerState to, std::uint64_t n) {
    f.counter("rcache_circuit_transitions_total", "Circuit breaker state changes.", n,
              {{"from", std::string(to_string(from))}, {"to", std::string(to_string(to))}});
  };
  for (const auto& [from, to] : automatic) {
    std::uint64_t n = 0;
    for (const auto& t : s.transitions) {
      if (t.from == from && t.to == to) n = t.count;
    }
    transition(from, to, n);
  }
  for (const auto& t : s.transitions) {
    bool listed = false;
    for (const auto& [from, to] : automatic) listed = listed || (t.from == from && t.to == to);
    if (!listed) transition(t.from, t.to, t.count);
  }
  const char* conns_help = "Pool connections by state.";
  f.gauge("rcache_connections", conns_help, static_cast<double>(s.connections_ready),
          {{"state", "ready"}});
  f.gauge("rcache_connections", conns_help, static_cast<double>(s.connections_connecting),
          {{"state", "connecting"}});
  f.gauge("rcache_connections", conns_help, static_cast<double>(s.connections_down),
          {{"state", "down"}});
  f.counter("rcache_reconnects_total", "Connections lost after being ready.", s.reconnects);
  if (cfg.tls) {
    const char* help = "TLS handshakes completed, by whether they resumed an earlier session.";
    // Two counters read apart: resumed may be ahead of a handshake count read just before.
    f.counter("rcache_tls_handshakes_total", help,
              s.tls_handshakes > s.tls_resumed ? s.tls_handshakes - s.tls_resumed : 0,
              {{"resumed", "false"}});
    f.counter("rcache_tls_handshakes_total", help, s.tls_resumed, {{"resumed", "true"}});
  }
  if (!cfg.sentinel_master.empty()) {
    f.counter("rcache_master_switches_total",
              "Failovers followed: the master found through Sentinel moved.", s.master_switches);
    f.counter("rcache_discovery_failures_total",
              "Lookups of the master that failed on every sentinel.", s.discovery_failures);
  }
}

void add_near_cache(const Stats& s, Families& f) {
  if (!s.near_cache.enabled) return;
  const auto& n = s.near_cache;
  f.counter("rcache_near_cache_hits_total", "Reads answered by a fresh near-cache copy.", n.hits);
  f.counter("rcache_near_cache_misses_total", "Near-cache lookups that found no fresh copy.",
            n.misses);
  f.counter("rcache_near_cache_stale_served_total",
            "Near-cache copies served, marked stale, while Redis was unavailable.", n.stale_served);
  f.counter("rcache_near_cache_fills_total", "Values kept in the near cache after a read.",
            n.fills);
  f.counter("rcache_near_cache_fills_refused_total",
            "Reads not kept: an invalidation or an own write overtook them.", n.fills_refused);
  f.counter("rcache_near_cache_invalidations_total",
            "Invalidations applied (from Redis, or this client's own writes).", n.invalidations);
  f.counter("rcache_near_cache_evictions_total", "Entries evicted to stay within the byte bound.",
            n.evictions);
  const char* flushes =
      "Whole-cache flushes: tracking_lost (every entry stale), flushall (every "
      "entry dropped).";
  f.counter("rcache_near_cache_flushes_total", flushes, n.flushes_lost,
            {{"reason", "tracking_lost"}});
  f.counter("rcache_near_cache_flushes_total", flushes, n.flushes_flushall,
            {{"reason", "flushall"}});
  f.gauge("rcache_near_cache_bytes", "Bytes held by the near cache (keys, values, overhead).",
          static_cast<double>(n.bytes));
  f.gauge("rcache_near_cache_entries", "Entries in the near cache.",
          static_cast<double>(n.entries));
  f.gauge("rcache_near_cache_coherent",
          "1 while invalidations are tracked (fresh copies may be served).",
          n.coherent ? 1.0 : 0.0);
}

// One series per node address of the cluster's map (masters, and replicas that reads may go to):
// bounded by the cluster's size.
void add_cluster(const Stats& s, Families& f) {
  if (!s.cluster.enabled) return;
  const auto& c = s.cluster;
  const char* redirects =
      "Cluster redirections followed, by kind (moved: the slot has a new master).";
  f.counter("rcache_cluster_redirections_total", redirects, c.moved, {{"kind", "moved"}});
  f.counter("rcache_cluster_redirections_total", redirects, c.ask, {{"kind", "ask"}});
  f.counter("rcache_cluster_refreshes_total", "Reads of the cluster's slot map started.",
            c.refreshes);
  f.counter("rcache_cluster_map_changes_total",
            "Slot maps installed (the first included) and single-slot MOVED updates.",
            c.map_changes);
  constexpr BreakerState states[] = {BreakerState::closed, BreakerState::half_open,
                                     BreakerState::open, BreakerState::forced_open,
                                     BreakerState::disabled};
  for (const auto& n : c.nodes) {
    f.gauge("rcache_cluster_node_up",
            "1 while the cluster node has a ready connection (one series per node address).",
            n.ready > 0 ? 1.0 : 0.0, {{"node", n.address}, {"role", n.role}});
    f.gauge("rcache_cluster_node_connections", "Ready connections to the cluster node.",
            static_cast<double>(n.ready), {{"node", n.address}});
    for (const BreakerState st : states) {
      f.gauge("rcache_cluster_node_circuit_state",
              "The cluster node's circuit breaker: 1 for its current state, 0 for the others.",
              n.breaker == st ? 1.0 : 0.0,
              {{"node", n.address}, {"state", std::string(to_string(st))}});
    }
  }
}

void add_client(Client& client, Families& f) {
  const Stats s = client.stats();
  f.set_client(s.client);
  add_requests(s, f);
  add_counters(s, f);
  add_breaker_and_pool(s, client.config(), f);
  add_near_cache(s, f);
  add_cluster(s, f);
  f.gauge("rcache_up",
          "1 while calls are being served by Redis: a connection is ready, the breaker lets calls "
          "through and the client is not disabled.",
          s.up ? 1.0 : 0.0);
}

// Which clients a collectable shows: one, every live one, or those sharing an owned exposer.
using Visit = std::function<void(const std::function<void(Client&)>&)>;

std::vector<MetricFamily> collect(const Visit& visit) {
  Families f;
  // Labels are unique among live clients (the Client's constructor makes them so).
  visit([&](Client& c) { add_client(c, f); });
  auto out = f.take();
  MetricFamily info;
  info.name = "rcache_build_info";
  info.help = "rcache version (1 per process).";
  info.type = MetricType::Gauge;
  ClientMetric m;
  m.label = {{"version", RCACHE_VERSION}};
  m.gauge.value = 1.0;
  info.metric.push_back(std::move(m));
  out.push_back(std::move(info));
  return out;
}

class ClientsCollectable final : public prometheus::Collectable {
 public:
  explicit ClientsCollectable(Visit visit) : visit_(std::move(visit)) {}
  // Called by prometheus-cpp from civetweb's C threads: nothing may escape.
  std::vector<MetricFamily> Collect() const override {
    try {
      return collect(visit_);
    } catch (...) {
      return {};
    }
  }

 private:
  Visit visit_;
};

std::string serialize(const Visit& visit) {
  try {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, collect(visit));
    return out.str();
  } catch (const std::exception& e) {
    return std::string("# rcache: cannot serialize metrics: ") + e.what() + "\n";
  }
}

Visit just(Client& client) {
  return [&client](const std::function<void(Client&)>& fn) { fn(client); };
}

// One exposer per address, shared by the clients whose Config::metrics_address names it.
struct SharedExposer {
  std::mutex mutex;
  std::vector<Client*> clients;
  std::shared_ptr<prometheus::Collectable> collectable;
  std::unique_ptr<prometheus::Exposer> exposer;
};

std::mutex g_exposers_mutex;
std::map<std::string, std::weak_ptr<SharedExposer>>& shared_exposers() {
  static std::map<std::string, std::weak_ptr<SharedExposer>> m;
  return m;
}

// Held by a Client: takes it off its shared exposer (before the Client goes away).
struct ExposerMembership {
  std::shared_ptr<SharedExposer> shared;
  Client* client = nullptr;
  ExposerMembership() = default;
  ExposerMembership(const ExposerMembership&) = delete;
  ExposerMembership& operator=(const ExposerMembership&) = delete;
  ~ExposerMembership() {
    if (!shared) return;
    // Under the map's lock, so that a client naming this address meanwhile either joins this
    // exposer or finds it gone, its port released: never a bind against a closing socket.
    const std::lock_guard map_lock(g_exposers_mutex);
    {
      const std::lock_guard lock(shared->mutex);
      std::erase(shared->clients, client);
    }
    shared.reset();  // the last member stops the exposer here
  }
};

bool any_port(const std::string& address) {
  return address.size() >= 2 && address.compare(address.size() - 2, 2, ":0") == 0;
}

}  // namespace

std::shared_ptr<prometheus::Collectable> make_collectable(Client& client) {
  return std::make_shared<ClientsCollectable>(just(client));
}

std::shared_ptr<prometheus::Collectable> make_collectable() {
  return std::make_shared<ClientsCollectable>(&detail::visit_live_clients);
}

std::string metrics_text(Client& client) {
  return serialize(just(client));
}

std::string metrics_text() {
  return serialize(&detail::visit_live_clients);
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
  try {
    auto member = std::make_shared<ExposerMembership>();
    member->client = &client;
    const std::lock_guard lock(g_exposers_mutex);
    auto& slot = shared_exposers()[address];
    std::shared_ptr<SharedExposer> shared = any_port(address) ? nullptr : slot.lock();
    if (!shared) {
      shared = std::make_shared<SharedExposer>();
      SharedExposer* raw = shared.get();
      shared->collectable =
          std::make_shared<ClientsCollectable>([raw](const std::function<void(Client&)>& fn) {
            const std::lock_guard members(raw->mutex);
            for (Client* c : raw->clients) fn(*c);
          });
      shared->exposer = std::make_unique<prometheus::Exposer>(address, 1);
      shared->exposer->RegisterCollectable(shared->collectable);
      if (!any_port(address)) slot = shared;
    }
    {
      const std::lock_guard members(shared->mutex);
      shared->clients.push_back(&client);
    }
    member->shared = std::move(shared);
    return std::shared_ptr<void>(std::move(member));
  } catch (const std::exception& ex) {
    return Error{Errc::invalid_argument,
                 "cannot start metrics exposer on '" + address + "': " + ex.what()};
  } catch (...) {
    return Error{Errc::invalid_argument, "cannot start metrics exposer on '" + address + "'"};
  }
}
}  // namespace detail

}  // namespace rcache
