// Config from a URL (redis://, rediss:// with redis-py's TLS query spellings, unix://) and from
// the environment.
#include <cstdlib>

#include "base/config_text.hpp"
#include "base/url_compat.hpp"
#include "rcache/config.hpp"

namespace rcache {
namespace {

using detail::invalid;
using detail::parse_int;
using detail::quote;

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

Result<std::int64_t> parse_db(std::string_view s, std::string_view where) {
  std::int64_t db = 0;
  if (!parse_int(s, db) || db < 0) {
    return invalid(std::string(where) + ": db = " + quote(s) +
                   " is out of range (expected an integer >= 0)");
  }
  return db;
}

// Where the userinfo ends: the last '@' before the query, or npos. The query starts at the first
// '?' followed by "name=" (a name of [a-z0-9_]), so its values may hold '@' (a key password, a
// path); a password may hold '/', ':', '#' and '?' unescaped, only not '@' followed by nothing
// that looks like a host, nor "?name=".
std::size_t userinfo_at(std::string_view rest) {
  std::size_t query = std::string_view::npos;
  for (auto q = rest.find('?'); q != std::string_view::npos; q = rest.find('?', q + 1)) {
    std::size_t k = q + 1;
    while (k < rest.size() && ((rest[k] >= 'a' && rest[k] <= 'z') ||
                               (rest[k] >= '0' && rest[k] <= '9') || rest[k] == '_')) {
      ++k;
    }
    if (k > q + 1 && k < rest.size() && rest[k] == '=') {
      query = q;
      break;
    }
  }
  return rest.substr(0, query).rfind('@');
}

// "user:password" (each percent-escaped, the user may be empty) of a redis:// or sentinel URL.
Result<void> apply_userinfo(std::string_view userinfo, std::string_view scheme, Config& cfg) {
  const auto colon = userinfo.find(':');
  if (colon == std::string_view::npos) {
    const std::string s(scheme);
    return invalid("url: userinfo without ':' (use " + s + "://:password@host or " + s +
                   "://user:password@host)");
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
  return {};
}

// Applies "a=b&c=d" query parameters: rcache's own, then other clients' (url_compat.hpp); what
// is left is refused in strict mode, else listed in cfg.url_ignored_options.
Result<void> apply_query(std::string_view query, Config& cfg, UrlMode mode) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (item.empty()) continue;
    const auto eq = item.find('=');
    const auto key = item.substr(0, eq);
    const auto raw = eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
    if (!cfg.tls && (key.substr(0, 4) == "ssl_" || key.substr(0, 4) == "tls_")) {
      // A TLS option where TLS is off: the user meant TLS; a plaintext connection would be a
      // silent downgrade.
      return invalid("url: TLS option " + quote(key) +
                     " on a URL without TLS (use rediss:// or rediss+sentinel://)");
    }
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
    } else if (key == "sentinel_password") {
      auto v = percent_decode(raw, "sentinel_password", true);
      if (!v) return std::move(v).error();
      cfg.sentinel_password = std::move(*v);
    } else if (key == "sentinel_username") {
      auto v = percent_decode(raw, "sentinel_username", false);
      if (!v) return std::move(v).error();
      cfg.sentinel_username = std::move(*v);
    } else if (key == "ssl_cert_reqs") {
      // redis-py's spelling: "required" (the default) or "none" (no verification at all).
      // "optional" verifies too: a server always shows a certificate, and Python's
      // CERT_OPTIONAL checks it like CERT_REQUIRED on the client side.
      if (raw == "none" || raw == "CERT_NONE") {
        cfg.tls_insecure_skip_verify = true;
      } else if (raw != "required" && raw != "CERT_REQUIRED" && raw != "optional" &&
                 raw != "CERT_OPTIONAL") {
        return invalid("url: ssl_cert_reqs = " + quote(raw) +
                       " (expected required, optional or none)");
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
      auto decoded = percent_decode(raw, key, false);
      if (!decoded) return std::move(decoded).error();
      auto foreign = detail::apply_foreign_option(key, *decoded, cfg);
      if (!foreign) return std::move(foreign).error();
      if (*foreign == detail::Foreign::mapped) continue;
      if (mode == UrlMode::strict) {
        return invalid("url: " +
                       std::string(*foreign == detail::Foreign::ignored ? "query parameter "
                                                                        : "unknown query "
                                                                          "parameter ") +
                       quote(key) +
                       (*foreign == detail::Foreign::ignored
                            ? " has no meaning in rcache (strict URL mode; see docs/URLS.md)"
                            : " (strict URL mode; supported options: docs/URLS.md)"));
      }
      std::string name(key.substr(0, 64));
      for (char& ch : name) {
        if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';  // for the log line
      }
      cfg.url_ignored_options.push_back(std::move(name));
    }
  }
  return {};
}

Result<Config> parse_unix(std::string_view rest, UrlMode mode) {
  // unix://[user[:password]@]/path?query
  Config cfg;
  const auto at = userinfo_at(rest);  // first: a password may hold '?' (see userinfo_at)
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
  if (auto r = apply_query(query, cfg, mode); !r) return std::move(r).error();
  if (!cfg.username.empty() && cfg.password.empty()) {
    return invalid("url: username " + quote(cfg.username) + " given without a password");
  }
  if (auto r = cfg.validate(); !r) return std::move(r).error();
  return cfg;
}

Result<Config> parse_tcp(std::string_view rest, bool tls, UrlMode mode) {
  // [[user]:password@]host[:port][/db][?query]
  Config cfg;
  cfg.tls = tls;
  // No message below may ever show any part of the userinfo (see userinfo_at).
  const auto at = userinfo_at(rest);
  const auto userinfo = at == std::string_view::npos ? std::string_view{} : rest.substr(0, at);
  if (at != std::string_view::npos) rest = rest.substr(at + 1);
  auto q = rest.find('?');
  auto query = q == std::string_view::npos ? std::string_view{} : rest.substr(q + 1);
  rest = rest.substr(0, q);
  const auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  const auto path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);

