// Stats::to_json() and Health::to_json(): the snapshots as JSON, locale-independent.
#include "base/json.hpp"

#include "export/counter_table.hpp"
#include "rcache/stats.hpp"
#include "rcache/status.hpp"

namespace rcache {

using detail::append_json_number;
using detail::append_json_string;

namespace {
void u64(std::string& o, std::uint64_t v) {
  o += std::to_string(v);
}
}  // namespace

std::string Stats::to_json() const {
  std::string o = "{\"hits\":";
  u64(o, hits);
  o += ",\"misses\":";
  u64(o, misses);
  o += ",\"hit_rate\":";
  append_json_number(o, hit_rate);
  o += ",\"total_requests\":";
  u64(o, requests);
  o += ",\"errors\":";
  u64(o, errors);
  o += ",\"avg_latency_ms\":";
  append_json_number(o, latency.avg_ms);
  o += ",\"latency_ms\":{\"p50\":";
  append_json_number(o, latency.p50_ms);
  o += ",\"p90\":";
  append_json_number(o, latency.p90_ms);
  o += ",\"p99\":";
  append_json_number(o, latency.p99_ms);
  o += ",\"p999\":";
  append_json_number(o, latency.p999_ms);
  o += ",\"samples\":";
  u64(o, latency.samples);
  o += ",\"window_seconds\":" + std::to_string(latency.window_seconds) + "}";
  o += ",\"ops\":{";
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (i > 0) o += ",";
    append_json_string(o, ops[i].op);
    o += ":{\"calls\":" + std::to_string(ops[i].calls) +
         ",\"errors\":" + std::to_string(ops[i].errors) +
         ",\"retries\":" + std::to_string(ops[i].retries) + "}";
  }
  o += "},\"errors_by_kind\":{";
  for (std::size_t i = 0; i < errors_by_kind.size(); ++i) {
    if (i > 0) o += ",";
    append_json_string(o, errors_by_kind[i].first);
    o += ":" + std::to_string(errors_by_kind[i].second);
  }
  o += "}";
  // The declared counters, ungrouped ones first, then one object per group (a group's entries
  // are adjacent in RCACHE_COUNTERS).
  for (const auto& c : detail::kCounterTable) {
    if (!c.group.empty()) continue;
    o += ",";
    append_json_string(o, c.key);
    o += ":";
    u64(o, this->*c.field);
  }
  std::string_view open_group;
  for (const auto& c : detail::kCounterTable) {
    if (c.group.empty()) continue;
    if (c.group != open_group) {
      if (!open_group.empty()) o += "}";
      o += ",";
      append_json_string(o, c.group);
      o += ":{";
      open_group = c.group;
    } else {
      o += ",";
    }
    append_json_string(o, c.key);
    o += ":";
    u64(o, this->*c.field);
    if (c.field == &Stats::compressed_bytes_out) {
      o += ",\"ratio\":";
      append_json_number(o, compression_ratio);
    }
  }
  if (!open_group.empty()) o += "}";
  o += ",\"get_or_load_sources\":{";
  for (std::size_t i = 0; i < get_or_load_sources.size(); ++i) {
    if (i > 0) o += ",";
    append_json_string(o, get_or_load_sources[i].first);
    o += ":" + std::to_string(get_or_load_sources[i].second);
  }
  o += "},\"loader\":{\"calls\":";
  u64(o, loader_buckets.empty() ? 0 : loader_buckets.back());
  o += ",\"seconds\":";
  append_json_number(o, loader_seconds);
  o += "},\"circuit_breaker\":{\"state\":";
  append_json_string(o, to_string(breaker));
  o += ",\"transitions\":" + std::to_string(breaker_transitions) + "}";
  o += ",\"connections\":{\"ready\":" + std::to_string(connections_ready) +
       ",\"connecting\":" + std::to_string(connections_connecting) +
       ",\"down\":" + std::to_string(connections_down) +
       ",\"reconnects\":" + std::to_string(reconnects) +
       ",\"tls_handshakes\":" + std::to_string(tls_handshakes) +
       ",\"tls_resumed\":" + std::to_string(tls_resumed) +
       ",\"master_switches\":" + std::to_string(master_switches) +
       ",\"discovery_failures\":" + std::to_string(discovery_failures) + "}";
  if (near_cache.enabled) {
    const auto& n = near_cache;
    o += ",\"near_cache\":{\"coherent\":";
    o += n.coherent ? "true" : "false";
    o += ",\"hits\":" + std::to_string(n.hits) + ",\"misses\":" + std::to_string(n.misses) +
         ",\"stale_served\":" + std::to_string(n.stale_served) +
         ",\"fills\":" + std::to_string(n.fills) +
         ",\"fills_refused\":" + std::to_string(n.fills_refused) +
         ",\"invalidations\":" + std::to_string(n.invalidations) +
         ",\"evictions\":" + std::to_string(n.evictions) +
         ",\"flushes\":{\"tracking_lost\":" + std::to_string(n.flushes_lost) +
         ",\"flushall\":" + std::to_string(n.flushes_flushall) +
         "},\"bytes\":" + std::to_string(n.bytes) + ",\"entries\":" + std::to_string(n.entries) +
         ",\"pending_keys\":" + std::to_string(n.pending_keys) + "}";
  }
  if (cluster.enabled) {
    const auto& c = cluster;
    o += ",\"cluster\":{\"redirections\":{\"moved\":" + std::to_string(c.moved) +
         ",\"ask\":" + std::to_string(c.ask) + "},\"refreshes\":" + std::to_string(c.refreshes) +
         ",\"map_changes\":" + std::to_string(c.map_changes) + ",\"nodes\":[";
    for (std::size_t i = 0; i < c.nodes.size(); ++i) {
      if (i > 0) o += ',';
      o += "{\"address\":";
      append_json_string(o, c.nodes[i].address);
      o += ",\"role\":";
      append_json_string(o, c.nodes[i].role);
      o += ",\"circuit_breaker\":";
      append_json_string(o, rcache::to_string(c.nodes[i].breaker));
      o += ",\"ready\":" + std::to_string(c.nodes[i].ready) + "}";
    }
    o += "]}";
  }
  o += ",\"up\":";
  o += up ? "true" : "false";
  o += "}";
  return o;
}

