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
  std::string_view num = raw;
  double scale = 1000.0;  // a bare number is seconds (redis-py, go-redis, Lettuce)
  if (raw.size() > 2 && raw.substr(raw.size() - 2) == "ms") {
    num = raw.substr(0, raw.size() - 2);
    scale = 1.0;
  } else if (!raw.empty() && raw.back() == 's') {
    num = raw.substr(0, raw.size() - 1);
  } else if (!raw.empty() && raw.back() == 'm') {
    num = raw.substr(0, raw.size() - 1);
    scale = 60000.0;
  }
  double v = 0;
  const auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  const double ms = v * scale;
  if (num.empty() || ec != std::errc() || end != num.data() + num.size() || !(ms >= 1.0) ||
      ms > 3600.0 * 1000.0) {
    return invalid("url: " + std::string(key) + " = " + quote(raw) +
                   " (expected a duration from 1 ms to 1 hour: seconds such as 5 or 0.5, or "
                   "250ms, 5s, 1m)");
  }
  return std::chrono::milliseconds(std::llround(ms));
}

Result<Foreign> apply_foreign_option(std::string_view key, std::string_view raw, Config& cfg) {
  // The command timeout covers a whole round trip: any of the others' read, write or socket
  // timeouts sets it.
  if (one_of(key,
             {"timeout", "socket_timeout", "read_timeout", "write_timeout", "command_timeout"})) {
    auto d = parse_url_duration(key, raw);
    if (!d) return std::move(d).error();
    cfg.command_timeout = *d;
    return Foreign::mapped;
  }
  if (one_of(key, {"connect_timeout", "socket_connect_timeout", "dial_timeout"})) {
    auto d = parse_url_duration(key, raw);
    if (!d) return std::move(d).error();
    cfg.connect_timeout = *d;
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