  if (at != std::string_view::npos) {
    if (auto r = apply_userinfo(userinfo, tls ? "rediss" : "redis", cfg); !r) {
      return std::move(r).error();
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
  if (auto r = apply_query(query, cfg, mode); !r) return std::move(r).error();
  if (auto r = cfg.validate(); !r) return std::move(r).error();
  return cfg;
}

// "h1[:port],h2[:port],...": each one checked, appended to `out` as written (empty ones skipped).
Result<void> parse_host_list(std::string_view hosts, int default_port, std::string_view field,
                             std::vector<std::string>& out) {
  while (!hosts.empty()) {
    const auto comma = hosts.find(',');
    const auto one = hosts.substr(0, comma);
    hosts = comma == std::string_view::npos ? std::string_view{} : hosts.substr(comma + 1);
    if (one.empty()) continue;
    auto hp = detail::parse_host_port(one, default_port, field);
    if (!hp) return std::move(hp).error();
    out.emplace_back(one);
  }
  return {};
}

// [[user]:password@]s1[:port],s2[:port]/master[/db][?query]: sentinels (port 26379 by default),
// the master's name, the data nodes' db; the userinfo is the data nodes' credentials.
Result<Config> parse_sentinel(std::string_view rest, bool tls, UrlMode mode) {
  Config cfg;
  cfg.tls = tls;
  const auto at = userinfo_at(rest);
  if (at != std::string_view::npos) {
    const auto userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto r = apply_userinfo(userinfo, tls ? "rediss+sentinel" : "redis+sentinel", cfg);
    if (!r) return std::move(r).error();
  }
  const auto q = rest.find('?');
  const auto query = q == std::string_view::npos ? std::string_view{} : rest.substr(q + 1);
  rest = rest.substr(0, q);
  const auto slash = rest.find('/');
  auto hosts = rest.substr(0, slash);
  auto path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  if (auto r = parse_host_list(hosts, 26379, "url: sentinel", cfg.sentinels); !r) return r.error();
  if (cfg.sentinels.empty()) {
    return invalid("url: no sentinels (expected redis+sentinel://host:26379,.../master_name)");
  }
  const auto slash2 = path.find('/');
  const auto master = path.substr(0, slash2);
  if (master.empty()) {
    return invalid("url: no master name (expected redis+sentinel://host:26379,.../master_name)");
  }
  auto name = percent_decode(master, "master name", false);
  if (!name) return std::move(name).error();
  cfg.sentinel_master = std::move(*name);
  if (slash2 != std::string_view::npos && slash2 + 1 < path.size()) {
    auto db = parse_db(path.substr(slash2 + 1), "url");
    if (!db) return std::move(db).error();
    cfg.db = *db;
  }
  if (auto r = apply_query(query, cfg, mode); !r) return std::move(r).error();
  if (auto r = cfg.validate(); !r) return std::move(r).error();
  return cfg;
}

// [[user]:password@]n1[:port],n2[:port][/0][?query]: seed nodes of a cluster (port 6379 by
// default); the userinfo is every node's credentials.
Result<Config> parse_cluster(std::string_view rest, bool tls, UrlMode mode) {
  Config cfg;
  cfg.tls = tls;
  const auto at = userinfo_at(rest);
  if (at != std::string_view::npos) {
    auto r = apply_userinfo(rest.substr(0, at), tls ? "rediss+cluster" : "redis+cluster", cfg);
    if (!r) return std::move(r).error();
    rest = rest.substr(at + 1);
  }
  const auto q = rest.find('?');
  const auto query = q == std::string_view::npos ? std::string_view{} : rest.substr(q + 1);
  rest = rest.substr(0, q);
  const auto slash = rest.find('/');
  auto hosts = rest.substr(0, slash);
  const auto path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  if (auto r = parse_host_list(hosts, 6379, "url: cluster node", cfg.cluster_nodes); !r) {
    return r.error();
  }
  if (cfg.cluster_nodes.empty()) {
    return invalid("url: no cluster nodes (expected redis+cluster://host:port,host:port)");
  }
  if (!path.empty()) {
    auto db = parse_db(path, "url");
    if (!db) return std::move(db).error();
    cfg.db = *db;
  }
  if (auto r = apply_query(query, cfg, mode); !r) return std::move(r).error();
  if (auto r = cfg.validate(); !r) return std::move(r).error();
  return cfg;
}

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

Result<Config> Config::from_url(std::string_view url, UrlMode mode) {
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) {
    return invalid("url: " + redacted(url) +
                   " has no scheme (expected redis://, rediss://, unix://, redis+sentinel:// or "
                   "redis+cluster://)");
  }
  const auto scheme = url.substr(0, sep);
  if (scheme.find('@') != std::string_view::npos || scheme.find(':') != std::string_view::npos) {
    return invalid("url: " + redacted(url) +
                   " does not start with a scheme (expected redis://, rediss://, unix:// or "
                   "redis+sentinel:// or redis+cluster://)");
  }
  const auto rest = url.substr(sep + 3);
  if (scheme == "redis") return parse_tcp(rest, false, mode);
  if (scheme == "rediss") return parse_tcp(rest, true, mode);
  if (scheme == "unix") return parse_unix(rest, mode);
  if (scheme == "redis+sentinel") return parse_sentinel(rest, false, mode);
  if (scheme == "rediss+sentinel") return parse_sentinel(rest, true, mode);
  if (scheme == "redis+cluster") return parse_cluster(rest, false, mode);
  if (scheme == "rediss+cluster") return parse_cluster(rest, true, mode);
  return invalid("url: unknown scheme " + quote(scheme) +
                 " (expected redis://, rediss://, unix://, redis+sentinel:// or redis+cluster://)");
}

Result<Config> Config::from_env() {
  const char* url = std::getenv("REDIS_URL");
  const char* strict = std::getenv("RCACHE_URL_STRICT");
  const UrlMode mode =
      strict != nullptr && std::string_view(strict) == "1" ? UrlMode::strict : UrlMode::lenient;
  auto cfg = from_url(url != nullptr && *url != '\0' ? url : "redis://127.0.0.1:6379/0", mode);
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
}  // namespace rcache
