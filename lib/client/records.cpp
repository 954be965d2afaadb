// Client's records (hashes): HSET/HGET/HMGET/HGETALL/HDEL/HINCRBY through the envelope, and
// update_record (fields + TTL in one script).
#include "client/calls.hpp"
#include "client/script_call.hpp"
#include "protocol/commands.hpp"
#include "protocol/replies.hpp"
#include "rcache/client.hpp"

namespace rcache {

using detail::ClientCore;
using detail::Command;
using detail::future_of;
using detail::on_reply;
using detail::Op;
using detail::run;
using detail::run_async;
using OptString = std::optional<std::string>;
using Pairs = Client::Pairs;
using Fields = std::vector<std::string>;

namespace {

// KEYS[1] the record; ARGV[1] TTL in ms (0: leave it), ARGV[2] "1" to create a missing record,
// ARGV[3..] field, value, field, value ... HSET in chunks (Lua's unpack has a stack limit).
const Script& update_script() {
  static const Script s(R"lua(
if ARGV[2] ~= '1' or #ARGV < 3 then
  if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
end
for i = 3, #ARGV, 200 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 199, #ARGV)))
end
if tonumber(ARGV[1]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
)lua",
                        Script::Options{true});
  return s;
}

// The stored forms of the pairs' values (encoded as string values are) and the HSET-style
// argument list field, stored, field, stored ... (views into `pairs` and `encoded`).
struct EncodedPairs {
  std::vector<detail::Encoded> encoded;
  std::vector<std::string_view> args;
};
Result<void> encode_pairs(ClientCore& core, const char* cmd, std::string_view key,
                          const Pairs& pairs, EncodedPairs& out) {
  out.encoded.reserve(pairs.size());
  out.args.reserve(2 * pairs.size());
  for (const auto& [f, v] : pairs) {
    if (auto r = detail::check_value(core.config(), cmd, key, v); !r) return r;
    out.encoded.push_back(core.encode(v));
  }
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    out.args.emplace_back(pairs[i].first);
    out.args.push_back(out.encoded[i].view(pairs[i].second));
  }
  return {};
}

Result<Command> hset_cmd(ClientCore& core, std::string_view key, const Pairs& pairs) {
  EncodedPairs e;
  if (auto r = encode_pairs(core, "HSET", key, pairs, e); !r) return std::move(r).error();
  auto w = detail::key_args_command(core.config(), "HSET", key, e.args, 2);
  if (!w) return std::move(w).error();
  return Command::of("HSET", std::move(*w), Op::hset);
}

Result<Command> key_args(ClientCore& core, const char* name, Op op, std::string_view key,
                         const std::vector<std::string_view>& args, bool idempotent = true,
                         std::size_t min_args = 0) {
  auto w = detail::key_args_command(core.config(), name, key, args, min_args);
  if (!w) return std::move(w).error();
  return Command::of(name, std::move(*w), op, idempotent);
}

std::vector<std::string_view> views(const Fields& f) {
  return {f.begin(), f.end()};
}

auto parse_int(const char* cmd) {
  return on_reply<std::int64_t>(
      [cmd](const redisReply& r) { return detail::parse_integer(cmd, r); });
}

auto parse_field(ClientCore& core, std::string key) {
  return on_reply<OptString>(
      [&core, key = std::move(key)](const redisReply& r) -> Result<OptString> {
        auto raw = detail::parse_string_or_nil("HGET", r);
        if (!raw || !raw->has_value()) return raw;
        return core.decode_read(std::move(**raw), key);
      });
}

auto parse_fields(ClientCore& core, std::string key, std::size_t n) {
  return on_reply<Client::Values>(
      [&core, key = std::move(key), n](const redisReply& r) -> Result<Client::Values> {
        auto raw = detail::parse_mget(r, n, "HMGET");
        if (!raw) return std::move(raw).error();
        Client::Values out;
        out.reserve(raw->size());
        for (auto& v : *raw) {
          if (!v) {
            out.emplace_back(std::nullopt);
            continue;
          }
          auto d = core.decode_read(std::move(*v), key);
          if (!d) return std::move(d).error();
          out.push_back(std::move(*d));
        }
        return out;
      });
}

auto parse_record(ClientCore& core, std::string key) {
  return on_reply<Pairs>([&core, key = std::move(key)](const redisReply& r) -> Result<Pairs> {
    auto raw = detail::parse_pairs("HGETALL", r);
    if (!raw) return std::move(raw).error();
    for (auto& [f, v] : *raw) {
      auto d = core.decode(std::move(v), key);
      if (!d) return std::move(d).error();
      v = std::move(*d);
    }
    return std::move(*raw);
  });
}

// update_record's EVALSHA: the record's key, then TTL, create, field, stored, ...
Result<Command> update_cmd(ClientCore& core, std::string_view key, const Pairs& pairs,
                           const RecordOptions& o, std::string& ttl_text) {
  if (auto r = detail::check_ttl("update_record", o.ttl, true); !r) return std::move(r).error();
  EncodedPairs e;
  if (auto r = encode_pairs(core, "update_record", key, pairs, e); !r) {
    return std::move(r).error();
  }
  ttl_text = std::to_string(o.ttl.count());
  std::vector<std::string_view> args;
  args.reserve(e.args.size() + 2);
  args.emplace_back(ttl_text);
  args.emplace_back(o.create ? "1" : "0");
  args.insert(args.end(), e.args.begin(), e.args.end());
  auto w = detail::evalsha_command(core.config(), update_script().sha1(), {std::string(key)}, args);
  if (!w) return std::move(w).error();
  return Command::of("EVALSHA", std::move(*w), Op::update, true);
}

void start_update(ClientCore& core, std::string_view key, const Pairs& pairs,
                  const RecordOptions& o, Callback<bool> cb) {
  std::string ttl_text;
  auto cmd = update_cmd(core, key, pairs, o, ttl_text);
  if (!cmd) return core.fail_async<bool>(std::move(cmd).error(), std::move(cb));
  detail::eval_async<bool>(
      core, std::move(*cmd), update_script().shared_source(),
      on_reply<bool>([](const redisReply& r) { return detail::parse_flag("update_record", r); }),
      detail::forgetting<bool>(core, {std::string(key)}, std::move(cb)));
}

}  // namespace

