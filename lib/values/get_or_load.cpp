// Client::get_or_load() and Client::get_renew().
#include <cmath>
#include <random>
#include <thread>

#include "client_core.hpp"
#include "values/cache_aside.hpp"

namespace rcache {

using detail::Clock;
using detail::Command;
using detail::Outcome;
using detail::RawRead;
using detail::RespWriter;

namespace {

using detail::unavailable;

double uniform01() {
  thread_local std::minstd_rand rng(std::random_device{}());
  return (static_cast<double>(rng() - std::minstd_rand::min()) + 1.0) /
         (static_cast<double>(std::minstd_rand::max() - std::minstd_rand::min()) + 1.0);  // (0,1]
}

std::chrono::milliseconds jittered(std::chrono::milliseconds ttl, double jitter) {
  if (jitter <= 0) return ttl;
  const double f = 1.0 + jitter * (2.0 * uniform01() - 1.0);
  return std::max(std::chrono::milliseconds(1),
                  std::chrono::milliseconds(static_cast<std::int64_t>(
                      static_cast<double>(ttl.count()) * f)));
}

Result<void> check(const LoadOptions& o) {
  auto bad = [](const std::string& m) { return Error{Errc::invalid_argument, "get_or_load: " + m}; };
  if (o.ttl.count() <= 0) return bad("ttl must be > 0");
  if (!(o.ttl_jitter >= 0 && o.ttl_jitter <= 0.5)) return bad("ttl_jitter must be in 0..0.5");
  if (o.negative_cache && o.negative_ttl.count() <= 0) return bad("negative_ttl must be > 0");
  if (o.stale_if_error && o.stale_ttl.count() <= 0) return bad("stale_ttl must be > 0");
  if (o.early_refresh && !(o.beta > 0)) return bad("beta must be > 0");
  return {};
}

}  // namespace

Result<Loaded> Client::get_or_load(std::string_view key_view, const LoadOptions& o,
                                   const Loader& loader) {
  if (auto r = check(o); !r) return std::move(r).error();
  if (!loader) return Error{Errc::invalid_argument, "get_or_load: no loader"};
  if (std::this_thread::get_id() == core_->transport().loop_thread()) {
    return Error{Errc::invalid_argument,
                 "get_or_load: blocking call from an rcache callback would deadlock"};
  }
  auto& core = *core_;
  auto& ca = core.cache_aside();
  const std::string key(key_view);

  // 1. Read value (and its remaining TTL when early refresh is on) in one round trip.
  Command cmd = core.make_command("GET");
  RespWriter w(cmd.wire);
  w.begin(2);
  w.arg("GET");
  w.arg(config().key_prefix, key);
  if (o.early_refresh) {
    w.begin(2);
    w.arg("PTTL");
    w.arg(config().key_prefix, key);
    cmd.replies = 2;
  }
  Result<RawRead> read = core.call<RawRead>(std::move(cmd), [](Outcome& out) -> Result<RawRead> {
    const redisReply* value = out.earlier.empty() ? out.reply.get() : out.earlier[0].get();
    RawRead rr;
    if (value->type == REDIS_REPLY_ERROR) return detail::error_from_reply(*value, "GET");
    if (value->type == REDIS_REPLY_STRING) rr.raw = std::string(value->str, value->len);
    else if (value->type != REDIS_REPLY_NIL) return Error{Errc::protocol, "unexpected reply to GET"};
    if (!out.earlier.empty() && out.reply->type == REDIS_REPLY_INTEGER) rr.pttl_ms = out.reply->integer;
    return rr;
  });

  const bool redis_down = !read.ok() && unavailable(read.error());
  if (!read.ok() && !redis_down) return std::move(read).error();

  // 2. The load itself, shared by concurrent callers.
  auto load = [&, redis_down](Loaded::Source source) -> Result<Loaded> {
    const auto start = Clock::now();
    Result<std::optional<std::string>> got = Error{Errc::invalid_argument, "loader threw"};
    try {
      got = loader();
    } catch (const std::exception& e) {
      got = Error{Errc::invalid_argument, std::string("get_or_load: loader threw: ") + e.what()};
    } catch (...) {
      got = Error{Errc::invalid_argument, "get_or_load: loader threw"};
    }
    ca.loader_calls.fetch_add(1, std::memory_order_relaxed);
    ca.note_load(key, Clock::now() - start);
    if (!got.ok()) {
      if (o.stale_if_error && !redis_down) {
        auto stale = get(key + std::string(detail::kStaleSuffix));
        if (stale.ok() && stale->has_value()) {
          ca.stale_served.fetch_add(1, std::memory_order_relaxed);
          return Loaded{std::move(*stale), Loaded::Source::stale, false};
        }
      }
      return std::move(got).error();  // loader errors are returned, never cached
    }
    if (redis_down) {
      ca.bypassed.fetch_add(1, std::memory_order_relaxed);
      return Loaded{std::move(*got), source, true};
    }
    if (got->has_value()) {
      (void)set(key, **got, jittered(o.ttl, o.ttl_jitter));
      if (o.stale_if_error) (void)set(key + std::string(detail::kStaleSuffix), **got, o.stale_ttl);
    } else if (o.negative_cache) {
      (void)command({"SET", config().key_prefix + key, std::string(detail::kNegativeMarker), "PX",
                     std::to_string(jittered(o.negative_ttl, o.ttl_jitter).count())});
    }
    return Loaded{std::move(*got), source, false};
  };

  if (!redis_down && read->raw.has_value()) {
    if (*read->raw == detail::kNegativeMarker) {
      return Loaded{std::nullopt, Loaded::Source::negative_cache, false};
    }
    auto value = core.decode(std::move(*read->raw), key);
    if (!value) return std::move(value).error();
    // XFetch: refresh early with probability rising as expiry nears (-delta*beta*ln(U) >= ttl).
    if (o.early_refresh && read->pttl_ms > 0) {
      const double delta_ms =
          std::chrono::duration<double, std::milli>(ca.load_time(key)).count();
      if (-delta_ms * o.beta * std::log(uniform01()) >= static_cast<double>(read->pttl_ms)) {
        auto refreshed = ca.lead_if_idle(key, [&] { return load(Loaded::Source::refreshed); });
        if (refreshed && refreshed->ok()) {
          ca.early_refreshes.fetch_add(1, std::memory_order_relaxed);
          return std::move(*refreshed);
        }
        // Another caller is refreshing, or the refresh failed: the cached value is still good.
      }
    }
    return Loaded{std::move(*value), Loaded::Source::cache, false};
  }
  return ca.single_flight(key, [&] { return load(Loaded::Source::loader); });
}

Result<std::optional<std::string>> Client::get_renew(std::string_view key,
                                                     std::chrono::milliseconds ttl) {
  if (ttl.count() <= 0) {
    return Error{Errc::invalid_argument, "get_renew: ttl must be > 0"};
  }
  Command cmd = core_->make_command("GETEX");
  cmd.op = detail::Op::get;
  RespWriter w(cmd.wire);
  w.begin(4);
  w.arg("GETEX");
  w.arg(config().key_prefix, key);
  w.arg("PX");
  w.arg(static_cast<std::int64_t>(ttl.count()));
  auto& core = *core_;
  const std::string k(key);
  return core.call<std::optional<std::string>>(
      std::move(cmd), [&core, &k](Outcome& out) -> Result<std::optional<std::string>> {
        const redisReply& r = *out.reply;
        if (r.type == REDIS_REPLY_ERROR) return detail::error_from_reply(r, "GETEX");
        if (r.type == REDIS_REPLY_NIL) return std::optional<std::string>{};
        if (r.type != REDIS_REPLY_STRING) return Error{Errc::protocol, "unexpected reply to GETEX"};
        auto v = core.decode(std::string(r.str, r.len), k);
        if (!v) return std::move(v).error();
        return std::optional<std::string>(std::move(*v));
      });
}

}  // namespace rcache
