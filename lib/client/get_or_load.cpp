// Client::get_or_load() (cache-aside: single-flight, negative cache, bypass, XFetch, stale copy)
// and Client::get_renew(). get_or_load records one call of its own (hit: served from Redis, miss:
// loaded); its internal reads and writes are not recorded as user calls.
//
// Followers of a single-flight wait LoadOptions::wait_for_load after their own call began, by
// default Config::deadline: the bound users already set for a whole call.
#include <thread>

#include "client/calls.hpp"
#include "client/load_steps.hpp"
#include "protocol/commands.hpp"
#include "protocol/replies.hpp"
#include "rcache/client.hpp"

namespace rcache {

using detail::ClientCore;
using detail::command_of;
using detail::Counter;
using detail::Op;
using detail::Outcome;
using detail::RawRead;

namespace detail {

Result<void> check_load_options(const LoadOptions& o) {
  auto bad = [](const std::string& m) {
    return Error{Errc::invalid_argument, "get_or_load: " + m};
  };
  if (o.ttl.count() <= 0) return bad("ttl must be > 0");
  if (!(o.ttl_jitter >= 0 && o.ttl_jitter <= 0.5)) return bad("ttl_jitter must be in 0..0.5");
  if (o.negative_cache && o.negative_ttl.count() <= 0) return bad("negative_ttl must be > 0");
  if (o.stale_if_error && o.stale_ttl.count() <= 0) return bad("stale_ttl must be > 0");
  if (o.wait_for_load.count() < 0) return bad("wait_for_load must be >= 0");
  if (o.early_refresh && !(o.beta > 0)) return bad("beta must be > 0");
  return {};
}

}  // namespace detail

namespace {
using detail::from_cache;
using detail::rate_text;

// GET (+ PTTL) in one round trip, as stored.
Result<RawRead> read_raw(ClientCore& core, const std::string& key, bool with_pttl) {
  return detail::run<RawRead>(
      core,
      command_of("GET", detail::get_with_pttl_command(core.config(), key, with_pttl), Op::internal),
      [](Outcome& out) { return detail::parse_get_with_pttl(out.earlier, *out.reply); });
}

// SET of a stored form (already encoded, or a marker), not recorded as a user call.
void write_raw(ClientCore& core, const std::string& key, std::string_view value,
               std::chrono::milliseconds ttl) {
  SetOptions o;
  o.ttl = ttl;
  if (!detail::check_set_args(core.config(), key, value, o)) return;
  const detail::Encoded stored = core.encode(value);
  (void)detail::run<bool>(
      core,
      command_of("SET", detail::set_command(core.config(), key, value, stored.view(value), o),
                 Op::internal),
      detail::on_reply<bool>(detail::parse_set));
  detail::forget(core, key);
}

void write_marker(ClientCore& core, const std::string& key, std::string_view marker,
                  std::chrono::milliseconds ttl) {
  SetOptions o;
  o.ttl = ttl;
  (void)detail::run<bool>(
      core,
      command_of("SET", detail::set_command(core.config(), key, marker, marker, o), Op::internal),
      detail::on_reply<bool>(detail::parse_set));
  detail::forget(core, key);
}

Result<std::optional<std::string>> read_value(ClientCore& core, const std::string& key) {
  auto r = read_raw(core, key, false);
  if (!r) return std::move(r).error();
  if (!r->raw) return std::optional<std::string>{};
  auto v = core.decode(std::move(*r->raw), key);
  if (!v) return std::move(v).error();
  return std::optional<std::string>(std::move(*v));
}

}  // namespace

// A stored form read from the key: the cached "not found", or the decoded value.
Result<Loaded> detail::from_cache(ClientCore& core, std::string&& raw, const std::string& key) {
  if (raw == detail::kNegativeMarker) {
    return Loaded{std::nullopt, Loaded::Source::negative_cache, false};
  }
  auto value = core.decode(std::move(raw), key);
  if (!value) return std::move(value).error();
  return Loaded{std::move(*value), Loaded::Source::cache, false};
}

namespace {

// A near-cache fill around get_or_load's read (or, `outage`, around a load while Redis is
// unavailable): ended with the value, or abandoned.
class NearFill {
 public:
  NearFill(detail::NearCache* near, std::string key, bool outage = false)
      : near_(near), key_(std::move(key)), outage_(outage) {
    if (near_ != nullptr)
      token_ = outage ? near_->begin_outage_load(key_) : near_->begin_fill(key_);
  }
  ~NearFill() {
    if (near_ != nullptr && !done_) near_->abandon_fill(key_, token_);
  }
  NearFill(const NearFill&) = delete;
  NearFill& operator=(const NearFill&) = delete;
  // ttl_ms: the TTL Redis reported (a fill), or the load's TTL (an outage load). A fill ends
  // with nullopt when Redis holds no value to keep (absent, or a cached "not found").
  void end(const std::optional<std::string>& value, std::int64_t ttl_ms) {
    if (near_ == nullptr || done_) return;
    done_ = true;
    const std::chrono::milliseconds ttl(ttl_ms);
    if (outage_) {
      if (value) {
        near_->end_outage_load(key_, token_, *value, ttl);
      } else {
        near_->abandon_fill(key_, token_);  // "not found": nothing to keep, the token still ends
      }
      return;
    }
    std::optional<std::string_view> v;
    if (value) v = *value;
    near_->end_fill(key_, token_, v, ttl);
  }