// HSET
Result<std::int64_t> Client::hset(std::string_view key, const Pairs& fields) {
  auto r = run<std::int64_t>(*core_, hset_cmd(*core_, key, fields), parse_int("HSET"));
  detail::forget(*core_, key);
  return r;
}
Result<bool> Client::hset(std::string_view key, std::string_view field, std::string_view value) {
  auto r = hset(key, Pairs{{std::string(field), std::string(value)}});
  if (!r) return std::move(r).error();
  return *r > 0;
}
void Client::hset_async(std::string_view key, const Pairs& fields, Callback<std::int64_t> cb) {
  cb = detail::forgetting<std::int64_t>(*core_, {std::string(key)}, std::move(cb));
  run_async<std::int64_t>(*core_, hset_cmd(*core_, key, fields), parse_int("HSET"), std::move(cb));
}
std::future<Result<std::int64_t>> Client::hset_async(std::string_view key, const Pairs& fields) {
  return future_of<std::int64_t>(
      [&](Callback<std::int64_t> cb) { hset_async(key, fields, std::move(cb)); });
}

// HGET
Result<OptString> Client::hget(std::string_view key, std::string_view field) {
  return run<OptString>(*core_, key_args(*core_, "HGET", Op::hget, key, {field}),
                        parse_field(*core_, std::string(key)));
}
void Client::hget_async(std::string_view key, std::string_view field, Callback<OptString> cb) {
  run_async<OptString>(*core_, key_args(*core_, "HGET", Op::hget, key, {field}),
                       parse_field(*core_, std::string(key)), std::move(cb));
}
std::future<Result<OptString>> Client::hget_async(std::string_view key, std::string_view field) {
  return future_of<OptString>(
      [&](Callback<OptString> cb) { hget_async(key, field, std::move(cb)); });
}

