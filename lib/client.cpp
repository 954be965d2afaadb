// Client: builds each command, hands it to the transport and decodes its reply.
#include "rcache/client.hpp"

#include <cstdio>
#include <exception>

#include "client_core.hpp"
#include "json.hpp"
#include "rcache/prometheus.hpp"

namespace rcache {

using detail::ClientCore;
using detail::Clock;
using detail::LocalStore;
using detail::Outcome;
using detail::Command;
using detail::Request;
using detail::RespWriter;

namespace {

using OptString = std::optional<std::string>;

// ---- arguments ------------------------------------------------------------------------------

std::string shown_key(std::string_view key) {
  constexpr std::size_t kMax = 64;
  std::string out = "'";
  out.append(key.substr(0, kMax));
  if (key.size() > kMax) out += "...";
  out += "'";
  return out;
}

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
    return Error{Errc::invalid_argument, std::string(cmd) + ": ttl = " +
                                             std::to_string(ttl.count()) + " ms must be " +
                                             (zero_ok ? ">= 0" : "> 0")};
  }
  return {};
}

// Escapes glob metacharacters so that a key prefix matches only itself in SCAN MATCH.
std::string escape_glob(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// ---- replies ----------------------------------------------------------------------------------

Error unexpected(const char* cmd, const redisReply& r) {
  return Error{Errc::protocol, std::string("unexpected ") +
                                   std::string(detail::reply_type_name(r.type)) + " reply to " +
                                   cmd};
}

// Top-level error replies become Errc::server (or auth); nullptr means the reply is fine.
std::optional<Error> reply_error(const char* cmd, const redisReply& r) {
  if (r.type == REDIS_REPLY_ERROR) return detail::error_from_reply(r, cmd);
  return std::nullopt;
}

template <class T, class F>
auto parser(const char* cmd, F&& f) {
  return [cmd, f = std::forward<F>(f)](Outcome& o) -> Result<T> {
    const redisReply& r = *o.reply;
    if (auto e = reply_error(cmd, r)) return std::move(*e);
    return f(r);
  };
}

// GET: a stored value goes through the envelope decoder (plain values pass unchanged).
auto parse_value(ClientCore& core, std::string key) {
  return parser<OptString>("GET", [&core, key = std::move(key)](const redisReply& r) -> Result<OptString> {
    if (r.type == REDIS_REPLY_NIL) return OptString{};
    if (r.type != REDIS_REPLY_STRING) return unexpected("GET", r);
    auto v = core.decode(std::string(r.str, r.len), key);
    if (!v) return std::move(v).error();
    return OptString{std::move(*v)};
  });
}

auto parse_integer(const char* cmd) {
  return parser<std::int64_t>(cmd, [cmd](const redisReply& r) -> Result<std::int64_t> {
    if (r.type == REDIS_REPLY_INTEGER) return static_cast<std::int64_t>(r.integer);
    return unexpected(cmd, r);
  });
}

auto parse_flag(const char* cmd) {
  return parser<bool>(cmd, [cmd](const redisReply& r) -> Result<bool> {
    if (r.type == REDIS_REPLY_INTEGER) return r.integer != 0;
    return unexpected(cmd, r);
  });
}

auto parse_set() {
  return parser<bool>("SET", [](const redisReply& r) -> Result<bool> {
    if (r.type == REDIS_REPLY_STATUS) return true;
    if (r.type == REDIS_REPLY_NIL) return false;  // NX/XX condition not met
    return unexpected("SET", r);
  });
}

auto parse_ttl() {
  return parser<Ttl>("PTTL", [](const redisReply& r) -> Result<Ttl> {
    if (r.type != REDIS_REPLY_INTEGER) return unexpected("PTTL", r);
    Ttl t;
    if (r.integer == -2) return t;
    t.exists = true;
    if (r.integer == -1) {
      t.persistent = true;
    } else {
      t.remaining = std::chrono::milliseconds(r.integer);
    }
    return t;
  });
}

auto parse_mget(ClientCore& core, std::vector<std::string> keys) {
  return parser<Client::Values>("MGET", [&core, keys = std::move(keys)](const redisReply& r) -> Result<Client::Values> {
    if (r.type != REDIS_REPLY_ARRAY) return unexpected("MGET", r);
    Client::Values out;
    out.reserve(r.elements);
    for (std::size_t i = 0; i < r.elements; ++i) {
      const redisReply& e = *r.element[i];
      if (e.type == REDIS_REPLY_STRING) {
        auto v = core.decode(std::string(e.str, e.len), i < keys.size() ? keys[i] : "");
        if (!v) return std::move(v).error();
        out.emplace_back(std::move(*v));
      } else if (e.type == REDIS_REPLY_NIL) {
        out.emplace_back(std::nullopt);
      } else {
        return unexpected("MGET", e);
      }
    }
    return out;
  });
}

// MSET -> +OK; MULTI/SET.../EXEC -> +OK, +QUEUED..., then the EXEC array (or an error).
Result<void> parse_mset(Outcome& o) {
  for (const auto& e : o.earlier) {
    if (auto err = reply_error("MSET", *e)) return std::move(*err);
  }
  const redisReply& r = *o.reply;
  if (auto err = reply_error("MSET", r)) return std::move(*err);
  if (r.type == REDIS_REPLY_STATUS) return {};
  if (r.type == REDIS_REPLY_ARRAY) {
    for (std::size_t i = 0; i < r.elements; ++i) {
      if (auto err = reply_error("MSET", *r.element[i])) return std::move(*err);
    }
    return {};
  }
  if (r.type == REDIS_REPLY_NIL) return Error{Errc::server, "MSET: transaction aborted"};
  return unexpected("MSET", r);
}

auto parse_ping(Clock::time_point start) {
  return parser<std::chrono::microseconds>(
      "PING", [start](const redisReply& r) -> Result<std::chrono::microseconds> {
        if (r.type != REDIS_REPLY_STATUS) return unexpected("PING", r);
        return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
      });
}

auto parse_command() {
  return parser<Reply>("command", [](const redisReply& r) -> Result<Reply> {
    return detail::to_reply(r);
  });
}

// ---- the three call forms over a Result<Command> ---------------------------------------------

template <class T, class Parse>
Result<T> run(ClientCore& core, Result<Command> req, Parse parse) {
  if (!req) return std::move(req).error();
  return core.call<T>(std::move(*req), std::move(parse));
}

template <class T, class Parse>
void run_async(ClientCore& core, Result<Command> req, Parse parse, Callback<T> cb) {
  if (!req) {
    if (cb) {
      try {
        cb(Result<T>(std::move(req).error()));
      } catch (...) {
      }
    }
    return;
  }
  core.call_async<T>(std::move(*req), std::move(parse), std::move(cb));
}

template <class T, class Parse>
std::future<Result<T>> run_future(ClientCore& core, Result<Command> req, Parse parse) {
  if (!req) {
    std::promise<Result<T>> p;
    p.set_value(Result<T>(std::move(req).error()));
    return p.get_future();
  }
  return core.call_future<T>(std::move(*req), std::move(parse));
}

// ---- local degraded mode: answer get/set/del from memory when Redis is unavailable ----------

using detail::unavailable;

// Wraps a callback so that an "unavailable" error is replaced by local(), in local mode.
template <class T, class Local>
Callback<T> with_fallback(ClientCore& core, Callback<T> cb, Local local) {
  if (core.local() == nullptr) return cb;
  return [&core, cb = std::move(cb), local = std::move(local)](Result<T> r) {
    if (!r.ok() && unavailable(r.error())) {
      core.fallback_served().fetch_add(1, std::memory_order_relaxed);
      r = local();
    }
    if (cb) cb(std::move(r));
  };
}

template <class T, class Local>
Result<T> or_fallback(ClientCore& core, Result<T> r, Local local) {
  if (core.local() == nullptr || r.ok() || !unavailable(r.error())) return r;
  core.fallback_served().fetch_add(1, std::memory_order_relaxed);
  return local();
}

template <class T>
std::future<Result<T>> future_from(std::function<void(Callback<T>)> start) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  start([promise](Result<T> r) { promise->set_value(std::move(r)); });
  return future;
}

