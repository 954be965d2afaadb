// Client's string commands: each one is build -> run -> parse, plus local fallback where it
// applies.
#include "client/calls.hpp"
#include "protocol/commands.hpp"
#include "protocol/replies.hpp"
#include "rcache/client.hpp"

namespace rcache {

using detail::Command;
using detail::command_of;
using detail::future_of;
using detail::on_reply;
using detail::Op;
using detail::run;
using detail::run_async;
using OptString = std::optional<std::string>;

namespace {

// GET: a stored value goes through the envelope decoder (plain values pass unchanged).
auto parse_value(detail::ClientCore& core, std::string key) {
  return on_reply<OptString>(
      [&core, key = std::move(key)](const redisReply& r) -> Result<OptString> {
        auto raw = detail::parse_string_or_nil("GET", r);
        if (!raw || !raw->has_value()) return raw;
        return core.decode_read(std::move(**raw), key);
      });
}

auto parse_integer(const char* cmd) {
  return on_reply<std::int64_t>(
      [cmd](const redisReply& r) { return detail::parse_integer(cmd, r); });
}

auto parse_flag(const char* cmd) {
  return on_reply<bool>([cmd](const redisReply& r) { return detail::parse_flag(cmd, r); });
}

auto parse_values(detail::ClientCore& core, std::vector<std::string> keys) {
  return on_reply<Client::Values>(
      [&core, keys = std::move(keys)](const redisReply& r) -> Result<Client::Values> {
        auto raw = detail::parse_mget(r, keys.size());
        if (!raw) return std::move(raw).error();
        Client::Values out;
        out.reserve(raw->size());
        for (std::size_t i = 0; i < raw->size(); ++i) {
          auto& v = (*raw)[i];
          if (!v) {
            out.emplace_back(std::nullopt);
            continue;
          }
          auto decoded = core.decode_read(std::move(*v), i < keys.size() ? keys[i] : "");
          if (!decoded) return std::move(decoded).error();
          out.push_back(std::move(*decoded));
        }
        return out;
      });
}

Result<Command> get_cmd(detail::ClientCore& core, std::string_view key) {
  return command_of("GET", detail::keyed_command(core.config(), "GET", key), Op::get);
}

// A value that may be compressed is encoded only once the call is admitted, inside its deadline
// and its latency (Command::build): a refused call costs no compression. One below the
// threshold costs nothing to encode: its bytes are made now, which spares the hot path of small
// values the std::function (its captures exceed the small-buffer size: one allocation per call).
bool may_compress(const Config& cfg, std::size_t size) {
  return cfg.compression && size >= cfg.compression_threshold;
}

Result<detail::Wire> set_wire(detail::ClientCore& core, std::string_view key,
                              std::string_view value, const SetOptions& o) {
  const detail::Encoded stored = core.encode(value);
  return detail::set_command(core.config(), key, value, stored.view(value), o);
}

Result<Command> set_cmd(detail::ClientCore& core, std::string_view key, std::string_view value,
                        const SetOptions& o) {
  if (auto r = detail::check_set_args(core.config(), key, value, o); !r) {
    return std::move(r).error();
  }
  if (!may_compress(core.config(), value.size())) {
    auto w = set_wire(core, key, value, o);
    if (!w) return std::move(w).error();
    return Command::of("SET", std::move(*w), Op::set);
  }
  Command c;
  c.name = "SET";
  c.op = Op::set;
  c.build = [&core, key, value, o] { return set_wire(core, key, value, o); };
  return c;
}

Result<Command> keys_cmd(detail::ClientCore& core, const char* name, Op op,
                         const std::vector<std::string>& keys) {
  auto cmd = command_of(name, detail::multi_key_command(core.config(), name, keys), op);
  if (cmd) cmd->keys = static_cast<std::uint32_t>(keys.size());
  return cmd;
}

Result<detail::Wire> mset_wire(detail::ClientCore& core, const Client::Pairs& pairs,
                               std::chrono::milliseconds ttl) {
  std::vector<detail::Encoded> encoded;
  std::vector<std::string_view> stored;
  encoded.reserve(pairs.size());
  stored.reserve(pairs.size());
  for (const auto& [k, v] : pairs) encoded.push_back(core.encode(v));
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    stored.push_back(encoded[i].view(pairs[i].second));
  }
  return detail::mset_command(core.config(), pairs, stored, ttl);
}

Result<Command> mset_cmd(detail::ClientCore& core, const Client::Pairs& pairs,
                         std::chrono::milliseconds ttl) {
  if (auto r = detail::check_mset_args(core.config(), pairs, ttl); !r) {
    return std::move(r).error();
  }
  bool eager = true;
  for (const auto& [k, v] : pairs) eager = eager && !may_compress(core.config(), v.size());
  if (eager) {
    auto w = mset_wire(core, pairs, ttl);
    if (!w) return std::move(w).error();
    Command c = Command::of("MSET", std::move(*w), Op::mset);
    c.keys = static_cast<std::uint32_t>(pairs.size());
    return c;
  }
  Command c;
  c.name = "MSET";
  c.op = Op::mset;
  c.keys = static_cast<std::uint32_t>(pairs.size());
  c.build = [&core, &pairs, ttl] { return mset_wire(core, pairs, ttl); };
  return c;
}

auto parse_mset(std::size_t pairs) {
  return [pairs](detail::Outcome& o) { return detail::parse_mset(o.earlier, *o.reply, pairs); };
}

}  // namespace