std::string Health::to_json() const {
  std::string out = "{\"status\":";
  append_json_string(out, rcache::to_string(status));
  out += ",\"reason\":";
  append_json_string(out, reason);
  out += ",\"ping_ms\":";
  if (ping) {
    append_json_number(out, static_cast<double>(ping->count()) / 1000.0);
  } else {
    out += "null";
  }
  out += ",\"circuit_breaker\":{\"state\":";
  append_json_string(out, rcache::to_string(breaker));
  out += "},\"mode\":";
  append_json_string(out, rcache::to_string(mode));
  out += ",\"connections\":{\"ready\":" + std::to_string(pool.ready) +
         ",\"connecting\":" + std::to_string(pool.connecting) +
         ",\"down\":" + std::to_string(pool.down) +
         ",\"reconnects\":" + std::to_string(pool.reconnects) +
         ",\"tls_handshakes\":" + std::to_string(pool.tls_handshakes) +
         ",\"tls_resumed\":" + std::to_string(pool.tls_resumed) + ",\"last_error\":";
  append_json_string(out, pool.last_error);
  out += ",\"endpoint\":";
  append_json_string(out, pool.endpoint);
  out += ",\"via\":";
  append_json_string(out, pool.via);
  out += ",\"discovery_error\":";
  append_json_string(out, pool.discovery_error);
  out += ",\"master_switches\":" + std::to_string(pool.master_switches) +
         ",\"discovery_failures\":" + std::to_string(pool.discovery_failures) + "}";
  if (!nodes.empty()) {
    out += ",\"nodes\":[";
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const NodeHealth& n = nodes[i];
      if (i > 0) out += ',';
      out += "{\"address\":";
      append_json_string(out, n.address);
      out += ",\"role\":";
      append_json_string(out, n.role);
      out += ",\"slots\":" + std::to_string(n.slots) + ",\"circuit_breaker\":";
      append_json_string(out, rcache::to_string(n.breaker));
      out += ",\"ready\":" + std::to_string(n.ready) + ",\"last_error\":";
      append_json_string(out, n.last_error);
      out += '}';
    }
    out += ']';
  }
  out += '}';
  return out;
}

}  // namespace rcache