auto local_get(ClientCore& core, std::string key) {
  return [&core, key = std::move(key)]() -> Result<OptString> { return core.local()->get(key); };
}

auto local_set(ClientCore& core, std::string key, std::string value, SetOptions o) {
  return [&core, key = std::move(key), value = std::move(value), o]() -> Result<bool> {
    LocalStore& store = *core.local();
    const bool has = store.get(key).has_value();
    if (o.condition == SetOptions::Condition::if_absent && has) return false;
    if (o.condition == SetOptions::Condition::if_present && !has) return false;
    return store.set(key, value, o.ttl);
  };
}

auto local_del(ClientCore& core, std::vector<std::string> keys) {
  return [&core, keys = std::move(keys)]() -> Result<std::int64_t> {
    std::int64_t n = 0;
    for (const auto& k : keys) n += core.local()->erase(k) ? 1 : 0;
    return n;
  };
}

// ---- command builders -------------------------------------------------------------------------

Result<Command> keyed(const ClientCore& core, const char* name, std::string_view cmd,
                      std::string_view key) {
  if (auto r = check_key(core.config(), name, key); !r) return std::move(r).error();
  Command req = core.make_command(name);
  RespWriter w(req.wire);
  w.begin(2);
  w.arg(cmd);
  w.arg(core.config().key_prefix, key);
  return req;
}