// GET
Result<OptString> Client::get(std::string_view key) {
  if (auto* near = core_->availability().near_cache()) {
    auto r = detail::near_get(*core_, *near, key);
    if (!r) return std::move(r).error();
    return std::move(r->value);
  }
  return run<OptString>(*core_, get_cmd(*core_, key), parse_value(*core_, std::string(key)));
}
Result<OptString> Client::get(std::string_view key, const ReadOptions& options) {
  if (options.near_cache) return get(key);
  auto r = get_with_source(key, options);
  if (!r) return std::move(r).error();
  return std::move(r->value);
}
Result<Read> Client::get_with_source(std::string_view key, const ReadOptions& options) {
  if (options.near_cache) return get_with_source(key);
  if (auto* near = core_->availability().near_cache()) {
    return detail::near_get(*core_, *near, key, false);
  }
  return get_with_source(key);
}
Result<Read> Client::get_with_source(std::string_view key) {
  if (auto* near = core_->availability().near_cache()) return detail::near_get(*core_, *near, key);
  auto r = run<OptString>(*core_, get_cmd(*core_, key), parse_value(*core_, std::string(key)));
  if (!r) return std::move(r).error();
  return Read{std::move(*r), Read::Source::redis};
}
void Client::get_async(std::string_view key, Callback<OptString> cb) {
  if (auto* near = core_->availability().near_cache()) {
    detail::near_get_async(*core_, *near, key, std::move(cb));
    return;
  }
  run_async<OptString>(*core_, get_cmd(*core_, key), parse_value(*core_, std::string(key)),
                       std::move(cb));
}
std::future<Result<OptString>> Client::get_async(std::string_view key) {
  return future_of<OptString>([&](Callback<OptString> cb) { get_async(key, std::move(cb)); });
}

// SET
Result<bool> Client::set(std::string_view key, std::string_view value, SetOptions options) {
  detail::LocalWrite local(*core_, key);
  auto r =
      run<bool>(*core_, set_cmd(*core_, key, value, options), on_reply<bool>(detail::parse_set));
  return local.settle_set(std::move(r), value, options);
}
Result<bool> Client::set(std::string_view key, std::string_view value,
                         std::chrono::milliseconds ttl) {
  return set(key, value, SetOptions{ttl, SetOptions::Condition::always});
}
void Client::set_async(std::string_view key, std::string_view value, SetOptions options,
                       Callback<bool> cb) {
  // As set(): LocalWrite forgets the key, and in local mode answers an outage from the copy.
  if (core_->availability().near_cache() != nullptr) {
    cb = [local = std::make_shared<detail::LocalWrite>(*core_, key), v = std::string(value),
          options, cb = std::move(cb)](Result<bool> r) {
      r = local->settle_set(std::move(r), v, options);
      if (cb) cb(std::move(r));
    };
  }
  run_async<bool>(*core_, set_cmd(*core_, key, value, options), on_reply<bool>(detail::parse_set),
                  std::move(cb));
}
std::future<Result<bool>> Client::set_async(std::string_view key, std::string_view value,
                                            SetOptions options) {
  return future_of<bool>([&](Callback<bool> cb) { set_async(key, value, options, std::move(cb)); });
}

