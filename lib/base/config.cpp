// URL and environment parsing, validation and printing of Config.
#include "rcache/config.hpp"

#include <charconv>
#include <cstdlib>
#include <limits>

namespace rcache {
namespace {

Error invalid(std::string message) {
  return Error{Errc::invalid_argument, std::move(message)};
}

// Printable form of a user-supplied value for an error message: quoted, truncated, control
// bytes escaped. Never used for passwords.
std::string quote(std::string_view s) {
  constexpr std::size_t kMax = 64;
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f || c == '\'') {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMax) out += "...";
  out += "'";
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes. `field` names the part for the error; `secret` keeps its value out of it.
Result<std::string> percent_decode(std::string_view in, std::string_view field, bool secret) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    const int hi = i + 1 < in.size() ? hex_value(in[i + 1]) : -1;
    const int lo = i + 2 < in.size() ? hex_value(in[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      std::string msg =
          "url: bad percent escape in " + std::string(field) + " at offset " + std::to_string(i);
      if (!secret) msg += " of " + quote(in);
      return invalid(msg + " (expected %XX with two hex digits)");
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

template <class Int>
bool parse_int(std::string_view s, Int& out) {
  if (s.empty()) return false;
  const auto* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && ptr == end;
}

Result<std::int64_t> parse_db(std::string_view s, std::string_view where) {
  std::int64_t db = 0;
  if (!parse_int(s, db) || db < 0) {
    return invalid(std::string(where) + ": db = " + quote(s) +
                   " is out of range (expected an integer >= 0)");
  }
  return db;
}

// Applies "a=b&c=d" query parameters.
Result<void> apply_query(std::string_view query, Config& cfg) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (item.empty()) continue;
    const auto eq = item.find('=');
    const auto key = item.substr(0, eq);
    const auto raw = eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
    if (key == "db") {
      auto db = parse_db(raw, "url");
      if (!db) return std::move(db).error();
      cfg.db = *db;
    } else if (key == "password") {
      auto v = percent_decode(raw, "password", true);
      if (!v) return std::move(v).error();
      cfg.password = std::move(*v);
    } else if (key == "username") {
      auto v = percent_decode(raw, "username", false);
      if (!v) return std::move(v).error();
      cfg.username = std::move(*v);
    } else if (key == "ssl_cert_reqs") {
      // redis-py's spelling: "required" (the default) or "none" (no verification at all).
      if (raw == "none" || raw == "CERT_NONE") {
        cfg.tls_insecure_skip_verify = true;
      } else if (raw != "required" && raw != "CERT_REQUIRED") {
        return invalid("url: ssl_cert_reqs = " + quote(raw) + " (expected required or none)");
      }
    } else if (key == "ssl_password") {
      auto v = percent_decode(raw, "ssl_password", true);
      if (!v) return std::move(v).error();
      cfg.tls_key_password = std::move(*v);
    } else if (std::string* field = key == "ssl_ca_certs"      ? &cfg.tls_ca_file
                                    : key == "ssl_ca_path"     ? &cfg.tls_ca_dir
                                    : key == "ssl_certfile"    ? &cfg.tls_cert_file
                                    : key == "ssl_keyfile"     ? &cfg.tls_key_file
                                    : key == "tls_server_name" ? &cfg.tls_server_name
                                    : key == "tls_min_version" ? &cfg.tls_min_version
                                                               : nullptr) {
      auto v = percent_decode(raw, key, false);
      if (!v) return std::move(v).error();
      *field = std::move(*v);
    } else {
      return invalid("url: unknown query parameter " + quote(key) +
                     " (supported: db, username, password, ssl_cert_reqs, ssl_ca_certs, "
                     "ssl_ca_path, ssl_certfile, ssl_keyfile, ssl_password, tls_server_name, "
                     "tls_min_version)");
    }
  }
  return {};
}

Result<Config> parse_unix(std::string_view rest) {
  // unix://[user[:password]@]/path?query
  Config cfg;
  const auto at = rest.rfind('@');  // first: a password may hold '?' (see parse_tcp)
  const auto userinfo = at == std::string_view::npos ? std::string_view{} : rest.substr(0, at);
  if (at != std::string_view::npos) rest = rest.substr(at + 1);
  const auto q = rest.find('?');
  auto query = q == std::string_view::npos ? std::string_view{} : rest.substr(q + 1);
  rest = rest.substr(0, q);
  if (at != std::string_view::npos) {
    const auto colon = userinfo.find(':');
    auto user = percent_decode(userinfo.substr(0, colon), "username", false);
    if (!user) return std::move(user).error();
    cfg.username = std::move(*user);
    if (colon != std::string_view::npos) {
      auto pw = percent_decode(userinfo.substr(colon + 1), "password", true);
      if (!pw) return std::move(pw).error();
      cfg.password = std::move(*pw);
    }
  }
  auto path = percent_decode(rest, "socket path", false);
  if (!path) return std::move(path).error();
  if (path->empty() || (*path)[0] != '/') {
    return invalid("url: unix socket path " + quote(*path) +
                   " must be absolute (unix:///path/to/redis.sock)");
  }
  cfg.unix_socket = std::move(*path);
  if (auto r = apply_query(query, cfg); !r) return std::move(r).error();
  if (!cfg.username.empty() && cfg.password.empty()) {
    return invalid("url: username " + quote(cfg.username) + " given without a password");
  }
  if (auto r = cfg.validate(); !r) return std::move(r).error();
  return cfg;
}

Result<Config> parse_tcp(std::string_view rest, bool tls) {
  // [[user]:password@]host[:port][/db][?query]
  Config cfg;
  cfg.tls = tls;
  // The userinfo ends at the last '@': a password may hold '/', '?', ':' or '#' unescaped, and
  // no message below may ever show any part of it.
  const auto at = rest.rfind('@');
  const auto userinfo = at == std::string_view::npos ? std::string_view{} : rest.substr(0, at);
  if (at != std::string_view::npos) rest = rest.substr(at + 1);
  auto q = rest.find('?');
  auto query = q == std::string_view::npos ? std::string_view{} : rest.substr(q + 1);
  rest = rest.substr(0, q);
  const auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  const auto path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);