template <class Keys>
Result<Command> multi_keyed(const ClientCore& core, const char* name, const Keys& keys) {
  if (keys.empty()) {
    return Error{Errc::invalid_argument, std::string(name) + ": no keys given"};
  }
  Command req = core.make_command(name);
  RespWriter w(req.wire);
  w.begin(keys.size() + 1);
  w.arg(name);
  for (const auto& k : keys) {
    if (auto r = check_key(core.config(), name, k); !r) return std::move(r).error();
    w.arg(core.config().key_prefix, k);
  }
  return req;
}

Result<Command> build_set(ClientCore& core, std::string_view key, std::string_view value,
                          const SetOptions& o) {
  if (auto r = check_value(core.config(), "SET", key, value); !r) return std::move(r).error();
  if (auto r = check_ttl("SET", o.ttl, true); !r) return std::move(r).error();
  Command req = core.make_command("SET");
  RespWriter w(req.wire);
  const bool cond = o.condition != SetOptions::Condition::always;
  w.begin(3 + (o.ttl.count() > 0 ? 2 : 0) + (cond ? 1 : 0));
  w.arg("SET");
  w.arg(core.config().key_prefix, key);
  const detail::Encoded stored = core.encode(value);
  w.arg(stored.view(value));
  if (o.ttl.count() > 0) {
    w.arg("PX");
    w.arg(static_cast<std::int64_t>(o.ttl.count()));
  }
  if (cond) w.arg(o.condition == SetOptions::Condition::if_absent ? "NX" : "XX");
  return req;
}

Result<Command> build_expire(const ClientCore& core, std::string_view key,
                             std::chrono::milliseconds ttl) {
  if (auto r = check_ttl("PEXPIRE", ttl, false); !r) return std::move(r).error();
  if (auto r = check_key(core.config(), "PEXPIRE", key); !r) return std::move(r).error();
  Command req = core.make_command("PEXPIRE");
  RespWriter w(req.wire);
  w.begin(3);
  w.arg("PEXPIRE");
  w.arg(core.config().key_prefix, key);
  w.arg(static_cast<std::int64_t>(ttl.count()));
  return req;
}

Result<Command> build_incrby(const ClientCore& core, std::string_view key, std::int64_t delta) {
  if (auto r = check_key(core.config(), "INCRBY", key); !r) return std::move(r).error();
  Command req = core.make_command("INCRBY");
  RespWriter w(req.wire);
  w.begin(3);
  w.arg("INCRBY");
  w.arg(core.config().key_prefix, key);
  w.arg(delta);
  req.idempotent = false;
  return req;
}

