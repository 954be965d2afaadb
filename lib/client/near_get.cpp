// GET through the near cache: a fresh copy answers at once; a miss reads the value and its TTL
// from Redis and stores it (a fill, guarded against invalidations that overtake the reply); a
// call that cannot use Redis is answered from a copy within max_stale, else with its error (a
// miss in local mode). See resilience/near_cache.hpp for the invariant.
#include "client/calls.hpp"
#include "protocol/commands.hpp"
#include "protocol/replies.hpp"
#include "resilience/verdict.hpp"

namespace rcache::detail {

namespace {

using OptString = std::optional<std::string>;

// GET + PTTL, the value decoded (RawRead::raw holds the decoded value; nullopt also for
// get_or_load's "not found" marker).
Result<Command> get_pttl_cmd(ClientCore& core, std::string_view key) {
  return command_of("GET", get_with_pttl_command(core.config(), key, true), Op::get);
}

auto parse_decoded(ClientCore& core, std::string key) {
  return [&core, key = std::move(key)](Outcome& o) -> Result<RawRead> {
    auto r = parse_get_with_pttl(o.earlier, *o.reply);
    if (!r || !r->raw) return r;
    auto v = core.decode_read(std::move(*r->raw), key);
    if (!v) return std::move(v).error();
    r->raw = std::move(*v);
    return r;
  };
}

// The read's outcome: stored in the near cache, or (Redis unusable) answered from it; in local
// mode a read with no copy is a miss.
Result<Read> settle(ClientCore& core, NearCache& near, const std::string& nk,
                    const NearCache::FillToken& token, Result<RawRead> r, bool copies = true) {
  if (r.ok()) {
    std::optional<std::string_view> value;
    if (r->raw) value = *r->raw;
    near.end_fill(nk, token, value, std::chrono::milliseconds(r->pttl_ms));
    return Read{std::move(r->raw), Read::Source::redis};
  }
  near.abandon_fill(nk, token);
  if (!copies) return std::move(r).error();
  if (unavailable(r.error())) {
    if (auto copy = near.get_during_outage(nk)) {
      if (core.availability().local_mode()) core.metrics().add(Counter::fallback_served);
      const auto source = copy->written ? Read::Source::local
                          : copy->stale ? Read::Source::near_cache_stale
                                        : Read::Source::near_cache;
      return Read{OptString(std::move(copy->value)), source};
    }
  }
  if (core.availability().falls_back(r.error())) {
    return Read{core.availability().local_miss(), Read::Source::local};
  }
  return std::move(r).error();
}

// A near-cache hit, recorded as the GET it answers (no copy of the value for it).
void record_hit(ClientCore& core, TimePoint start) noexcept {
  const auto now = core.clock().now();
  core.metrics().record(Op::get, ResultKind::hit, Errc{}, now - start, now);
}

Result<OptString> value_of(Result<Read> r) {
  if (!r) return std::move(r).error();
  return std::move(r->value);
}

}  // namespace

Result<Read> near_get(ClientCore& core, NearCache& near, std::string_view key, bool copies) {
  const std::string nk = near_key(core.config(), key);
  const auto start = core.clock().now();
  if (copies) {
    if (auto v = near.get(nk)) {
      record_hit(core, start);
      return Read{std::move(*v), Read::Source::near_cache};
    }
  }
  const auto token = near.begin_fill(nk);
  auto r = run<RawRead>(core, get_pttl_cmd(core, key), parse_decoded(core, std::string(key)));
  return settle(core, near, nk, token, std::move(r), copies);
}

void near_get_async(ClientCore& core, NearCache& near, std::string_view key,
                    Callback<OptString> cb) {
  std::string nk = near_key(core.config(), key);
  const auto start = core.clock().now();
  if (auto v = near.get(nk)) {
    // Callbacks run on the loop thread, a near-cache hit's too.
    Result<OptString> hit(OptString(std::move(*v)));
    record_hit(core, start);
    core.transport().post([hit = std::move(hit), cb = std::move(cb)]() mutable {
      if (cb) cb(std::move(hit));
    });
    return;
  }
  const auto token = near.begin_fill(nk);
  run_async<RawRead>(core, get_pttl_cmd(core, key), parse_decoded(core, std::string(key)),
                     Callback<RawRead>([&core, &near, nk = std::move(nk), token,
                                        cb = std::move(cb)](Result<RawRead> r) mutable {
                       auto out = value_of(settle(core, near, nk, token, std::move(r)));
                       if (cb) cb(std::move(out));
                     }));
}

}  // namespace rcache::detail
