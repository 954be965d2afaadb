// Batch (the commands as given) and Client::exec(): one wire, one call, each reply typed.
#include "rcache/batch.hpp"

#include <set>

#include "client/calls.hpp"
#include "protocol/cluster.hpp"
#include "protocol/commands.hpp"
#include "protocol/replies.hpp"
#include "protocol/resp.hpp"
#include "rcache/client.hpp"

namespace rcache {

using detail::BatchEntry;
using Kind = detail::BatchEntry::Kind;
using Value = BatchReplies::Value;

// ---- Batch: records the commands; checked, prefixed and encoded by exec() ----

namespace {
BatchEntry entry(Kind k, std::string_view key) {
  BatchEntry e;
  e.kind = k;
  e.key = std::string(key);
  return e;
}
}  // namespace

Batch::Ref<std::optional<std::string>> Batch::get(std::string_view key) {
  return add<std::optional<std::string>>(entry(Kind::get, key));
}
Batch::Ref<bool> Batch::set(std::string_view key, std::string_view value, SetOptions options) {
  BatchEntry e = entry(Kind::set, key);
  e.args.emplace_back(value);
  e.set = options;
  return add<bool>(std::move(e));
}
Batch::Ref<std::int64_t> Batch::del(std::string_view key) {
  return add<std::int64_t>(entry(Kind::del, key));
}
Batch::Ref<bool> Batch::exists(std::string_view key) {
  return add<bool>(entry(Kind::exists, key));
}
Batch::Ref<bool> Batch::expire(std::string_view key, std::chrono::milliseconds ttl) {
  BatchEntry e = entry(Kind::expire, key);
  e.number = ttl.count();
  return add<bool>(std::move(e));
}
Batch::Ref<Ttl> Batch::ttl(std::string_view key) {
  return add<Ttl>(entry(Kind::ttl, key));
}
Batch::Ref<std::int64_t> Batch::incrby(std::string_view key, std::int64_t delta) {
  BatchEntry e = entry(Kind::incrby, key);
  e.number = delta;
  return add<std::int64_t>(std::move(e));
}
Batch::Ref<std::optional<std::string>> Batch::hget(std::string_view key, std::string_view field) {
  BatchEntry e = entry(Kind::hget, key);
  e.args.emplace_back(field);
  return add<std::optional<std::string>>(std::move(e));
}
Batch::Ref<std::int64_t> Batch::hset(std::string_view key, const Pairs& fields) {
  BatchEntry e = entry(Kind::hset, key);
  for (const auto& [f, v] : fields) {
    e.args.push_back(f);
    e.args.push_back(v);
  }
  return add<std::int64_t>(std::move(e));
}
Batch::Ref<Batch::Pairs> Batch::hgetall(std::string_view key) {
  return add<Pairs>(entry(Kind::hgetall, key));
}
Batch::Ref<std::int64_t> Batch::hdel(std::string_view key, const std::vector<std::string>& fields) {
  BatchEntry e = entry(Kind::hdel, key);
  e.args = fields;
  return add<std::int64_t>(std::move(e));
}
Batch::Ref<std::int64_t> Batch::hincrby(std::string_view key, std::string_view field,
                                        std::int64_t delta) {
  BatchEntry e = entry(Kind::hincrby, key);
  e.args.emplace_back(field);
  e.number = delta;
  return add<std::int64_t>(std::move(e));
}
Batch::Ref<Reply> Batch::command(std::vector<std::string> argv) {
  BatchEntry e;
  e.kind = Kind::command;
  e.args = std::move(argv);
  return add<Reply>(std::move(e));
}

// ---- exec ----

namespace {

const char* name_of(Kind k) {
  switch (k) {
    case Kind::get:
      return "GET";
    case Kind::set:
      return "SET";
    case Kind::del:
      return "DEL";
    case Kind::exists:
      return "EXISTS";
    case Kind::expire:
      return "PEXPIRE";
    case Kind::ttl:
      return "PTTL";
    case Kind::incrby:
      return "INCRBY";
    case Kind::hget:
      return "HGET";
    case Kind::hset:
      return "HSET";
    case Kind::hgetall:
      return "HGETALL";
    case Kind::hdel:
      return "HDEL";
    case Kind::hincrby:
      return "HINCRBY";
    case Kind::command:
      return "command";
  }
  return "?";
}

bool writes(Kind k) {
  return k == Kind::set || k == Kind::del || k == Kind::expire || k == Kind::incrby ||
         k == Kind::hset || k == Kind::hdel || k == Kind::hincrby || k == Kind::command;
}
bool idempotent(Kind k) {
  return k != Kind::incrby && k != Kind::hincrby && k != Kind::command;
}

std::string label(std::size_t i, const BatchEntry& e) {
  return "batch command #" + std::to_string(i) + " (" + name_of(e.kind) + ")";
}

// One entry's RESP bytes.
Result<detail::Wire> wire_of(detail::ClientCore& core, const BatchEntry& e) {
  const Config& cfg = core.config();
  const char* name = name_of(e.kind);
  switch (e.kind) {
    case Kind::get:
    case Kind::del:
    case Kind::exists:
    case Kind::ttl:
      return detail::keyed_command(cfg, name, e.key);
    case Kind::hgetall:
      return detail::key_args_command(cfg, name, e.key, {});
    case Kind::set: {
      const detail::Encoded stored = core.encode(e.args[0]);
      return detail::set_command(cfg, e.key, e.args[0], stored.view(e.args[0]), e.set);
    }
    case Kind::expire:
      return detail::pexpire_command(cfg, e.key, std::chrono::milliseconds(e.number));
    case Kind::incrby:
      return detail::incrby_command(cfg, e.key, e.number);
    case Kind::hget:
    case Kind::hdel: {
      std::vector<std::string_view> a(e.args.begin(), e.args.end());
      return detail::key_args_command(cfg, name, e.key, a, 1);
    }
    case Kind::hincrby: {
      const std::string d = std::to_string(e.number);
      return detail::key_args_command(cfg, name, e.key, {e.args[0], d});
    }
    case Kind::hset: {
      std::vector<detail::Encoded> encoded;
      std::vector<std::string_view> a;
      encoded.reserve(e.args.size() / 2);
      a.reserve(e.args.size());
      for (std::size_t i = 1; i < e.args.size(); i += 2) {
        if (auto r = detail::check_value(cfg, name, e.key, e.args[i]); !r) {
          return std::move(r).error();
        }
        encoded.push_back(core.encode(e.args[i]));
      }
      for (std::size_t i = 0; i + 1 < e.args.size(); i += 2) {
        a.emplace_back(e.args[i]);
        a.push_back(encoded[i / 2].view(e.args[i + 1]));
      }
      return detail::key_args_command(cfg, name, e.key, a, 2);
    }
    case Kind::command:
      return detail::raw_command(cfg, e.args);
  }
  return Error{Errc::invalid_argument, "unknown batch command"};
}

// One entry's typed result from its reply.
Result<Value> value_of(detail::ClientCore& core, const BatchEntry& e, const redisReply& r) {
  const char* name = name_of(e.kind);
  auto lift = [](auto res) -> Result<Value> {
    if (!res) return std::move(res).error();
    return Value(std::move(*res));
  };
  switch (e.kind) {
    case Kind::get:
    case Kind::hget: {
      auto raw = detail::parse_string_or_nil(name, r);
      if (!raw || !raw->has_value()) return lift(std::move(raw));
      return lift(core.decode_read(std::move(**raw), e.key));
    }
    case Kind::set:
      return lift(detail::parse_set(r));
    case Kind::del:
    case Kind::incrby:
    case Kind::hset:
    case Kind::hdel:
    case Kind::hincrby:
      return lift(detail::parse_integer(name, r));
    case Kind::exists:
    case Kind::expire:
      return lift(detail::parse_flag(name, r));
    case Kind::ttl:
      return lift(detail::parse_pttl(r));
    case Kind::hgetall: {
      auto raw = detail::parse_pairs(name, r);
      if (!raw) return std::move(raw).error();
      for (auto& [f, v] : *raw) {
        auto d = core.decode(std::move(v), e.key);
        if (!d) return std::move(d).error();
        v = std::move(*d);
      }
      return Value(std::move(*raw));
    }
    case Kind::command: {
      if (auto err = detail::reply_error("command", r)) return std::move(*err);
      return Value(detail::to_reply(r));
    }
  }
  return Error{Errc::protocol, "unknown batch command"};
}

// With a cluster: every key of the batch in one slot, or the two keys that differ.
Result<void> one_slot(const Config& cfg, const Batch& b, const std::string& wire,
                      const std::vector<std::size_t>& offsets) {
  int slot = -1;
  std::string first_key;
  for (std::size_t i = 0; i < b.size(); ++i) {
    auto c = detail::parse_wire_command(wire, offsets[i]);
    if (!c) return std::move(c).error();
    for (std::size_t k : c->key_index) {
      const std::string_view key = c->args[k];
      const int s = detail::key_slot(key);
      if (slot < 0) {
        slot = s;
        first_key = std::string(key);
      } else if (s != slot) {
        return Error{Errc::invalid_argument,
                     "exec: with a cluster every key of a batch must hash to one slot; \"" +
                         first_key.substr(0, 64) + "\" is in slot " + std::to_string(slot) +
                         " and \"" + std::string(key.substr(0, 64)) + "\" in slot " +
                         std::to_string(s) + " (use a {hash tag})"};
      }
    }
  }
  (void)cfg;
  return {};
}

Result<detail::Command> exec_cmd(detail::ClientCore& core, const Batch& b) {
  if (b.empty()) return Error{Errc::invalid_argument, "exec: the batch is empty"};
  detail::Command c;
  c.name = b.is_atomic() ? "MULTI" : "batch";
  c.op = detail::Op::batch;
  c.keys = static_cast<std::uint32_t>(b.size());
  c.replies = static_cast<std::uint32_t>(b.size() + (b.is_atomic() ? 2 : 0));
  if (b.is_atomic()) {
    detail::RespWriter out(c.wire);
    out.begin(1);
    out.arg("MULTI");
  }
  std::vector<std::size_t> offsets;
  offsets.reserve(b.size());
  for (std::size_t i = 0; i < b.size(); ++i) {
    const BatchEntry& e = b.entries()[i];
    auto w = wire_of(core, e);
    if (!w) {
      Error err = std::move(w).error();
      err.message = label(i, e) + ": " + err.message;
      return err;
    }
    offsets.push_back(c.wire.size());
    c.wire += w->bytes;
    if (!idempotent(e.kind)) c.idempotent = false;
  }
  if (core.cluster() != nullptr) {
    if (auto r = one_slot(core.config(), b, c.wire, offsets); !r) return std::move(r).error();
  }
  if (b.is_atomic()) {
    detail::RespWriter out(c.wire);
    out.begin(1);
    out.arg("EXEC");
  }
  return c;
}

auto parse_batch(detail::ClientCore& core, const Batch& b) {
  // The entries are copied: an async exec's Batch may be gone when the replies arrive.
  return [&core, entries = b.entries(),
          atomic = b.is_atomic()](detail::Outcome& o) -> Result<BatchReplies> {
    std::vector<const redisReply*> replies;
    replies.reserve(entries.size());
    if (!atomic) {
      for (const auto& r : o.earlier) replies.push_back(r.get());
      replies.push_back(o.reply.get());
    } else {
      // MULTI's +OK, a +QUEUED per command (or the error that will abort EXEC), then EXEC's.
      for (std::size_t i = 1; i < o.earlier.size(); ++i) {
        const redisReply& q = *o.earlier[i];
        if (q.type == REDIS_REPLY_ERROR && i - 1 < entries.size()) {
          return Error{Errc::server,
                       "transaction aborted, nothing was applied: " + label(i - 1, entries[i - 1]) +
                           ": " + std::string(detail::text(q))};
        }
      }
      if (!o.earlier.empty()) {
        if (auto e = detail::reply_error("MULTI", *o.earlier[0])) return std::move(*e);
      }
      const redisReply& exec = *o.reply;
      if (auto e = detail::reply_error("EXEC", exec)) return std::move(*e);
      if (exec.type != REDIS_REPLY_ARRAY || exec.elements != entries.size()) {
        return Error{Errc::protocol, "EXEC: expected " + std::to_string(entries.size()) +
                                         " replies, got " +
                                         detail::unexpected_reply("EXEC", exec).message};
      }
      for (std::size_t i = 0; i < exec.elements; ++i) replies.push_back(exec.element[i]);
    }
    if (replies.size() != entries.size()) {
      return Error{Errc::protocol, "batch: " + std::to_string(entries.size()) + " commands, " +
                                       std::to_string(replies.size()) + " replies"};
    }
    std::vector<Result<Value>> values;
    values.reserve(entries.size());
    for (std::size_t i = 0; i < entries.size(); ++i) {
      values.push_back(value_of(core, entries[i], *replies[i]));
    }
    return BatchReplies(std::move(values));
  };
}

std::vector<std::string> written_keys(const Batch& b) {
  std::vector<std::string> keys;
  for (const auto& e : b.entries()) {
    if (writes(e.kind) && e.kind != Kind::command) keys.push_back(e.key);
  }
  return keys;
}

}  // namespace

Result<BatchReplies> Client::exec(const Batch& batch) {
  auto r = detail::run<BatchReplies>(*core_, exec_cmd(*core_, batch), parse_batch(*core_, batch));
  detail::forget(*core_, written_keys(batch));
  return r;
}
void Client::exec_async(const Batch& batch, Callback<BatchReplies> cb) {
  cb = detail::forgetting<BatchReplies>(*core_, written_keys(batch), std::move(cb));
  detail::run_async<BatchReplies>(*core_, exec_cmd(*core_, batch), parse_batch(*core_, batch),
                                  std::move(cb));
}
std::future<Result<BatchReplies>> Client::exec_async(const Batch& batch) {
  return detail::future_of<BatchReplies>(
      [&](Callback<BatchReplies> cb) { exec_async(batch, std::move(cb)); });
}

}  // namespace rcache