Result<Command> build_mset(ClientCore& core, const Client::Pairs& pairs,
                           std::chrono::milliseconds ttl) {
  if (pairs.empty()) return Error{Errc::invalid_argument, "MSET: no pairs given"};
  if (auto r = check_ttl("MSET", ttl, true); !r) return std::move(r).error();
  for (const auto& [k, v] : pairs) {
    if (auto r = check_value(core.config(), "MSET", k, v); !r) return std::move(r).error();
  }
  Command req = core.make_command("MSET");
  RespWriter w(req.wire);
  const auto& prefix = core.config().key_prefix;
  if (ttl.count() == 0) {
    w.begin(1 + 2 * pairs.size());
    w.arg("MSET");
    for (const auto& [k, v] : pairs) {
      w.arg(prefix, k);
      w.arg(core.encode(v).view(v));
    }
    return req;
  }
  // MSET has no TTL: a transaction of SET ... PX, sent as one request on one connection.
  w.begin(1);
  w.arg("MULTI");
  for (const auto& [k, v] : pairs) {
    w.begin(5);
    w.arg("SET");
    w.arg(prefix, k);
    const detail::Encoded stored = core.encode(v);
    w.arg(stored.view(v));
    w.arg("PX");
    w.arg(static_cast<std::int64_t>(ttl.count()));
  }
  w.begin(1);
  w.arg("EXEC");
  req.replies = static_cast<std::uint32_t>(pairs.size() + 2);
  return req;
}

Result<Command> build_command(const ClientCore& core, const std::vector<std::string>& argv) {
  if (argv.empty()) return Error{Errc::invalid_argument, "command: argv is empty"};
  for (const auto& a : argv) {
    if (a.size() > core.config().max_value_size) {
      return Error{Errc::too_large, "command: an argument of " + std::to_string(a.size()) +
                                        " bytes is over max_value_size"};
    }
  }
  Command req = core.make_command("command");
  RespWriter w(req.wire);
  w.begin(argv.size());
  for (const auto& a : argv) w.arg(a);
  req.idempotent = false;  // unknown command: not resent once it may have run
  return req;
}

Command build_ping(const ClientCore& core) {
  Command req = core.make_command("PING");
  RespWriter w(req.wire);
  w.begin(1);
  w.arg("PING");
  return req;
}

// ---- delete_pattern: SCAN + UNLINK, chained on the loop thread --------------------------------

struct PatternDelete : std::enable_shared_from_this<PatternDelete> {
  ClientCore* core = nullptr;
  std::string match;
  std::string cursor = "0";
  std::uint64_t removed = 0;
  std::uint64_t rounds = 0;
  Callback<std::uint64_t> cb;

  static constexpr std::uint64_t kMaxRounds = std::uint64_t{1} << 32;  // a guard, not a limit
  Clock::time_point start = Clock::now();

  void finish(Result<std::uint64_t> r) {
    core->record(detail::Op::delete_pattern, r, start);
    Callback<std::uint64_t> done = std::move(cb);
    cb = nullptr;
    if (done) done(std::move(r));
  }

  void fail(Error e) {
    e.message = "delete_pattern stopped after removing " + std::to_string(removed) +
                " keys: " + e.message;
    finish(std::move(e));
  }

  void scan() {
    if (++rounds > kMaxRounds) {
      fail(Error{Errc::protocol, "SCAN cursor never returned to 0"});
      return;
    }
    Command req = core->make_command("SCAN");
    RespWriter w(req.wire);
    w.begin(6);
    w.arg("SCAN");
    w.arg(cursor);
    w.arg("MATCH");
    w.arg(match);
    w.arg("COUNT");
    w.arg(static_cast<std::int64_t>(core->config().scan_count));
    core->executor().execute(std::move(req), [self = shared_from_this()](Outcome&& o) {
      self->on_scan(std::move(o));
    });
  }