  if (at != std::string_view::npos) {
    const auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      return invalid(
          "url: userinfo without ':' (use redis://:password@host or "
          "redis://user:password@host)");
    }
    auto user = percent_decode(userinfo.substr(0, colon), "username", false);
    if (!user) return std::move(user).error();
    auto pw = percent_decode(userinfo.substr(colon + 1), "password", true);
    if (!pw) return std::move(pw).error();
    cfg.username = std::move(*user);
    cfg.password = std::move(*pw);
    if (!cfg.username.empty() && cfg.password.empty()) {
      return invalid("url: username " + quote(cfg.username) + " given without a password");
    }
  }

  std::string_view host;
  std::string_view port;
  if (!authority.empty() && authority[0] == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return invalid("url: host " + quote(authority) + " has '[' without ']'");
    }
    host = authority.substr(1, close - 1);
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        return invalid("url: unexpected " + quote(after) + " after IPv6 host");
      }
      port = after.substr(1);
      if (port.empty()) return invalid("url: port is empty");
    }
  } else {
    const auto colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return invalid("url: port is empty");
    }
  }
  if (host.empty()) return invalid("url: host is empty");
  cfg.host = std::string(host);
  if (!port.empty()) {
    int p = 0;
    if (!parse_int(port, p) || p < 1 || p > 65535) {
      return invalid("url: port = " + quote(port) + " is out of range (expected 1..65535)");
    }
    cfg.port = p;
  }
  if (!path.empty()) {
    auto db = parse_db(path, "url");
    if (!db) return std::move(db).error();
    cfg.db = *db;
  }
  if (auto r = apply_query(query, cfg); !r) return std::move(r).error();
  if (auto r = cfg.validate(); !r) return std::move(r).error();
  return cfg;
}

bool has_control_or_space(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return true;
  }
  return false;
}

std::string ms(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + "ms";
}

}  // namespace

namespace {
// The URL as it may be shown in a message: everything up to the last '@' (a userinfo, perhaps
// with a password) replaced by "***".
std::string redacted(std::string_view url) {
  const auto at = url.rfind('@');
  if (at == std::string_view::npos) return quote(url);
  const auto sep = url.find("://");
  const auto keep = sep != std::string_view::npos && sep < at ? sep + 3 : 0;
  return quote(std::string(url.substr(0, keep)) + "***" + std::string(url.substr(at)));
}
}  // namespace

Result<Config> Config::from_url(std::string_view url) {
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) {
    return invalid("url: " + redacted(url) +
                   " has no scheme (expected redis://, rediss:// or unix://)");
  }
  const auto scheme = url.substr(0, sep);
  if (scheme.find('@') != std::string_view::npos || scheme.find(':') != std::string_view::npos) {
    return invalid("url: " + redacted(url) +
                   " does not start with a scheme (expected redis://, rediss:// or unix://)");
  }
  const auto rest = url.substr(sep + 3);
  if (scheme == "redis") return parse_tcp(rest, false);
  if (scheme == "rediss") return parse_tcp(rest, true);
  if (scheme == "unix") return parse_unix(rest);
  return invalid("url: unknown scheme " + quote(scheme) +
                 " (expected redis://, rediss:// or unix://)");
}

Result<Config> Config::from_env() {
  const char* url = std::getenv("REDIS_URL");
  auto cfg = from_url(url != nullptr && *url != '\0' ? url : "redis://127.0.0.1:6379/0");
  if (!cfg) {
    Error e = std::move(cfg).error();
    e.message = "REDIS_URL: " + e.message;
    return e;
  }
  if (const char* pw = std::getenv("REDIS_PASSWORD"); pw != nullptr && *pw != '\0') {
    cfg->password = pw;
  }
  if (const char* db = std::getenv("REDIS_DB"); db != nullptr && *db != '\0') {
    auto v = parse_db(db, "REDIS_DB");
    if (!v) return std::move(v).error();
    cfg->db = *v;
  }
  if (auto r = cfg->validate(); !r) return std::move(r).error();
  return cfg;
}

namespace {

// The TLS fields: consistent with each other, and not set while TLS is off (a CA file configured
// for a connection that silently stays plaintext would be worse than an error).
Result<void> validate_tls(const Config& c) {
  const bool any_field = !c.tls_ca_file.empty() || !c.tls_ca_dir.empty() ||
                         !c.tls_cert_file.empty() || !c.tls_key_file.empty() ||
                         !c.tls_server_name.empty() || c.tls_insecure_skip_verify;
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
  if (local_max_bytes < 1024) {
    return invalid("config: local_max_bytes = " + std::to_string(local_max_bytes) +
                   " must be >= 1024");
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
  if (unix_socket.empty()) {
    out = tls ? "rediss://" : "redis://";
  } else {
    out = "unix://";
  }
  if (!username.empty() || !password.empty()) {
    out += username;
    if (!password.empty()) out += ":***";
    out += "@";
  }
  if (unix_socket.empty()) {
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