// DEL / UNLINK / EXISTS
Result<std::int64_t> Client::del(std::string_view key) {
  return del(std::vector<std::string>{std::string(key)});
}
Result<std::int64_t> Client::del(const std::vector<std::string>& keys) {
  detail::LocalWrite local(*core_, keys);
  auto r = run<std::int64_t>(*core_, keys_cmd(*core_, "DEL", Op::del, keys), parse_integer("DEL"));
  return local.settle_del(std::move(r));
}
void Client::del_async(const std::vector<std::string>& keys, Callback<std::int64_t> cb) {
  if (core_->availability().near_cache() != nullptr) {  // as del()
    cb = [local = std::make_shared<detail::LocalWrite>(*core_, keys),
          cb = std::move(cb)](Result<std::int64_t> r) {
      r = local->settle_del(std::move(r));
      if (cb) cb(std::move(r));
    };
  }
  run_async<std::int64_t>(*core_, keys_cmd(*core_, "DEL", Op::del, keys), parse_integer("DEL"),
                          std::move(cb));
}
std::future<Result<std::int64_t>> Client::del_async(const std::vector<std::string>& keys) {
  return future_of<std::int64_t>(
      [&](Callback<std::int64_t> cb) { del_async(keys, std::move(cb)); });
}
Result<std::int64_t> Client::unlink(std::string_view key) {
  return unlink(std::vector<std::string>{std::string(key)});
}
Result<std::int64_t> Client::unlink(const std::vector<std::string>& keys) {
  auto r = run<std::int64_t>(*core_, keys_cmd(*core_, "UNLINK", Op::unlink, keys),
                             parse_integer("UNLINK"));
  detail::forget(*core_, keys);
  return r;
}
void Client::unlink_async(const std::vector<std::string>& keys, Callback<std::int64_t> cb) {
  cb = detail::forgetting<std::int64_t>(*core_, keys, std::move(cb));
  run_async<std::int64_t>(*core_, keys_cmd(*core_, "UNLINK", Op::unlink, keys),
                          parse_integer("UNLINK"), std::move(cb));
}
std::future<Result<std::int64_t>> Client::unlink_async(const std::vector<std::string>& keys) {
  return future_of<std::int64_t>(
      [&](Callback<std::int64_t> cb) { unlink_async(keys, std::move(cb)); });
}
Result<bool> Client::exists(std::string_view key) {
  return run<bool>(
      *core_,
      command_of("EXISTS", detail::keyed_command(core_->config(), "EXISTS", key), Op::exists),
      parse_flag("EXISTS"));
}
Result<std::int64_t> Client::exists(const std::vector<std::string>& keys) {
  return run<std::int64_t>(*core_, keys_cmd(*core_, "EXISTS", Op::exists, keys),
                           parse_integer("EXISTS"));
}
void Client::exists_async(const std::vector<std::string>& keys, Callback<std::int64_t> cb) {
  run_async<std::int64_t>(*core_, keys_cmd(*core_, "EXISTS", Op::exists, keys),
                          parse_integer("EXISTS"), std::move(cb));
}
std::future<Result<std::int64_t>> Client::exists_async(const std::vector<std::string>& keys) {
  return future_of<std::int64_t>(
      [&](Callback<std::int64_t> cb) { exists_async(keys, std::move(cb)); });
}