  void on_scan(Outcome&& o) {
    if (o.error) return fail(std::move(*o.error));
    const redisReply& r = *o.reply;
    if (auto e = reply_error("SCAN", r)) return fail(std::move(*e));
    if (r.type != REDIS_REPLY_ARRAY || r.elements != 2 ||
        r.element[0]->type != REDIS_REPLY_STRING || r.element[1]->type != REDIS_REPLY_ARRAY) {
      return fail(unexpected("SCAN", r));
    }
    cursor.assign(r.element[0]->str, r.element[0]->len);
    const redisReply& keys = *r.element[1];
    if (keys.elements == 0) return next();
    Command req = core->make_command("UNLINK");
    RespWriter w(req.wire);
    w.begin(keys.elements + 1);
    w.arg("UNLINK");
    for (std::size_t i = 0; i < keys.elements; ++i) {
      const redisReply& k = *keys.element[i];
      if (k.type != REDIS_REPLY_STRING) return fail(unexpected("SCAN", k));
      w.arg(std::string_view(k.str, k.len));  // already prefixed
    }
    core->executor().execute(std::move(req), [self = shared_from_this()](Outcome&& o2) {
      self->on_unlink(std::move(o2));
    });
  }

  void on_unlink(Outcome&& o) {
    if (o.error) return fail(std::move(*o.error));
    const redisReply& r = *o.reply;
    if (auto e = reply_error("UNLINK", r)) return fail(std::move(*e));
    if (r.type != REDIS_REPLY_INTEGER) return fail(unexpected("UNLINK", r));
    removed += static_cast<std::uint64_t>(r.integer);
    next();
  }

  void next() {
    if (cursor == "0") return finish(removed);  // the batch that came with cursor 0 is done too
    scan();
  }
};

void start_pattern_delete(ClientCore& core, std::string_view pattern,
                          Callback<std::uint64_t> cb) {
  if (pattern.size() > core.config().max_value_size) {
    if (cb) cb(Error{Errc::too_large, "delete_pattern: pattern is over max_value_size"});
    return;
  }
  auto job = std::make_shared<PatternDelete>();
  job->core = &core;
  job->match = escape_glob(core.config().key_prefix);
  job->match.append(pattern);
  job->cb = std::move(cb);
  job->scan();
}

}  // namespace

// ---- Client -------------------------------------------------------------------------------------

Result<std::unique_ptr<Client>> Client::create(Config config) {
  try {
    if (auto r = config.validate(); !r) return std::move(r).error();
    auto core = ClientCore::create(std::move(config));
    if (!core) return std::move(core).error();
    std::unique_ptr<Client> client(new Client(std::move(*core)));
    if (const auto& address = client->config().metrics_address; !address.empty()) {
      auto exposer = start_exposer(*client, address);
      if (!exposer) return std::move(exposer).error();
      client->exposer_ = std::move(*exposer);
    }
    return client;
  } catch (const std::exception& e) {
    return Error{Errc::connection, std::string("cannot start client: ") + e.what()};
  }
}

Client::Client(std::unique_ptr<ClientCore> core) : core_(std::move(core)) {}
Client::~Client() { exposer_.reset(); }  // stop scrapes before the core goes away

const Config& Client::config() const noexcept { return core_->config(); }

std::string_view to_string(Health::Status st) noexcept {
  switch (st) {
    case Health::Status::ok: return "ok";
    case Health::Status::degraded: return "degraded";
    case Health::Status::disabled: return "disabled";
  }
  return "unknown";
}

std::string Health::to_json() const {
  using detail::append_json_string;
  std::string out = "{\"status\":";
  append_json_string(out, rcache::to_string(status));
  out += ",\"reason\":";
  append_json_string(out, reason);
  out += ",\"ping_ms\":";
  if (ping) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(ping->count()) / 1000.0);
    out += buf;
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
         ",\"reconnects\":" + std::to_string(pool.reconnects) + ",\"last_error\":";
  append_json_string(out, pool.last_error);
  out += "}}";
  return out;
}

