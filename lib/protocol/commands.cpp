// Command builders of the string commands: argument checks, key prefix, RESP bytes.
#include "protocol/commands.hpp"

#include "protocol/resp.hpp"

namespace rcache::detail {

namespace {
std::string upper(std::string_view s) {
  std::string out(s.substr(0, 32));
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

// Commands that change a pooled connection's state or its reply framing: on a shared pool they
// would leak into later calls (another key's value, the wrong db, +QUEUED taken as OK), so
// command() refuses them and names the safe alternative.
const char* unsafe_on_a_pool(const std::vector<std::string>& argv) {
  const std::string name = upper(argv[0]);
  if (name == "SELECT") return "set Config::db: every pooled connection selects it";
  if (name == "MULTI" || name == "EXEC" || name == "DISCARD" || name == "WATCH" ||
      name == "UNWATCH") {
    return "a transaction needs one connection: use Batch::atomic() (rcache/batch.hpp) or a "
           "Script (rcache/script.hpp)";
  }
  if (name == "SUBSCRIBE" || name == "PSUBSCRIBE" || name == "UNSUBSCRIBE" ||
      name == "PUNSUBSCRIBE") {
    return "it turns the connection into a stream: use rcache::Subscriber (rcache/pubsub.hpp)";
  }
  if (name == "SSUBSCRIBE" || name == "SUNSUBSCRIBE" || name == "MONITOR" || name == "SYNC" ||
      name == "PSYNC" || name == "REPLCONF") {
    return "it turns the connection into a stream; use a dedicated connection outside rcache";
  }
  if (name == "AUTH") return "set Config::username and Config::password";
  if (name == "HELLO") return "rcache speaks RESP2 on every pooled connection";
  if (name == "RESET" || name == "QUIT") return "rcache manages its connections itself";
  if (name == "READONLY" || name == "READWRITE") return "it changes the connection's routing";
  if (name == "CLIENT" && argv.size() > 1) {
    const std::string sub = upper(argv[1]);
    if (sub == "REPLY") return "it changes the reply framing that matches replies to calls";
    if (sub == "TRACKING" || sub == "CACHING") return "tracking needs its own connection";
    if (sub == "SETNAME" || sub == "SETINFO") return "set Config::client_name";
  }
  return nullptr;
}

std::string shown_key(std::string_view key) {
  constexpr std::size_t kMax = 64;
  std::string out = "'";
  out.append(key.substr(0, kMax));
  if (key.size() > kMax) out += "...";
  out += "'";
  return out;
}
}  // namespace

Result<void> check_key(const Config& cfg, const char* cmd, std::string_view key) {
  if (cfg.key_prefix.size() + key.size() > cfg.max_value_size) {
    return Error{Errc::too_large, std::string(cmd) + ": key of " + std::to_string(key.size()) +
                                      " bytes is over max_value_size " +
                                      std::to_string(cfg.max_value_size)};
  }
  return {};
}

Result<void> check_value(const Config& cfg, const char* cmd, std::string_view key,
                         std::string_view value) {
  if (value.size() > cfg.max_value_size) {
    return Error{Errc::too_large, std::string(cmd) + ": value for key " + shown_key(key) + " is " +
                                      std::to_string(value.size()) +
                                      " bytes, over max_value_size " +
                                      std::to_string(cfg.max_value_size)};
  }
  return check_key(cfg, cmd, key);
}

Result<void> check_ttl(const char* cmd, std::chrono::milliseconds ttl, bool zero_ok) {
  if (ttl.count() < 0 || (!zero_ok && ttl.count() == 0)) {
    return Error{Errc::invalid_argument, std::string(cmd) +
                                             ": ttl = " + std::to_string(ttl.count()) +
                                             " ms must be " + (zero_ok ? ">= 0" : "> 0")};
  }
  return {};
}

std::string escape_glob(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

Result<Wire> keyed_command(const Config& cfg, const char* cmd, std::string_view key) {
  if (auto r = check_key(cfg, cmd, key); !r) return std::move(r).error();
  Wire w;
  RespWriter out(w.bytes);
  out.begin(2);
  out.arg(cmd);
  out.arg(cfg.key_prefix, key);
  return w;
}

Result<Wire> multi_key_command(const Config& cfg, const char* cmd,
                               const std::vector<std::string>& keys) {
  if (keys.empty()) return Error{Errc::invalid_argument, std::string(cmd) + ": no keys given"};
  Wire w;
  RespWriter out(w.bytes);
  out.begin(keys.size() + 1);
  out.arg(cmd);
  for (const auto& k : keys) {
    if (auto r = check_key(cfg, cmd, k); !r) return std::move(r).error();
    out.arg(cfg.key_prefix, k);
  }
  return w;
}

Result<void> check_set_args(const Config& cfg, std::string_view key, std::string_view value,
                            const SetOptions& o) {
  if (auto r = check_value(cfg, "SET", key, value); !r) return r;
  return check_ttl("SET", o.ttl, true);
}

Result<void> check_mset_args(const Config& cfg,
                             const std::vector<std::pair<std::string, std::string>>& pairs,
                             std::chrono::milliseconds ttl) {
  if (pairs.empty()) return Error{Errc::invalid_argument, "MSET: no pairs given"};
  if (auto r = check_ttl("MSET", ttl, true); !r) return r;
  for (const auto& [k, v] : pairs) {
    if (auto r = check_value(cfg, "MSET", k, v); !r) return r;
  }
  return {};
}

Result<Wire> set_command(const Config& cfg, std::string_view key, std::string_view value,
                         std::string_view stored, const SetOptions& o) {
  if (auto r = check_set_args(cfg, key, value, o); !r) return std::move(r).error();
  Wire w;
  RespWriter out(w.bytes);
  const bool cond = o.condition != SetOptions::Condition::always;
  out.begin(3 + (o.ttl.count() > 0 ? 2 : 0) + (cond ? 1 : 0));
  out.arg("SET");
  out.arg(cfg.key_prefix, key);
  out.arg(stored);
  if (o.ttl.count() > 0) {
    out.arg("PX");
    out.arg(static_cast<std::int64_t>(o.ttl.count()));
  }
  if (cond) out.arg(o.condition == SetOptions::Condition::if_absent ? "NX" : "XX");
  return w;
}

Result<Wire> pexpire_command(const Config& cfg, std::string_view key,
                             std::chrono::milliseconds ttl) {
  if (auto r = check_ttl("PEXPIRE", ttl, false); !r) return std::move(r).error();
  if (auto r = check_key(cfg, "PEXPIRE", key); !r) return std::move(r).error();
  Wire w;
  RespWriter out(w.bytes);
  out.begin(3);
  out.arg("PEXPIRE");
  out.arg(cfg.key_prefix, key);
  out.arg(static_cast<std::int64_t>(ttl.count()));
  return w;
}

Result<Wire> incrby_command(const Config& cfg, std::string_view key, std::int64_t delta) {
  if (auto r = check_key(cfg, "INCRBY", key); !r) return std::move(r).error();
  Wire w;
  RespWriter out(w.bytes);
  out.begin(3);
  out.arg("INCRBY");
  out.arg(cfg.key_prefix, key);
  out.arg(delta);
  return w;
}

Result<Wire> mset_command(const Config& cfg,
                          const std::vector<std::pair<std::string, std::string>>& pairs,
                          const std::vector<std::string_view>& stored,
                          std::chrono::milliseconds ttl) {
  if (auto r = check_mset_args(cfg, pairs, ttl); !r) return std::move(r).error();
  Wire w;
  RespWriter out(w.bytes);
  if (ttl.count() == 0) {
    out.begin(1 + 2 * pairs.size());
    out.arg("MSET");
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      out.arg(cfg.key_prefix, pairs[i].first);
      out.arg(stored[i]);
    }
    return w;
  }
  // MSET has no TTL: a transaction of SET ... PX, sent as one request on one connection.
  out.begin(1);
  out.arg("MULTI");
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    out.begin(5);
    out.arg("SET");
    out.arg(cfg.key_prefix, pairs[i].first);
    out.arg(stored[i]);
    out.arg("PX");
    out.arg(static_cast<std::int64_t>(ttl.count()));
  }
  out.begin(1);
  out.arg("EXEC");
  w.replies = static_cast<std::uint32_t>(pairs.size() + 2);
  return w;
}

Result<Wire> raw_command(const Config& cfg, const std::vector<std::string>& argv) {
  if (argv.empty()) return Error{Errc::invalid_argument, "command: argv is empty"};
  if (const char* instead = unsafe_on_a_pool(argv)) {
    // Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict on `"..." + std::string`.
    std::string message = "command: ";
    message.append(upper(argv[0]));
    if (message == "command: CLIENT" && argv.size() > 1) message.append(" ").append(upper(argv[1]));
    message.append(" would change the state of a shared pooled connection; refused (")
        .append(instead)
        .append(")");
    return Error{Errc::invalid_argument, std::move(message)};
  }
  for (const auto& a : argv) {
    if (a.size() > cfg.max_value_size) {
      return Error{Errc::too_large, "command: an argument of " + std::to_string(a.size()) +
                                        " bytes is over max_value_size"};
    }
  }
  Wire w;
  RespWriter out(w.bytes);
  out.begin(argv.size());
  for (const auto& a : argv) out.arg(a);
  return w;
}

Wire ping_command() {
  Wire w;
  RespWriter out(w.bytes);
  out.begin(1);
  out.arg("PING");
  return w;
}

Result<Wire> getex_command(const Config& cfg, std::string_view key, std::chrono::milliseconds ttl) {
  if (auto r = check_ttl("get_renew", ttl, false); !r) return std::move(r).error();
  if (auto r = check_key(cfg, "GETEX", key); !r) return std::move(r).error();
  Wire w;
  RespWriter out(w.bytes);
  out.begin(4);
  out.arg("GETEX");
  out.arg(cfg.key_prefix, key);
  out.arg("PX");
  out.arg(static_cast<std::int64_t>(ttl.count()));
  return w;
}

Result<Wire> get_with_pttl_command(const Config& cfg, std::string_view key, bool with_pttl) {
  if (auto r = check_key(cfg, "GET", key); !r) return std::move(r).error();
  Wire w;
  RespWriter out(w.bytes);
  out.begin(2);
  out.arg("GET");
  out.arg(cfg.key_prefix, key);
  if (with_pttl) {
    out.begin(2);
    out.arg("PTTL");
    out.arg(cfg.key_prefix, key);
    w.replies = 2;
  }
  return w;
}

Result<Wire> mget_with_pttl_command(const Config& cfg, const std::vector<std::string>& keys) {
  auto w = multi_key_command(cfg, "MGET", keys);
  if (!w) return w;
  RespWriter out(w->bytes);
  for (const auto& k : keys) {
    out.begin(2);
    out.arg("PTTL");
    out.arg(cfg.key_prefix, k);
  }
  w->replies = static_cast<std::uint32_t>(keys.size() + 1);
  return w;
}

Wire scan_command(std::string_view cursor, std::string_view match, std::size_t count,
                  std::string_view type) {
  Wire w;
  RespWriter out(w.bytes);
  out.begin(type.empty() ? 6 : 8);
  out.arg("SCAN");
  out.arg(cursor);
  out.arg("MATCH");
  out.arg(match);
  out.arg("COUNT");
  out.arg(static_cast<std::int64_t>(count));
  if (!type.empty()) {
    out.arg("TYPE");
    out.arg(type);
  }
  return w;
}

Result<Wire> key_args_command(const Config& cfg, const char* cmd, std::string_view key,
                              const std::vector<std::string_view>& args, std::size_t min_args) {
  if (auto r = check_key(cfg, cmd, key); !r) return std::move(r).error();
  if (args.size() < min_args) {
    return Error{Errc::invalid_argument, std::string(cmd) + ": no fields given"};
  }
  for (const auto& a : args) {
    if (a.size() > cfg.max_value_size) {
      return Error{Errc::too_large, std::string(cmd) + ": an argument of " +
                                        std::to_string(a.size()) + " bytes for key " +
                                        shown_key(key) + " is over max_value_size (" +
                                        std::to_string(cfg.max_value_size) + ")"};
    }
  }
  Wire w;
  RespWriter out(w.bytes);
  out.begin(args.size() + 2);
  out.arg(cmd);
  out.arg(cfg.key_prefix, key);
  for (const auto& a : args) out.arg(a);
  return w;
}

Result<Wire> evalsha_command(const Config& cfg, std::string_view sha,
                             const std::vector<std::string>& keys,
                             const std::vector<std::string_view>& args) {
  Wire w;
  RespWriter out(w.bytes);
  out.begin(3 + keys.size() + args.size());
  out.arg("EVALSHA");
  out.arg(sha);
  out.arg(static_cast<std::int64_t>(keys.size()));
  for (const auto& k : keys) {
    if (auto r = check_key(cfg, "EVALSHA", k); !r) return std::move(r).error();
    out.arg(cfg.key_prefix, k);
  }
  for (const auto& a : args) {
    if (a.size() > cfg.max_value_size) {
      return Error{Errc::too_large, "EVALSHA: an argument of " + std::to_string(a.size()) +
                                        " bytes is over max_value_size (" +
                                        std::to_string(cfg.max_value_size) + ")"};
    }
    out.arg(a);
  }
  return w;
}

std::string eval_from_evalsha(std::string_view evalsha_wire, std::string_view source) {
  // "*<n>\r\n$7\r\nEVALSHA\r\n$<len>\r\n<sha>\r\n" then the tail both forms share.
  std::size_t at = 0;
  for (int lines = 0; lines < 5 && at != std::string_view::npos; ++lines) {
    at = evalsha_wire.find("\r\n", at);
    if (at != std::string_view::npos) at += 2;
  }
  const std::size_t argc_end = evalsha_wire.find("\r\n");
  std::string w(evalsha_wire.substr(0, argc_end + 2));  // the same argument count
  RespWriter out(w);
  out.arg("EVAL");
  out.arg(source);
  if (at != std::string_view::npos) w.append(evalsha_wire.substr(at));
  return w;
}

Wire unlink_command(const std::vector<std::string>& keys) {
  Wire w;
  RespWriter out(w.bytes);
  out.begin(keys.size() + 1);
  out.arg("UNLINK");
  for (const auto& k : keys) out.arg(k);
  return w;
}

}  // namespace rcache::detail
