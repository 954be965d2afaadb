// Validation and printing of Config (URL parsing is in url.cpp).
#include "rcache/config.hpp"

#include <limits>

#include "base/config_text.hpp"

namespace rcache {

namespace {

using detail::has_control_or_space;
using detail::invalid;
using detail::ms;
using detail::quote;

// The TLS fields: consistent with each other, and not set while TLS is off (a CA file configured
// for a connection that silently stays plaintext would be worse than an error).
Result<void> validate_tls(const Config& c) {
  const bool any_field =
      !c.tls_ca_file.empty() || !c.tls_ca_dir.empty() || !c.tls_cert_file.empty() ||
      !c.tls_key_file.empty() || !c.tls_key_password.empty() || !c.tls_server_name.empty() ||
      !c.tls_ciphers.empty() || !c.tls_ciphersuites.empty() || c.tls_min_version != "1.2" ||
      !c.tls_session_resumption || c.tls_insecure_skip_verify;
  if (!c.tls) {
    if (any_field) return invalid("config: TLS options are set but tls is false");
    return {};
  }
  if (c.tls_min_version != "1.2" && c.tls_min_version != "1.3") {
    return invalid("config: tls_min_version = " + quote(c.tls_min_version) +
                   " must be \"1.2\" or \"1.3\"");
  }
  if (c.tls_cert_file.empty() != c.tls_key_file.empty()) {
    return invalid(std::string("config: tls_cert_file and tls_key_file go together (") +
                   (c.tls_cert_file.empty() ? "tls_key_file" : "tls_cert_file") + " is set alone)");
  }
  if (!c.unix_socket.empty()) return invalid("config: tls with a unix_socket is not supported");
  if (has_control_or_space(c.tls_server_name)) {
    return invalid("config: tls_server_name = " + quote(c.tls_server_name) + " is invalid");
  }
  return {};
}

}  // namespace

std::string_view to_string(ReadFrom r) noexcept {
  switch (r) {
    case ReadFrom::master:
      return "master";
    case ReadFrom::prefer_replica:
      return "prefer_replica";
    case ReadFrom::any:
      return "any";
  }
  return "unknown";
}

namespace {

Result<void> validate_cluster(const Config& c) {
  if (c.cluster_nodes.empty()) {
    if (c.read_from != ReadFrom::master) {
      return invalid("config: read_from = " + std::string(to_string(c.read_from)) +
                     " is for a cluster (cluster_nodes is empty)");
    }
    return {};
  }
  if (!c.sentinel_master.empty()) {
    return invalid("config: cluster_nodes and sentinel_master are both set (choose one)");
  }
  if (!c.unix_socket.empty()) {
    return invalid("config: cluster_nodes with a unix_socket is not supported");
  }
  if (c.db != 0) {
    return invalid("config: db = " + std::to_string(c.db) +
                   " with cluster_nodes (a cluster has db 0 only)");
  }
  for (const auto& s : c.cluster_nodes) {
    if (auto r = detail::parse_host_port(s, 6379, "config: cluster_nodes"); !r) {
      return std::move(r).error();
    }
  }
  if (c.near_cache_bytes > 0 || c.degraded_mode == DegradedMode::local) {
    return invalid(
        "config: the near cache (near_cache_bytes, degraded_mode local) is not supported with "
        "cluster_nodes yet: its invalidations would have to follow every master");
  }
  if (c.cluster_refresh_interval.count() <= 0) {
    return invalid("config: cluster_refresh_interval must be > 0");
  }
  if (c.cluster_refresh_min_interval.count() < 0) {
    return invalid("config: cluster_refresh_min_interval must be >= 0");
  }
  if (c.cluster_max_redirects < 1 || c.cluster_max_redirects > 64) {
    return invalid("config: cluster_max_redirects = " + std::to_string(c.cluster_max_redirects) +
                   " (expected 1..64)");
  }
  return {};
}

Result<void> validate_sentinel(const Config& c) {
  if (c.sentinel_master.empty()) {
    if (!c.sentinels.empty()) {
      return invalid("config: sentinels are set but sentinel_master (the master's name) is empty");
    }
    if (!c.sentinel_username.empty() || !c.sentinel_password.empty()) {
      return invalid("config: sentinel credentials are set but sentinel_master is empty");
    }
    return {};
  }
  if (has_control_or_space(c.sentinel_master)) {
    return invalid("config: sentinel_master = " + quote(c.sentinel_master) + " is invalid");
  }
  if (c.sentinels.empty()) {
    return invalid("config: sentinel_master " + quote(c.sentinel_master) +
                   " is set but no sentinels are (sentinels = {\"host:26379\", ...})");
  }
  if (!c.unix_socket.empty()) {
    return invalid("config: sentinel_master with a unix_socket is not supported");
  }
  for (const auto& s : c.sentinels) {
    if (auto r = detail::parse_host_port(s, 26379, "config: sentinels"); !r) {
      return std::move(r).error();
    }
  }
  if (!c.sentinel_username.empty() && c.sentinel_password.empty()) {
    return invalid("config: sentinel_username " + quote(c.sentinel_username) +
                   " is set without a sentinel_password");
  }
  return {};
}

}  // namespace

Result<void> Config::validate() const {
  if (unix_socket.empty()) {
    if (host.empty()) return invalid("config: host is empty");
    if (has_control_or_space(host)) return invalid("config: host = " + quote(host) + " is invalid");
    if (port < 1 || port > 65535) {
      return invalid("config: port = " + std::to_string(port) + " is out of range (1..65535)");
    }
  } else if (unix_socket[0] != '/') {
    return invalid("config: unix_socket = " + quote(unix_socket) + " must be an absolute path");
  }
  if (db < 0) {
    return invalid("config: db = " + std::to_string(db) + " is out of range (expected >= 0)");
  }
  if (auto r = validate_tls(*this); !r) return r;
  if (auto r = validate_sentinel(*this); !r) return r;
  if (auto r = validate_cluster(*this); !r) return r;
  if (!username.empty() && password.empty()) {
    return invalid("config: username " + quote(username) + " is set without a password");
  }
  if (has_control_or_space(client_name)) {
    return invalid("config: client_name = " + quote(client_name) +
                   " must not contain spaces or control characters");
  }
  if (pool_size < 1 || pool_size > 1024) {
    return invalid("config: pool_size = " + std::to_string(pool_size) +
                   " is out of range (1..1024)");
  }
  if (connect_timeout.count() <= 0) {
    return invalid("config: connect_timeout = " + ms(connect_timeout) + " must be > 0");
  }
  if (command_timeout.count() <= 0) {
    return invalid("config: command_timeout = " + ms(command_timeout) + " must be > 0");
  }
  if (deadline.count() <= 0) {
    return invalid("config: deadline = " + ms(deadline) + " must be > 0");
  }
  if (retry.max_attempts < 1 || retry.max_attempts > 10) {
    return invalid("config: retry.max_attempts = " + std::to_string(retry.max_attempts) +
                   " is out of range (1..10)");
  }
  if (retry.base.count() <= 0) {
    return invalid("config: retry.base = " + ms(retry.base) + " must be > 0");
  }
  if (!(retry.multiplier >= 1.0) || retry.multiplier > 100.0) {
    return invalid("config: retry.multiplier = " + std::to_string(retry.multiplier) +
                   " is out of range (1..100)");
  }
  if (retry.cap < retry.base) {
    return invalid("config: retry.cap = " + ms(retry.cap) +
                   " must be >= retry.base = " + ms(retry.base));
  }
  if (!(retry.budget_tokens >= 0) || !(retry.budget_per_success >= 0) ||
      retry.budget_tokens > 1e6) {
    return invalid("config: retry.budget_tokens = " + std::to_string(retry.budget_tokens) +
                   " and retry.budget_per_success = " + std::to_string(retry.budget_per_success) +
                   " must be >= 0");
  }
  if (breaker.consecutive_failures < 1) {
    return invalid("config: breaker.consecutive_failures = " +
                   std::to_string(breaker.consecutive_failures) + " must be >= 1");
  }
  if (!(breaker.failure_rate > 0.0) || breaker.failure_rate > 1.0) {
    return invalid("config: breaker.failure_rate = " + std::to_string(breaker.failure_rate) +
                   " is out of range (0..1]");
  }
  if (breaker.window < 1 || breaker.window > 100000) {
    return invalid("config: breaker.window = " + std::to_string(breaker.window) +
                   " is out of range (1..100000)");
  }
  if (breaker.min_calls < 1 || breaker.min_calls > breaker.window) {
    return invalid("config: breaker.min_calls = " + std::to_string(breaker.min_calls) +
                   " is out of range (1..breaker.window)");
  }
  if (breaker.open_base.count() <= 0 || breaker.open_max < breaker.open_base) {
    return invalid("config: breaker.open_base = " + ms(breaker.open_base) +
                   " must be > 0 and <= breaker.open_max = " + ms(breaker.open_max));
  }
  if (breaker.half_open_probes < 1) {
    return invalid("config: breaker.half_open_probes = " +
                   std::to_string(breaker.half_open_probes) + " must be >= 1");
  }
  if (breaker.slow_call.count() < 0) {
    return invalid("config: breaker.slow_call = " + ms(breaker.slow_call) + " must be >= 0");
  }
  if (max_in_flight < 1 || max_in_flight > 10000000) {
    return invalid("config: max_in_flight = " + std::to_string(max_in_flight) +
                   " is out of range (1..10000000)");
  }
  if (max_waiting_for_connection > 10000000) {
    return invalid("config: max_waiting_for_connection = " +
                   std::to_string(max_waiting_for_connection) + " is out of range (0..10000000)");
  }
  if (compression_threshold < 1) {
    return invalid("config: compression_threshold = 0 must be >= 1");
  }
  if (compression_level < 1 || compression_level > 9) {
    return invalid("config: compression_level = " + std::to_string(compression_level) +
                   " is out of range (1..9)");
  }
  if (max_decompressed_size < 1 || max_decompressed_size > (std::size_t{4} << 30)) {
    return invalid("config: max_decompressed_size = " + std::to_string(max_decompressed_size) +
                   " is out of range (1..4294967296)");
  }
  if (probe_min.count() <= 0 || probe_max < probe_min) {
    return invalid("config: probe_min = " + ms(probe_min) +
                   " must be > 0 and <= probe_max = " + ms(probe_max));
  }
  if (degraded_mode == DegradedMode::local && near_cache_bytes == 0 &&
      local_max_bytes < std::size_t{64} * 1024) {
    return invalid("config: local_max_bytes = " + std::to_string(local_max_bytes) +
                   " is too small: local mode keeps its copies in the near cache, sized "
                   "local_max_bytes when near_cache_bytes is 0 (>= 65536)");
  }
  if (near_cache_bytes != 0 && near_cache_bytes < std::size_t{64} * 1024) {
    return invalid("config: near_cache_bytes = " + std::to_string(near_cache_bytes) +
                   " is too small (0 turns the near cache off; otherwise >= 65536)");
  }
  if (near_cache_ttl.count() <= 0) {
    return invalid("config: near_cache_ttl = " + ms(near_cache_ttl) + " must be > 0");
  }
  if (!(outage_loads_per_second >= 0)) {
    return invalid("config: outage_loads_per_second = " + std::to_string(outage_loads_per_second) +
                   " must be >= 0");
  }
  if (max_stale.count() < 0) {
    return invalid("config: max_stale = " + ms(max_stale) + " must be >= 0");
  }
  if (startup_wait.count() < 0) {
    return invalid("config: startup_wait = " + ms(startup_wait) + " must be >= 0");
  }
  if (blocking_spin.count() < 0) {
    return invalid("config: blocking_spin = " + std::to_string(blocking_spin.count()) +
                   "us must be >= 0");
  }
  if (keepalive_idle.count() < 0) {
    return invalid("config: keepalive_idle = " + std::to_string(keepalive_idle.count()) +
                   "s must be >= 0 (0 disables keepalive)");
  }
  if (keepalive_idle.count() > 0) {
    if (keepalive_interval.count() <= 0) {
      return invalid("config: keepalive_interval = " + std::to_string(keepalive_interval.count()) +
                     "s must be > 0");
    }
    if (keepalive_count <= 0) {
      return invalid("config: keepalive_count = " + std::to_string(keepalive_count) +
                     " must be > 0");
    }
  }
  if (reconnect_backoff_min.count() <= 0) {
    return invalid("config: reconnect_backoff_min = " + ms(reconnect_backoff_min) + " must be > 0");
  }
  if (reconnect_backoff_max < reconnect_backoff_min) {
    return invalid("config: reconnect_backoff_max = " + ms(reconnect_backoff_max) +
                   " must be >= reconnect_backoff_min = " + ms(reconnect_backoff_min));
  }
  constexpr std::size_t kRedisMax = std::size_t{512} * 1024 * 1024;
  if (max_value_size < 1 || max_value_size > kRedisMax) {
    return invalid("config: max_value_size = " + std::to_string(max_value_size) +
                   " is out of range (1..536870912)");
  }
  if (scan_count < 1 || scan_count > 1000000) {
    return invalid("config: scan_count = " + std::to_string(scan_count) +
                   " is out of range (1..1000000)");
  }
  return {};
}

std::string Config::to_string() const {
  std::string out;
  if (!cluster_nodes.empty()) {
    out = tls ? "rediss+cluster://" : "redis+cluster://";
  } else if (!sentinel_master.empty()) {
    out = tls ? "rediss+sentinel://" : "redis+sentinel://";
  } else if (unix_socket.empty()) {
    out = tls ? "rediss://" : "redis://";
  } else {
    out = "unix://";
  }
  if (!username.empty() || !password.empty()) {
    out += username;
    if (!password.empty()) out += ":***";
    out += "@";
  }
  if (!cluster_nodes.empty()) {
    for (std::size_t i = 0; i < cluster_nodes.size(); ++i) {
      out += (i > 0 ? "," : "") + cluster_nodes[i];
    }
    if (read_from != ReadFrom::master)
      out += " read_from=" + std::string(rcache::to_string(read_from));
  } else if (!sentinel_master.empty()) {
    for (std::size_t i = 0; i < sentinels.size(); ++i) out += (i > 0 ? "," : "") + sentinels[i];
    out += "/" + sentinel_master + "/" + std::to_string(db);
    if (!sentinel_password.empty()) out += " sentinel_password=***";
  } else if (unix_socket.empty()) {
    out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
    out += ":" + std::to_string(port) + "/" + std::to_string(db);
  } else {
    out += unix_socket + "?db=" + std::to_string(db);
  }
  out += " pool_size=" + std::to_string(pool_size);
  out += " connect_timeout=" + ms(connect_timeout);
  out += " command_timeout=" + ms(command_timeout);
  out += " keepalive=" + std::to_string(keepalive_idle.count()) + "s/" +
         std::to_string(keepalive_interval.count()) + "s/" + std::to_string(keepalive_count);
  if (!key_prefix.empty()) out += " key_prefix=" + quote(key_prefix);
  if (!client_name.empty()) out += " client_name=" + client_name;
  if (tls) {
    out += " tls_min_version=" + tls_min_version;
    if (!tls_ca_file.empty()) out += " tls_ca_file=" + quote(tls_ca_file);
    if (!tls_cert_file.empty()) out += " tls_cert_file=" + quote(tls_cert_file);
    if (!tls_server_name.empty()) out += " tls_server_name=" + tls_server_name;
    if (tls_insecure_skip_verify) out += " tls_insecure_skip_verify (NOT VERIFIED)";
  }
  return out;
}

}  // namespace rcache