Health Client::health() {
  Health h;
  h.mode = core_->config().degraded_mode;
  h.breaker = breaker_state();
  h.pool = pool_status();
  const std::string where = core_->transport().endpoint();
  if (core_->transport().disabled()) {
    h.status = Health::Status::disabled;
    h.reason = "redis " + where + " unreachable since start-up (" + h.pool.last_error +
               "); probing in the background";
    return h;
  }
  if (h.breaker == BreakerState::open || h.breaker == BreakerState::forced_open) {
    h.status = Health::Status::degraded;
    h.reason = "circuit breaker " + std::string(rcache::to_string(h.breaker)) + " for " + where +
               (h.pool.last_error.empty() ? "" : " (last error: " + h.pool.last_error + ")");
    return h;
  }
  auto p = ping();
  h.pool = pool_status();
  if (p.ok()) {
    h.ping = *p;
  } else {
    h.status = Health::Status::degraded;
    h.reason = "PING failed: " + p.error().to_string();
    return h;
  }
  if (h.breaker == BreakerState::half_open) {
    h.status = Health::Status::degraded;
    h.reason = "circuit breaker half_open: probing " + where;
  } else if (h.pool.ready < core_->config().pool_size) {
    h.status = Health::Status::degraded;
    h.reason = std::to_string(h.pool.ready) + " of " +
               std::to_string(core_->config().pool_size) + " connections ready";
  }
  return h;
}

BreakerState Client::breaker_state() const {
  auto* b = core_->executor().breaker();
  return b != nullptr ? b->state() : BreakerState::disabled;
}
void Client::force_breaker_open() {
  if (auto* b = core_->executor().breaker()) b->force_open();
}
void Client::disable_breaker() {
  if (auto* b = core_->executor().breaker()) b->disable();
}
void Client::reset_breaker() {
  if (auto* b = core_->executor().breaker()) b->reset();
}
PoolStatus Client::pool_status() const { return core_->transport().status(); }

// GET
Result<OptString> Client::get(std::string_view key) {
  auto r = run<OptString>(*core_, keyed(*core_, "GET", "GET", key), parse_value(*core_, std::string(key)));
  return or_fallback(*core_, std::move(r), [&] { return local_get(*core_, std::string(key))(); });
}
void Client::get_async(std::string_view key, Callback<OptString> cb) {
  if (core_->local() != nullptr) {
    cb = with_fallback<OptString>(*core_, std::move(cb), local_get(*core_, std::string(key)));
  }
  run_async<OptString>(*core_, keyed(*core_, "GET", "GET", key), parse_value(*core_, std::string(key)),
                       std::move(cb));
}
std::future<Result<OptString>> Client::get_async(std::string_view key) {
  if (core_->local() == nullptr) {
    return run_future<OptString>(*core_, keyed(*core_, "GET", "GET", key), parse_value(*core_, std::string(key)));
  }
  return future_from<OptString>([&](Callback<OptString> cb) { get_async(key, std::move(cb)); });
}

// SET
Result<bool> Client::set(std::string_view key, std::string_view value, SetOptions options) {
  auto r = run<bool>(*core_, build_set(*core_, key, value, options), parse_set());
  if (!r.ok() && r.error().code == Errc::too_large) return r;
  return or_fallback(*core_, std::move(r), [&] {
    return local_set(*core_, std::string(key), std::string(value), options)();
  });
}
Result<bool> Client::set(std::string_view key, std::string_view value,
                         std::chrono::milliseconds ttl) {
  return set(key, value, SetOptions{ttl, SetOptions::Condition::always});
}
void Client::set_async(std::string_view key, std::string_view value, SetOptions options,
                       Callback<bool> cb) {
  if (core_->local() != nullptr) {
    cb = with_fallback<bool>(*core_, std::move(cb),
                             local_set(*core_, std::string(key), std::string(value), options));
  }
  run_async<bool>(*core_, build_set(*core_, key, value, options), parse_set(), std::move(cb));
}
std::future<Result<bool>> Client::set_async(std::string_view key, std::string_view value,
                                            SetOptions options) {
  if (core_->local() == nullptr) {
    return run_future<bool>(*core_, build_set(*core_, key, value, options), parse_set());
  }
  return future_from<bool>(
      [&](Callback<bool> cb) { set_async(key, value, options, std::move(cb)); });
}