// HMGET
Result<Client::Values> Client::hmget(std::string_view key, const Fields& fields) {
  return run<Values>(*core_, key_args(*core_, "HMGET", Op::hget, key, views(fields), true, 1),
                     parse_fields(*core_, std::string(key), fields.size()));
}
void Client::hmget_async(std::string_view key, const Fields& fields, Callback<Values> cb) {
  run_async<Values>(*core_, key_args(*core_, "HMGET", Op::hget, key, views(fields), true, 1),
                    parse_fields(*core_, std::string(key), fields.size()), std::move(cb));
}
std::future<Result<Client::Values>> Client::hmget_async(std::string_view key,
                                                        const Fields& fields) {
  return future_of<Values>([&](Callback<Values> cb) { hmget_async(key, fields, std::move(cb)); });
}

// HGETALL
Result<Pairs> Client::hgetall(std::string_view key) {
  return run<Pairs>(*core_, key_args(*core_, "HGETALL", Op::hget, key, {}),
                    parse_record(*core_, std::string(key)));
}
void Client::hgetall_async(std::string_view key, Callback<Pairs> cb) {
  run_async<Pairs>(*core_, key_args(*core_, "HGETALL", Op::hget, key, {}),
                   parse_record(*core_, std::string(key)), std::move(cb));
}
std::future<Result<Pairs>> Client::hgetall_async(std::string_view key) {
  return future_of<Pairs>([&](Callback<Pairs> cb) { hgetall_async(key, std::move(cb)); });
}

// HDEL
Result<std::int64_t> Client::hdel(std::string_view key, const Fields& fields) {
  auto r = run<std::int64_t>(
      *core_, key_args(*core_, "HDEL", Op::hset, key, views(fields), true, 1), parse_int("HDEL"));
  detail::forget(*core_, key);
  return r;
}
void Client::hdel_async(std::string_view key, const Fields& fields, Callback<std::int64_t> cb) {
  cb = detail::forgetting<std::int64_t>(*core_, {std::string(key)}, std::move(cb));
  run_async<std::int64_t>(*core_, key_args(*core_, "HDEL", Op::hset, key, views(fields), true, 1),
                          parse_int("HDEL"), std::move(cb));
}
std::future<Result<std::int64_t>> Client::hdel_async(std::string_view key, const Fields& fields) {
  return future_of<std::int64_t>(
      [&](Callback<std::int64_t> cb) { hdel_async(key, fields, std::move(cb)); });
}

// HINCRBY (not idempotent: never retried once sent)
Result<std::int64_t> Client::hincrby(std::string_view key, std::string_view field,
                                     std::int64_t delta) {
  const std::string d = std::to_string(delta);
  auto r = run<std::int64_t>(*core_, key_args(*core_, "HINCRBY", Op::hset, key, {field, d}, false),
                             parse_int("HINCRBY"));
  detail::forget(*core_, key);
  return r;
}
void Client::hincrby_async(std::string_view key, std::string_view field, std::int64_t delta,
                           Callback<std::int64_t> cb) {
  const std::string d = std::to_string(delta);
  cb = detail::forgetting<std::int64_t>(*core_, {std::string(key)}, std::move(cb));
  run_async<std::int64_t>(*core_, key_args(*core_, "HINCRBY", Op::hset, key, {field, d}, false),
                          parse_int("HINCRBY"), std::move(cb));
}
std::future<Result<std::int64_t>> Client::hincrby_async(std::string_view key,
                                                        std::string_view field,
                                                        std::int64_t delta) {
  return future_of<std::int64_t>(
      [&](Callback<std::int64_t> cb) { hincrby_async(key, field, delta, std::move(cb)); });
}

// update_record
Result<bool> Client::update_record(std::string_view key, const Pairs& fields,
                                   const RecordOptions& options) {
  if (auto e = core_->refuse_on_loop_thread("update_record")) return std::move(*e);
  return update_record_async(key, fields, options).get();
}
void Client::update_record_async(std::string_view key, const Pairs& fields,
                                 const RecordOptions& options, Callback<bool> cb) {
  start_update(*core_, key, fields, options, std::move(cb));
}
std::future<Result<bool>> Client::update_record_async(std::string_view key, const Pairs& fields,
                                                      const RecordOptions& options) {
  return future_of<bool>(
      [&](Callback<bool> cb) { start_update(*core_, key, fields, options, std::move(cb)); });
}

}  // namespace rcache
