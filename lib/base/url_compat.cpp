// Other clients' REDIS_URL query options: mapped where rcache has the same setting.
#include "base/url_compat.hpp"

#include <array>
#include <charconv>
#include <cmath>

#include "base/config_text.hpp"

namespace rcache::detail {

namespace {

bool one_of(std::string_view key, std::initializer_list<std::string_view> names) {
  for (const auto n : names) {
    if (key == n) return true;
  }
  return false;
}

Result<bool> parse_bool(std::string_view key, std::string_view raw) {
  if (one_of(raw, {"1", "true", "True", "TRUE", "yes", "on"})) return true;
  if (one_of(raw, {"0", "false", "False", "FALSE", "no", "off"})) return false;
  return invalid("url: " + std::string(key) + " = " + quote(raw) + " (expected true or false)");
}

// Options of other clients with no counterpart here (pool sizing, response decoding, retry
// knobs of their own): accepted and named in one warning.
constexpr std::array<std::string_view, 24> kIgnored = {"max_connections",
                                                       "pool_size",
                                                       "min_idle_conns",
                                                       "max_idle_conns",
                                                       "max_active_conns",
                                                       "pool_timeout",
                                                       "pool_fifo",
                                                       "conn_max_idle_time",
                                                       "conn_max_lifetime",
                                                       "idle_timeout",
                                                       "max_retries",
                                                       "min_retry_backoff",
                                                       "max_retry_backoff",
                                                       "retry_on_timeout",
                                                       "health_check_interval",
                                                       "decode_responses",
                                                       "encoding",
                                                       "encoding_errors",
                                                       "socket_keepalive",
                                                       "single_connection_client",
                                                       "context_timeout_enabled",
                                                       "readonly",
                                                       "ssl_check_hostname",
                                                       "family"};

}  // namespace

Result<std::chrono::milliseconds> parse_url_duration(std::string_view key, std::string_view raw) {
  auto bad = [&] {
    return invalid("url: " + std::string(key) + " = " + quote(raw) +
                   " (expected a duration from 1 ms to 1 hour: seconds such as 5 or 0.5, or with "
                   "units such as 250ms, 5s, 1m30s; units ns, us, ms, s, m, h)");
  };
  // A bare number is seconds (redis-py, go-redis, Lettuce); else number-unit pairs (Go's form).
  double ms = 0;
  double v = 0;
  if (auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), v);
      !raw.empty() && ec == std::errc() && end == raw.data() + raw.size()) {
    ms = v * 1000.0;
  } else {
    std::string_view rest = raw;
    if (rest.empty()) return bad();
    // Longer units first: "ms" must not be read as "m" followed by "s".
    constexpr std::pair<std::string_view, double> kUnits[] = {
        {"ns", 1e-6}, {"us", 1e-3}, {"ms", 1.0}, {"s", 1000.0}, {"m", 60000.0}, {"h", 3600000.0}};
    while (!rest.empty()) {
      const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), v);
      if (ec != std::errc() || end == rest.data() || !(v >= 0)) return bad();
      rest.remove_prefix(static_cast<std::size_t>(end - rest.data()));
      double scale = 0;
      for (const auto& [unit, factor] : kUnits) {
        if (rest.substr(0, unit.size()) == unit) {
          scale = factor;
          rest.remove_prefix(unit.size());
          break;
        }
      }
      if (scale == 0) return bad();
      ms += v * scale;
    }
  }
  if (!(ms >= 1.0) || ms > 3600.0 * 1000.0) return bad();
  return std::chrono::milliseconds(std::llround(ms));
}

Result<Foreign> apply_foreign_option(std::string_view key, std::string_view raw, Config& cfg) {
  // The others' read, write or socket timeouts bound how long a call may take: rcache's whole-call
  // deadline (each attempt still ends at command_timeout, and retries fit in the deadline).
  // 0 or a negative value means "no timeout" to go-redis: nothing to map, named in the warning.
  const bool timeout = one_of(
      key, {"timeout", "socket_timeout", "read_timeout", "write_timeout", "command_timeout"});
  const bool connect = one_of(key, {"connect_timeout", "socket_connect_timeout", "dial_timeout"});
  if ((timeout || connect) && (raw == "0" || (!raw.empty() && raw.front() == '-'))) {
    return Foreign::ignored;
  }
  if (timeout || connect) {
    auto d = parse_url_duration(key, raw);
    if (!d) return std::move(d).error();
    (timeout ? cfg.deadline : cfg.connect_timeout) = *d;
    return Foreign::mapped;
  }
  if (key == "ssl" || key == "tls") {  // TLS on or off: must agree with the scheme
    auto b = parse_bool(key, raw);
    if (!b) return std::move(b).error();
    if (*b != cfg.tls) {
      return invalid("url: " + std::string(key) + "=" + std::string(raw) +
                     (cfg.tls ? " on a rediss:// URL" : " on a URL without TLS (use rediss://)"));
    }
    return Foreign::mapped;
  }
  if (one_of(key, {"client_name", "clientName", "name"})) {
    if (raw.empty() || raw.find_first_of(" \t\r\n") != std::string_view::npos) {
      return invalid("url: " + std::string(key) + " = " + quote(raw) +
                     " (a client name cannot be empty or hold spaces)");
    }
    cfg.client_name = std::string(raw);
    return Foreign::mapped;
  }
  if (key == "read_from") {  // where a cluster client reads (Config::read_from)
    if (raw == "master") {
      cfg.read_from = ReadFrom::master;
    } else if (raw == "prefer_replica") {
      cfg.read_from = ReadFrom::prefer_replica;
    } else if (raw == "any") {
      cfg.read_from = ReadFrom::any;
    } else {
      return invalid("url: read_from = " + quote(raw) +
                     " (expected master, prefer_replica or any)");
    }
    return Foreign::mapped;
  }
  if (key == "database") {  // Lettuce's spelling of db
    std::int64_t db = 0;
    if (!parse_int(raw, db) || db < 0) {
      return invalid("url: database = " + quote(raw) + " (expected an integer >= 0)");
    }
    cfg.db = db;
    return Foreign::mapped;
  }
  if (key == "protocol") {  // RESP version: rcache speaks RESP2, which every server accepts
    if (raw == "2") return Foreign::mapped;
    if (raw == "3") return Foreign::ignored;
    return invalid("url: protocol = " + quote(raw) + " (expected 2 or 3)");
  }
  if (one_of(key, {"skip_verify", "insecure", "verifyPeer", "verify_peer"})) {
    auto b = parse_bool(key, raw == "NONE" ? "false" : raw == "FULL" || raw == "CA" ? "true" : raw);
    if (!b) return std::move(b).error();
    const bool skip = key == "verifyPeer" || key == "verify_peer" ? !*b : *b;
    if (!cfg.tls) return Foreign::ignored;  // no TLS, nothing to verify (as in those clients)
    if (skip) cfg.tls_insecure_skip_verify = true;
    return Foreign::mapped;
  }
  for (const auto n : kIgnored) {
    if (key == n) return Foreign::ignored;
  }
  return Foreign::unknown;
}

}  // namespace rcache::detail