// DEL / UNLINK / EXISTS
Result<std::int64_t> Client::del(std::string_view key) {
  auto r = run<std::int64_t>(*core_, keyed(*core_, "DEL", "DEL", key), parse_integer("DEL"));
  return or_fallback(*core_, std::move(r),
                     [&] { return local_del(*core_, {std::string(key)})(); });
}
Result<std::int64_t> Client::del(const std::vector<std::string>& keys) {
  auto r = run<std::int64_t>(*core_, multi_keyed(*core_, "DEL", keys), parse_integer("DEL"));
  return or_fallback(*core_, std::move(r), [&] { return local_del(*core_, keys)(); });
}
void Client::del_async(const std::vector<std::string>& keys, Callback<std::int64_t> cb) {
  if (core_->local() != nullptr) {
    cb = with_fallback<std::int64_t>(*core_, std::move(cb), local_del(*core_, keys));
  }
  run_async<std::int64_t>(*core_, multi_keyed(*core_, "DEL", keys), parse_integer("DEL"),
                          std::move(cb));
}
std::future<Result<std::int64_t>> Client::del_async(const std::vector<std::string>& keys) {
  if (core_->local() == nullptr) {
    return run_future<std::int64_t>(*core_, multi_keyed(*core_, "DEL", keys),
                                    parse_integer("DEL"));
  }
  return future_from<std::int64_t>(
      [&](Callback<std::int64_t> cb) { del_async(keys, std::move(cb)); });
}
Result<std::int64_t> Client::unlink(std::string_view key) {
  return run<std::int64_t>(*core_, keyed(*core_, "UNLINK", "UNLINK", key),
                           parse_integer("UNLINK"));
}
Result<std::int64_t> Client::unlink(const std::vector<std::string>& keys) {
  return run<std::int64_t>(*core_, multi_keyed(*core_, "UNLINK", keys),
                           parse_integer("UNLINK"));
}
void Client::unlink_async(const std::vector<std::string>& keys, Callback<std::int64_t> cb) {
  run_async<std::int64_t>(*core_, multi_keyed(*core_, "UNLINK", keys), parse_integer("UNLINK"),
                          std::move(cb));
}
std::future<Result<std::int64_t>> Client::unlink_async(const std::vector<std::string>& keys) {
  return run_future<std::int64_t>(*core_, multi_keyed(*core_, "UNLINK", keys),
                                  parse_integer("UNLINK"));
}
Result<bool> Client::exists(std::string_view key) {
  return run<bool>(*core_, keyed(*core_, "EXISTS", "EXISTS", key), parse_flag("EXISTS"));
}
Result<std::int64_t> Client::exists(const std::vector<std::string>& keys) {
  return run<std::int64_t>(*core_, multi_keyed(*core_, "EXISTS", keys),
                           parse_integer("EXISTS"));
}
void Client::exists_async(const std::vector<std::string>& keys, Callback<std::int64_t> cb) {
  run_async<std::int64_t>(*core_, multi_keyed(*core_, "EXISTS", keys), parse_integer("EXISTS"),
                          std::move(cb));
}
std::future<Result<std::int64_t>> Client::exists_async(const std::vector<std::string>& keys) {
  return run_future<std::int64_t>(*core_, multi_keyed(*core_, "EXISTS", keys),
                                  parse_integer("EXISTS"));
}

// PEXPIRE / PTTL
Result<bool> Client::expire(std::string_view key, std::chrono::milliseconds ttl) {
  return run<bool>(*core_, build_expire(*core_, key, ttl), parse_flag("PEXPIRE"));
}
void Client::expire_async(std::string_view key, std::chrono::milliseconds ttl,
                          Callback<bool> cb) {
  run_async<bool>(*core_, build_expire(*core_, key, ttl), parse_flag("PEXPIRE"), std::move(cb));
}
std::future<Result<bool>> Client::expire_async(std::string_view key,
                                               std::chrono::milliseconds ttl) {
  return run_future<bool>(*core_, build_expire(*core_, key, ttl), parse_flag("PEXPIRE"));
}
Result<Ttl> Client::ttl(std::string_view key) {
  return run<Ttl>(*core_, keyed(*core_, "PTTL", "PTTL", key), parse_ttl());
}
void Client::ttl_async(std::string_view key, Callback<Ttl> cb) {
  run_async<Ttl>(*core_, keyed(*core_, "PTTL", "PTTL", key), parse_ttl(), std::move(cb));
}
std::future<Result<Ttl>> Client::ttl_async(std::string_view key) {
  return run_future<Ttl>(*core_, keyed(*core_, "PTTL", "PTTL", key), parse_ttl());
}