 private:
  detail::NearCache* near_;
  std::string key_;
  bool outage_ = false;
  detail::NearCache::FillToken token_;
  bool done_ = false;
};

}  // namespace

std::string detail::rate_text(double r) {
  std::string s = std::to_string(r);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

namespace {

Result<Loaded> get_or_load_impl(ClientCore& core, const std::string& key, const LoadOptions& o,
                                const Loader& loader, detail::TimePoint call_start) {
  auto& metrics = core.metrics();
  detail::NearCache* near = core.availability().near_cache();
  const std::string nk = near != nullptr ? detail::near_key(core.config(), key) : std::string();
  // With early refresh the decision needs Redis' remaining TTL on every read: the near cache's
  // copy is not used as an answer then (it would outlive the refresh window).
  if (near != nullptr && !o.early_refresh && o.near_cache) {
    if (auto v = near->get(nk)) return Loaded{std::move(*v), Loaded::Source::near_cache, false};
  }
  NearFill fill(near, nk);
  Result<RawRead> read = read_raw(core, key, o.early_refresh || near != nullptr);
  const bool redis_down = !read.ok() && detail::unavailable(read.error());
  if (!read.ok() && !redis_down) return std::move(read).error();
  // Redis unavailable: a near-cache copy within its lifetime answers without a load (marked
  // stale unless it was loaded in this outage); one past it is kept for when a load fails or
  // is refused by the outage cap.
  std::optional<detail::NearCache::Outage> copy;
  if (redis_down && near != nullptr && o.near_cache) {
    copy = near->get_during_outage(nk);
    if (copy && !copy->expired) {
      return Loaded{std::move(copy->value),
                    copy->stale ? Loaded::Source::near_cache_stale : Loaded::Source::near_cache,
                    false};
    }
  }
  auto stale_copy = [&]() -> std::optional<Loaded> {
    if (!copy) return std::nullopt;
    return Loaded{copy->value, Loaded::Source::near_cache_stale, false};
  };

  // The load itself, shared by concurrent callers. bypass: Redis is unavailable, skip it.
  auto load = [&](Loaded::Source source, bool bypass) -> Result<Loaded> {
    // Redis unavailable: what is loaded is kept for the outage, unless this client writes the
    // key while the loader runs.
    NearFill outage_fill(bypass ? near : nullptr, nk, true);
    const auto start = core.clock().now();
    Result<std::optional<std::string>> got = Error{Errc::invalid_argument, "loader threw"};
    try {
      got = loader();
    } catch (const std::exception& e) {
      got = Error{Errc::invalid_argument, std::string("get_or_load: loader threw: ") + e.what()};
    } catch (...) {
      got = Error{Errc::invalid_argument, "get_or_load: loader threw"};
    }
    const auto took = core.clock().now() - start;
    metrics.add(Counter::loader_calls);
    metrics.loader_ran(took);
    if (!got.ok()) metrics.add(Counter::loader_errors);
    core.load_times().note(key, took);
    const std::string stale_key = key + std::string(detail::kStaleSuffix);
    if (!got.ok()) {
      // A failed early refresh keeps the cached value, still good (below): no stale copy.
      if (o.stale_if_error && !bypass && source != Loaded::Source::refreshed) {
        auto stale = read_value(core, stale_key);
        if (stale.ok() && stale->has_value()) {
          metrics.add(Counter::stale_served);
          return Loaded{std::move(*stale), Loaded::Source::stale, false};
        }
      }
      return std::move(got).error();  // loader errors are returned, never cached
    }
    if (bypass) {
      metrics.add(Counter::bypassed);
      // Kept in the near cache for this outage: loaded at most once per TTL while Redis is away.
      outage_fill.end(*got, o.ttl.count());
      return Loaded{std::move(*got), source, true};
    }
    if (got->has_value()) {
      write_raw(core, key, **got, detail::jittered_ttl(o.ttl, o.ttl_jitter, detail::uniform01()));
      if (o.stale_if_error) write_raw(core, stale_key, **got, o.stale_ttl);
    } else if (o.negative_cache) {
      write_marker(core, key, detail::kNegativeMarker,
                   detail::jittered_ttl(o.negative_ttl, o.ttl_jitter, detail::uniform01()));
    }
    return Loaded{std::move(*got), source, false};
  };

  if (!redis_down && !read->raw.has_value()) fill.end(std::nullopt, read->pttl_ms);
  if (!redis_down && read->raw.has_value()) {
    Result<Loaded> cached = from_cache(core, std::move(*read->raw), key);
    if (cached) fill.end(cached->value, read->pttl_ms);
    if (!cached || cached->source != Loaded::Source::cache) return cached;
    if (o.early_refresh && read->pttl_ms > 0) {
      const double load_ms =
          std::chrono::duration<double, std::milli>(core.load_times().get(key)).count();
      if (detail::xfetch_should_refresh(load_ms, o.beta, detail::uniform01(), read->pttl_ms)) {
        // A refresh loads on purpose although the value is there: no re-read first.
        auto refreshed = core.single_flight().lead_if_idle(
            key, [&] { return load(Loaded::Source::refreshed, false); });
        if (refreshed && refreshed->ok()) {
          metrics.add(Counter::early_refreshes);
          return std::move(*refreshed);
        }
        // Another caller is refreshing, or the refresh failed: the cached value is still good.
      }
    }
    return cached;
  }

  // The leader of a miss reads the key once more before loading: our read may have missed just
  // before another caller's load was written, and that flight may have ended before we got here.
  // One GET, only on this path, and not when Redis was just found unavailable.
  // While Redis is unavailable, loads are capped (Config::outage_loads_per_second).
  auto outage_load = [&]() -> Result<Loaded> {
    if (!core.outage_loads().admit(core.clock().now())) {
      metrics.add(Counter::outage_loads_refused);
      if (auto s = stale_copy()) return std::move(*s);
      return Error{Errc::rejected,
                   "get_or_load: Redis is unavailable and the outage load cap (" +
                       rate_text(core.outage_loads().rate()) +
                       " loads/s, outage_loads_per_second) is reached; no copy of this key to "
                       "serve"};
    }
    Result<Loaded> loaded = load(Loaded::Source::loader, true);
    if (!loaded.ok()) {
      if (auto s = stale_copy()) return std::move(*s);
    }
    return loaded;
  };
  auto lead = [&]() -> Result<Loaded> {
    if (redis_down) return outage_load();
    Result<RawRead> again = read_raw(core, key, false);
    if (again.ok() && again->raw.has_value()) return from_cache(core, std::move(*again->raw), key);
    if (!again.ok() && !detail::unavailable(again.error())) return std::move(again).error();
    if (!again.ok()) return outage_load();
    return load(Loaded::Source::loader, false);
  };
  const auto wait = o.wait_for_load.count() > 0 ? o.wait_for_load : core.config().deadline;
  return core.single_flight().run(key, call_start + wait, lead);
}

}  // namespace

detail::LoadSource detail::load_source(const Result<Loaded>& r) {
  using detail::LoadSource;
  if (!r.ok()) return LoadSource::error;
  if (r->bypassed) return LoadSource::bypassed;
  switch (r->source) {
    case Loaded::Source::cache:
      return LoadSource::cache;
    case Loaded::Source::loader:
      return LoadSource::loader;
    case Loaded::Source::refreshed:
      return LoadSource::refreshed;
    case Loaded::Source::stale:
      return LoadSource::stale;
    case Loaded::Source::negative_cache:
      return LoadSource::negative_cache;
    case Loaded::Source::near_cache:
      return LoadSource::near_cache;
    case Loaded::Source::near_cache_stale:
      return LoadSource::near_cache_stale;
  }
  return LoadSource::loader;
}

void detail::record_load(ClientCore& core, const Result<Loaded>& r, TimePoint start) {
  // A hit is a value (or a cached "not found") served from Redis; a miss went to the loader.
  const ResultKind kind =
      !r.ok() ? ResultKind::error
      : (r->source == Loaded::Source::cache || r->source == Loaded::Source::negative_cache ||
         r->source == Loaded::Source::near_cache || r->source == Loaded::Source::near_cache_stale)
          ? ResultKind::hit
          : ResultKind::miss;
  core.finished(Op::get_or_load, kind, r.ok() ? Errc{} : r.error().code, start);
  core.metrics().load_result(load_source(r));
}

Result<Loaded> Client::get_or_load(std::string_view key_view, const LoadOptions& o,
                                   const Loader& loader) {
  if (auto r = detail::check_load_options(o); !r) return std::move(r).error();
  if (!loader) return Error{Errc::invalid_argument, "get_or_load: no loader"};
  if (auto e = core_->refuse_on_loop_thread("get_or_load")) return std::move(*e);
  const auto start = core_->clock().now();
  Result<Loaded> r = get_or_load_impl(*core_, std::string(key_view), o, loader, start);
  detail::record_load(*core_, r, start);
  return r;
}

Result<std::optional<std::string>> Client::get_renew(std::string_view key,
                                                     std::chrono::milliseconds ttl) {
  auto& core = *core_;
  const std::string k(key);
  auto r = detail::run<std::optional<std::string>>(
      core, command_of("GETEX", detail::getex_command(core.config(), key, ttl), Op::get),
      [&core, &k](Outcome& out) -> Result<std::optional<std::string>> {
        auto raw = detail::parse_string_or_nil("GETEX", *out.reply);
        if (!raw || !raw->has_value()) return raw;
        return core.decode_read(std::move(**raw), k);
      });
  detail::forget(core, k);  // its TTL changed (or may have): a copy must not outlive it
  return r;
}

}  // namespace rcache