// PEXPIRE / PTTL
Result<bool> Client::expire(std::string_view key, std::chrono::milliseconds ttl) {
  auto r = run<bool>(
      *core_, command_of("PEXPIRE", detail::pexpire_command(core_->config(), key, ttl), Op::expire),
      parse_flag("PEXPIRE"));
  detail::forget(*core_, key);  // a copy must not outlive the new TTL
  return r;
}
void Client::expire_async(std::string_view key, std::chrono::milliseconds ttl, Callback<bool> cb) {
  cb = detail::forgetting<bool>(*core_, {std::string(key)}, std::move(cb));
  run_async<bool>(
      *core_, command_of("PEXPIRE", detail::pexpire_command(core_->config(), key, ttl), Op::expire),
      parse_flag("PEXPIRE"), std::move(cb));
}
std::future<Result<bool>> Client::expire_async(std::string_view key,
                                               std::chrono::milliseconds ttl) {
  return future_of<bool>([&](Callback<bool> cb) { expire_async(key, ttl, std::move(cb)); });
}
Result<Ttl> Client::ttl(std::string_view key) {
  return run<Ttl>(*core_,
                  command_of("PTTL", detail::keyed_command(core_->config(), "PTTL", key), Op::ttl),
                  on_reply<Ttl>(detail::parse_pttl));
}
void Client::ttl_async(std::string_view key, Callback<Ttl> cb) {
  run_async<Ttl>(*core_,
                 command_of("PTTL", detail::keyed_command(core_->config(), "PTTL", key), Op::ttl),
                 on_reply<Ttl>(detail::parse_pttl), std::move(cb));
}
std::future<Result<Ttl>> Client::ttl_async(std::string_view key) {
  return future_of<Ttl>([&](Callback<Ttl> cb) { ttl_async(key, std::move(cb)); });
}

// INCRBY: not idempotent, never resent once it may have run.
Result<std::int64_t> Client::incrby(std::string_view key, std::int64_t delta) {
  auto r = run<std::int64_t>(
      *core_,
      command_of("INCRBY", detail::incrby_command(core_->config(), key, delta), Op::incrby, false),
      parse_integer("INCRBY"));
  detail::forget(*core_, key);
  return r;
}
void Client::incrby_async(std::string_view key, std::int64_t delta, Callback<std::int64_t> cb) {
  cb = detail::forgetting<std::int64_t>(*core_, {std::string(key)}, std::move(cb));
  run_async<std::int64_t>(
      *core_,
      command_of("INCRBY", detail::incrby_command(core_->config(), key, delta), Op::incrby, false),
      parse_integer("INCRBY"), std::move(cb));
}
std::future<Result<std::int64_t>> Client::incrby_async(std::string_view key, std::int64_t delta) {
  return future_of<std::int64_t>(
      [&](Callback<std::int64_t> cb) { incrby_async(key, delta, std::move(cb)); });
}

// MGET / MSET
Result<Client::Values> Client::mget(const std::vector<std::string>& keys) {
  if (auto* near = core_->availability().near_cache()) {
    return detail::near_mget(*core_, *near, keys);
  }
  return run<Values>(*core_, keys_cmd(*core_, "MGET", Op::mget, keys), parse_values(*core_, keys));
}
void Client::mget_async(const std::vector<std::string>& keys, Callback<Values> cb) {
  if (auto* near = core_->availability().near_cache()) {
    detail::near_mget_async(*core_, *near, keys, std::move(cb));
    return;
  }
  run_async<Values>(*core_, keys_cmd(*core_, "MGET", Op::mget, keys), parse_values(*core_, keys),
                    std::move(cb));
}
std::future<Result<Client::Values>> Client::mget_async(const std::vector<std::string>& keys) {
  return future_of<Values>([&](Callback<Values> cb) { mget_async(keys, std::move(cb)); });
}
Result<void> Client::mset(const Pairs& pairs, std::chrono::milliseconds ttl) {
  auto r = run<void>(*core_, mset_cmd(*core_, pairs, ttl), parse_mset(pairs.size()));
  detail::forget_all(*core_, pairs, [](const auto& p) -> std::string_view { return p.first; });
  return r;
}
void Client::mset_async(const Pairs& pairs, std::chrono::milliseconds ttl, Callback<void> cb) {
  if (core_->availability().near_cache() != nullptr) {
    std::vector<std::string> keys;
    keys.reserve(pairs.size());
    for (const auto& [k, v] : pairs) keys.push_back(k);
    cb = detail::forgetting<void>(*core_, std::move(keys), std::move(cb));
  }
  run_async<void>(*core_, mset_cmd(*core_, pairs, ttl), parse_mset(pairs.size()), std::move(cb));
}
std::future<Result<void>> Client::mset_async(const Pairs& pairs, std::chrono::milliseconds ttl) {
  return future_of<void>([&](Callback<void> cb) { mset_async(pairs, ttl, std::move(cb)); });
}

}  // namespace rcache