// INCRBY
Result<std::int64_t> Client::incrby(std::string_view key, std::int64_t delta) {
  return run<std::int64_t>(*core_, build_incrby(*core_, key, delta), parse_integer("INCRBY"));
}
void Client::incrby_async(std::string_view key, std::int64_t delta, Callback<std::int64_t> cb) {
  run_async<std::int64_t>(*core_, build_incrby(*core_, key, delta), parse_integer("INCRBY"),
                          std::move(cb));
}
std::future<Result<std::int64_t>> Client::incrby_async(std::string_view key,
                                                       std::int64_t delta) {
  return run_future<std::int64_t>(*core_, build_incrby(*core_, key, delta),
                                  parse_integer("INCRBY"));
}

// MGET / MSET
Result<Client::Values> Client::mget(const std::vector<std::string>& keys) {
  return run<Values>(*core_, multi_keyed(*core_, "MGET", keys), parse_mget(*core_, keys));
}
void Client::mget_async(const std::vector<std::string>& keys, Callback<Values> cb) {
  run_async<Values>(*core_, multi_keyed(*core_, "MGET", keys), parse_mget(*core_, keys), std::move(cb));
}
std::future<Result<Client::Values>> Client::mget_async(const std::vector<std::string>& keys) {
  return run_future<Values>(*core_, multi_keyed(*core_, "MGET", keys), parse_mget(*core_, keys));
}
Result<void> Client::mset(const Pairs& pairs, std::chrono::milliseconds ttl) {
  return run<void>(*core_, build_mset(*core_, pairs, ttl), parse_mset);
}
void Client::mset_async(const Pairs& pairs, std::chrono::milliseconds ttl, Callback<void> cb) {
  run_async<void>(*core_, build_mset(*core_, pairs, ttl), parse_mset, std::move(cb));
}
std::future<Result<void>> Client::mset_async(const Pairs& pairs, std::chrono::milliseconds ttl) {
  return run_future<void>(*core_, build_mset(*core_, pairs, ttl), parse_mset);
}

// PING
Result<std::chrono::microseconds> Client::ping() {
  const auto start = Clock::now();
  return run<std::chrono::microseconds>(*core_, build_ping(*core_), parse_ping(start));
}
void Client::ping_async(Callback<std::chrono::microseconds> cb) {
  const auto start = Clock::now();
  run_async<std::chrono::microseconds>(*core_, build_ping(*core_), parse_ping(start),
                                       std::move(cb));
}
std::future<Result<std::chrono::microseconds>> Client::ping_async() {
  const auto start = Clock::now();
  return run_future<std::chrono::microseconds>(*core_, build_ping(*core_), parse_ping(start));
}

// command
Result<Reply> Client::command(const std::vector<std::string>& argv) {
  return run<Reply>(*core_, build_command(*core_, argv), parse_command());
}
void Client::command_async(const std::vector<std::string>& argv, Callback<Reply> cb) {
  run_async<Reply>(*core_, build_command(*core_, argv), parse_command(), std::move(cb));
}
std::future<Result<Reply>> Client::command_async(const std::vector<std::string>& argv) {
  return run_future<Reply>(*core_, build_command(*core_, argv), parse_command());
}

// delete_pattern
void Client::delete_pattern_async(std::string_view pattern, Callback<std::uint64_t> cb) {
  start_pattern_delete(*core_, pattern, std::move(cb));
}
std::future<Result<std::uint64_t>> Client::delete_pattern_async(std::string_view pattern) {
  auto promise = std::make_shared<std::promise<Result<std::uint64_t>>>();
  auto future = promise->get_future();
  start_pattern_delete(*core_, pattern, [promise](Result<std::uint64_t> r) {
    promise->set_value(std::move(r));
  });
  return future;
}
Result<std::uint64_t> Client::delete_pattern(std::string_view pattern) {
  if (std::this_thread::get_id() == core_->transport().loop_thread()) {
    return Error{Errc::invalid_argument,
                 "delete_pattern: blocking call from an rcache callback would deadlock"};
  }
  return delete_pattern_async(pattern).get();
}

}  // namespace rcache
