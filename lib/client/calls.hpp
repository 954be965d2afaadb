// The three call forms over a Result<Command> (build -> run -> parse), and local-mode fallback.
//
// Thread safety: as Client.
#pragma once

#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

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

// A SET or DEL that local mode answers from the near cache when Redis is unavailable. Made
// before the write is sent (its guard against invalidations that come in meanwhile), settled
// with the write's result. Outside local mode it only forgets the keys, as every write does.
class LocalWrite {
 public:
  LocalWrite(ClientCore& core, std::string_view key) : LocalWrite(core) {
    if (near_ != nullptr) add(key);
  }
  LocalWrite(ClientCore& core, const std::vector<std::string>& keys) : LocalWrite(core) {
    if (near_ == nullptr) return;
    near_keys_.reserve(keys.size());
    tokens_.reserve(local_ ? keys.size() : 0);
    for (const auto& k : keys) add(k);
  }
  LocalWrite(const LocalWrite&) = delete;
  LocalWrite& operator=(const LocalWrite&) = delete;
  ~LocalWrite() { end_tokens(); }

  Result<bool> settle_set(Result<bool> r, std::string_view value, const SetOptions& o) {
    if (local_ && !r.ok() && core_.availability().falls_back(r.error())) {
      local_ = false;  // local_set ends the token
      return core_.availability().local_set(near_keys_[0], tokens_[0], value, o,
                                            std::move(r).error());
    }
    end_tokens();
    forget_keys();  // acknowledged, or failed and may have run: the copies go
    return r;
  }
  Result<std::int64_t> settle_del(Result<std::int64_t> r) {
    if (local_ && !r.ok() && core_.availability().falls_back(r.error())) {
      local_ = false;  // local_del ends the tokens
      return core_.availability().local_del(near_keys_, tokens_);
    }
    end_tokens();
    forget_keys();
    return r;
  }

 private:
  // Without a near cache nothing is copied or allocated: the write's hot path stays as it was.
  explicit LocalWrite(ClientCore& core)
      : core_(core),
        near_(core.availability().near_cache()),
        local_(near_ != nullptr && core.availability().local_mode()) {}
  void add(std::string_view key) {
    near_keys_.push_back(near_key(core_.config(), key));
    if (local_) tokens_.push_back(near_->begin_outage_write(near_keys_.back()));
  }
  void end_tokens() {
    if (!std::exchange(local_, false)) return;
    for (std::size_t i = 0; i < tokens_.size(); ++i) near_->abandon_fill(near_keys_[i], tokens_[i]);
  }
  void forget_keys() {
    if (near_ == nullptr) return;
    for (const auto& k : near_keys_) near_->invalidate(k);
  }

  ClientCore& core_;
  NearCache* const near_;  // null: no near cache, nothing to do
  bool local_;             // local mode, while the tokens are open
  std::vector<std::string> near_keys_;
  std::vector<NearCache::FillToken> tokens_;
};

// GET through the near cache (near_get.cpp), saying where the answer came from.
// MGET through the near cache: the keys with a fresh copy from it, the others from Redis in one
// MGET (+ PTTL each) that fills them; in an outage the copies when every key has one.
using Values = std::vector<std::optional<std::string>>;
Result<Values> near_mget(ClientCore& core, NearCache& near, const std::vector<std::string>& keys);
void near_mget_async(ClientCore& core, NearCache& near, const std::vector<std::string>& keys,
                     Callback<Values> cb);
// `copies` false (ReadOptions::near_cache): Redis only, what it answers still fills.
Result<Read> near_get(ClientCore& core, NearCache& near, std::string_view key, bool copies = true);
void near_get_async(ClientCore& core, NearCache& near, std::string_view key,
                    Callback<std::optional<std::string>> cb);

}  // namespace rcache::detail
