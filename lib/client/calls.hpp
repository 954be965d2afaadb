// The three call forms over a Result<Command> (build -> run -> parse), and local-mode fallback.
//
// Thread safety: as Client.
#pragma once

#include <future>
#include <memory>

#include "client/core.hpp"

namespace rcache::detail {

// A built command, or the argument error that stopped it.
inline Result<Command> command_of(const char* name, Result<Wire> wire, Op op,
                                  bool idempotent = true) {
  if (!wire) return std::move(wire).error();
  return Command::of(name, std::move(*wire), op, idempotent);
}

// Parse adaptor: a parser over the last reply.
template <class T, class F>
auto on_reply(F f) {
  return [f = std::move(f)](Outcome& o) -> Result<T> { return f(*o.reply); };
}

template <class T, class Parse>
Result<T> run(ClientCore& core, Result<Command> cmd, Parse parse) {
  if (!cmd) return std::move(cmd).error();
  return core.call<T>(std::move(*cmd), std::move(parse));
}

template <class T, class Parse>
void run_async(ClientCore& core, Result<Command> cmd, Parse parse, Callback<T> cb) {
  if (!cmd) {
    core.fail_async<T>(std::move(cmd).error(), std::move(cb));
    return;
  }
  core.call_async<T>(std::move(*cmd), std::move(parse), std::move(cb));
}

template <class T>
std::future<Result<T>> future_of(const std::function<void(Callback<T>)>& start) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  start([promise](Result<T> r) { promise->set_value(std::move(r)); });
  return future;
}

// Local mode: an answer from the local store replaces an "unavailable" error. `local` is called
// with that error (a local write may decline and return it).
template <class T, class Local>
Result<T> or_fallback(ClientCore& core, Result<T> r, Local local) {
  if (r.ok() || !core.availability().falls_back(r.error())) return r;
  return local(std::move(r).error());
}

template <class T, class Local>
Callback<T> with_fallback(ClientCore& core, Callback<T> cb, Local local) {
  if (!core.availability().local_mode()) return cb;
  return [&core, cb = std::move(cb), local = std::move(local)](Result<T> r) {
    r = or_fallback(core, std::move(r), local);
    if (cb) cb(std::move(r));
  };
}

// ---- near cache ----

// The key as Redis names it (with key_prefix): the near cache's key, as invalidations name it.
inline std::string near_key(const Config& cfg, std::string_view key) {
  std::string k;
  k.reserve(cfg.key_prefix.size() + key.size());
  k.append(cfg.key_prefix).append(key);
  return k;
}

// This client wrote `key` (acknowledged, or failed: it may have run): its near-cache copy goes
// and reads that began before are not stored, so the next read sees the write.
inline void forget(ClientCore& core, std::string_view key) {
  if (NearCache* near = core.availability().near_cache())
    near->invalidate(near_key(core.config(), key));
}
template <class Keys, class KeyOf>
void forget_all(ClientCore& core, const Keys& keys, KeyOf key_of) {
  NearCache* near = core.availability().near_cache();
  if (near == nullptr) return;
  for (const auto& k : keys) near->invalidate(near_key(core.config(), key_of(k)));
}
inline void forget(ClientCore& core, const std::vector<std::string>& keys) {
  forget_all(core, keys, [](const std::string& k) -> std::string_view { return k; });
}
// The callback form: forgets `keys` before `cb` sees the outcome.
template <class T>
Callback<T> forgetting(ClientCore& core, std::vector<std::string> keys, Callback<T> cb) {
  if (core.availability().near_cache() == nullptr) return cb;
  return [&core, keys = std::move(keys), cb = std::move(cb)](Result<T> r) {
    forget(core, keys);
    if (cb) cb(std::move(r));
  };
}

// GET through the near cache (near_get.cpp), saying where the answer came from.
Result<Read> near_get(ClientCore& core, NearCache& near, std::string_view key);
void near_get_async(ClientCore& core, NearCache& near, std::string_view key,
                    Callback<std::optional<std::string>> cb);

}  // namespace rcache::detail
