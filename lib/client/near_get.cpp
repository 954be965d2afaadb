// GET through the near cache: a fresh copy answers at once; a miss reads the value and its TTL
// from Redis and stores it (a fill, guarded against invalidations that overtake the reply); a
// call that cannot use Redis is answered from a copy within max_stale, else with its error (a
// miss in local mode). See resilience/near_cache.hpp for the invariant.
#include <utility>

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
  core.finished(Op::get, ResultKind::hit, Errc{}, start);
}

Result<OptString> value_of(Result<Read> r) {
  if (!r) return std::move(r).error();
  return std::move(r->value);
}

// MGET of the keys that had no fresh copy, as its part of an mget() through the near cache: the
// copies found, the keys still to read, the fills begun for them.
struct NearMget {
  std::vector<std::string> keys;  // as the caller named them
  std::vector<std::string> near_keys;
  Values values;
  std::vector<std::size_t> missing;  // indexes into keys
  std::vector<NearCache::FillToken> tokens;

  NearCache& near;
  bool open = true;  // the fills begun are still to end (settle, or the destructor)

  NearMget(const Config& cfg, NearCache& nc, const std::vector<std::string>& ks)
      : keys(ks), values(ks.size()), near(nc) {
    near_keys.reserve(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      near_keys.push_back(near_key(cfg, keys[i]));
      if (auto v = near.get(near_keys[i])) {
        values[i] = std::move(*v);
      } else {
        missing.push_back(i);
      }
    }
    tokens.reserve(missing.size());
    for (std::size_t i : missing) tokens.push_back(near.begin_fill(near_keys[i]));
  }
  NearMget(const NearMget&) = delete;
  NearMget& operator=(const NearMget&) = delete;
  ~NearMget() { abandon(); }

  void abandon() noexcept {
    if (!std::exchange(open, false)) return;
    for (std::size_t j = 0; j < tokens.size(); ++j)
      near.abandon_fill(near_keys[missing[j]], tokens[j]);
  }

  std::vector<std::string> missing_keys() const {
    std::vector<std::string> out;
    out.reserve(missing.size());
    for (std::size_t i : missing) out.push_back(keys[i]);
    return out;
  }

  // The MGET's outcome: the values stored and merged in order; or (Redis unusable) the copies,
  // when every missing key has one (local mode: a miss for those without).
  Result<Values> settle(ClientCore& core, Result<std::vector<RawRead>> r) {
    if (r.ok() && r->size() == missing.size()) {
      open = false;
      for (std::size_t j = 0; j < missing.size(); ++j) {
        RawRead& rr = (*r)[j];
        std::optional<std::string_view> v;
        if (rr.raw) v = *rr.raw;
        near.end_fill(near_keys[missing[j]], tokens[j], v, std::chrono::milliseconds(rr.pttl_ms));
        values[missing[j]] = std::move(rr.raw);
      }
      return std::move(values);
    }
    abandon();
    if (r.ok()) return Error{Errc::protocol, "MGET: replies do not match the keys asked"};
    if (!unavailable(r.error())) return std::move(r).error();
    const bool local = core.availability().falls_back(r.error());
    for (std::size_t i : missing) {
      if (auto copy = near.get_during_outage(near_keys[i])) {
        values[i] = std::move(copy->value);
      } else if (!local) {
        return std::move(r).error();  // no whole answer without Redis
      }
    }
    if (local) core.metrics().add(Counter::fallback_served);
    return std::move(values);
  }
};

// `named`: the keys the application's call named (the hook reports them), of which `keys` missed
// the near cache.
Result<Command> mget_pttl_cmd(ClientCore& core, const std::vector<std::string>& keys,
                              std::size_t named) {
  auto cmd = command_of("MGET", mget_with_pttl_command(core.config(), keys), Op::mget);
  if (cmd) cmd->keys = static_cast<std::uint32_t>(named);
  return cmd;
}

auto parse_mget_decoded(ClientCore& core, std::vector<std::string> keys) {
  return [&core, keys = std::move(keys)](Outcome& o) -> Result<std::vector<RawRead>> {
    auto r = parse_mget_with_pttl(o.earlier, *o.reply, keys.size());
    if (!r) return r;
    for (std::size_t i = 0; i < r->size(); ++i) {
      auto& raw = (*r)[i].raw;
      if (!raw) continue;
      auto v = core.decode_read(std::move(*raw), keys[i]);
      if (!v) return std::move(v).error();
      raw = std::move(*v);
    }
    return r;
  };
}

}  // namespace

Result<Values> near_mget(ClientCore& core, NearCache& near, const std::vector<std::string>& keys) {
  const auto start = core.clock().now();
  NearMget m(core.config(), near, keys);
  if (m.missing.empty() && !keys.empty()) {
    core.finished(Op::mget, ResultKind::ok, Errc{}, start, static_cast<std::uint32_t>(keys.size()));
    return std::move(m.values);
  }
  auto missing = m.missing_keys();
  auto r = run<std::vector<RawRead>>(core, mget_pttl_cmd(core, missing, keys.size()),
                                     parse_mget_decoded(core, missing));
  return m.settle(core, std::move(r));
}

void near_mget_async(ClientCore& core, NearCache& near, const std::vector<std::string>& keys,
                     Callback<Values> cb) {
  const auto start = core.clock().now();
  auto m = std::make_shared<NearMget>(core.config(), near, keys);
  if (m->missing.empty() && !keys.empty()) {
    core.finished(Op::mget, ResultKind::ok, Errc{}, start, static_cast<std::uint32_t>(keys.size()));
    core.transport().post([m, cb = std::move(cb)]() mutable {
      if (cb) cb(Result<Values>(std::move(m->values)));
    });
    return;
  }
  auto missing = m->missing_keys();
  run_async<std::vector<RawRead>>(
      core, mget_pttl_cmd(core, missing, keys.size()), parse_mget_decoded(core, missing),
      Callback<std::vector<RawRead>>(
          [&core, m, cb = std::move(cb)](Result<std::vector<RawRead>> r) mutable {
            auto out = m->settle(core, std::move(r));
            if (cb) cb(std::move(out));
          }));
}

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
