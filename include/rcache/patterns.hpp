// rcache — primitives the services used to write by hand, done atomically in Redis.
//
// RateLimiter: at most `limit` calls per sliding `window`, per key, decided by one Lua script
// (sorted-set log of the server's own clock), so the count and its TTL are written together and
// no key is ever left without a TTL. Exact: no window of length `window` ever holds more than
// `limit` allowed calls.
//
// Lock: SET key token NX PX ttl with a random 128-bit token; unlock and extend are Lua scripts
// that act only if the key still holds that token. lock() retries with jittered backoff up to a
// wait limit.
//
// Arguments are checked before anything is sent (Errc::invalid_argument naming the argument):
// limit 1..2^40, window and lock TTLs 1 ms..10 years, wait >= 0.
//
// Keys get Config::key_prefix. Thread safety: all functions may be called from any thread
// (they are blocking calls on the Client).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rcache/client.hpp"

namespace rcache {

struct RateDecision {
  bool allowed = false;
  std::int64_t remaining = 0;          // calls left in the current window after this one
  std::chrono::milliseconds reset{0};  // until the oldest counted call leaves the window
  std::int64_t server_time_ms = 0;     // Redis' clock at the decision (for audits and tests)
};

class RCACHE_API RateLimiter {
 public:
  // limit >= 1 calls per window > 0; checked by acquire().
  RateLimiter(Client& client, std::int64_t limit, std::chrono::milliseconds window)
      : client_(client), limit_(limit), window_(window) {}
  Result<RateDecision> acquire(std::string_view key);

 private:
  Client& client_;
  std::int64_t limit_;
  std::chrono::milliseconds window_;
};

struct LockHandle {
  std::string key;    // as given (without prefix)
  std::string token;  // random, identifies this holder
};

// One attempt.
RCACHE_API Result<std::optional<LockHandle>> try_lock(Client& client, std::string_view key,
                                                      std::chrono::milliseconds ttl);
// Retries with jittered exponential backoff (10 ms doubling to 200 ms) until `wait` has passed.
RCACHE_API Result<std::optional<LockHandle>> lock(Client& client, std::string_view key,
                                                  std::chrono::milliseconds ttl,
                                                  std::chrono::milliseconds wait);
// True if this holder still had the lock and released it; false: it had expired or another
// holder has it (nothing is deleted then).
RCACHE_API Result<bool> unlock(Client& client, const LockHandle& handle);
// True if the TTL was reset to `ttl` (still held by this token).
RCACHE_API Result<bool> extend(Client& client, const LockHandle& handle,
                               std::chrono::milliseconds ttl);

}  // namespace rcache
