// Recipes over Client: sliding-window rate limiter and token lock, both as Lua scripts run by
// EVALSHA (Client::eval loads a script the server does not know).
#include "rcache/patterns.hpp"

#include <random>
#include <thread>

#include "base/backoff.hpp"
#include "base/clock.hpp"

namespace rcache {

namespace {

// KEYS[1] log key; ARGV: limit, window_ms, unique member. Uses the server clock. Not idempotent:
// each run logs a call.
const Script& rate_script() {
  static const Script s(R"lua(
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count < limit then
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, window)
  return {1, limit - count - 1, window, now}
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
local reset = window
if oldest[2] then reset = tonumber(oldest[2]) + window - now end
redis.call('PEXPIRE', key, window)
return {0, 0, reset, now}
)lua");
  return s;
}

// Not retried once sent: a second run would answer 0 ("not held") for a lock the first released.
const Script& unlock_script() {
  static const Script s(R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua");
  return s;
}

// Idempotent: setting the same TTL twice is setting it once.
const Script& extend_script() {
  static const Script s(R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
)lua",
                        Script::Options{true});
  return s;
}

std::string random_hex(int bytes) {
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   (static_cast<std::uint64_t>(std::random_device{}()) << 32));
  static const char* d = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < bytes; ++i) {
    const auto b = static_cast<unsigned>(rng() & 0xff);
    s += d[b >> 4];
    s += d[b & 15];
  }
  return s;
}

Result<std::int64_t> int_reply(Result<Reply> r, const char* what) {
  if (!r) return std::move(r).error();
  if (r->kind != Reply::Kind::integer) {
    return Error{Errc::protocol, std::string(what) + ": unexpected reply"};
  }
  return r->integer;
}

// Lua numbers are doubles and Redis keeps TTLs in milliseconds since the epoch: beyond these
// bounds a count stops being exact or a PEXPIRE stops applying (the key would keep no TTL).
constexpr std::int64_t kMaxLimit = std::int64_t{1} << 40;
constexpr std::int64_t kMaxWindowMs = std::int64_t{10} * 365 * 24 * 3600 * 1000;  // 10 years

Result<void> check_duration(const char* what, const char* name, std::chrono::milliseconds d) {
  if (d.count() <= 0 || d.count() > kMaxWindowMs) {
    return Error{Errc::invalid_argument,
                 std::string(what) + ": " + name + " = " + std::to_string(d.count()) +
                     " ms is out of range (expected 1.." + std::to_string(kMaxWindowMs) + " ms)"};
  }
  return {};
}

}  // namespace

Result<RateDecision> RateLimiter::acquire(std::string_view key) {
  if (limit_ < 1 || limit_ > kMaxLimit) {
    return Error{Errc::invalid_argument, "RateLimiter: limit = " + std::to_string(limit_) +
                                             " is out of range (expected 1.." +
                                             std::to_string(kMaxLimit) + ")"};
  }
  if (auto r = check_duration("RateLimiter", "window", window_); !r) return std::move(r).error();
  auto r = client_.eval(rate_script(), {std::string(key)},
                        {std::to_string(limit_), std::to_string(window_.count()), random_hex(12)});
  if (!r) return std::move(r).error();
  if (r->kind != Reply::Kind::array || r->elements.size() != 4) {
    return Error{Errc::protocol, "RateLimiter: unexpected script reply"};
  }
  RateDecision d;
  d.allowed = r->elements[0].integer == 1;
  d.remaining = r->elements[1].integer;
  d.reset = std::chrono::milliseconds(r->elements[2].integer);
  d.server_time_ms = r->elements[3].integer;
  return d;
}

Result<std::optional<LockHandle>> try_lock(Client& client, std::string_view key,
                                           std::chrono::milliseconds ttl) {
  if (auto r = check_duration("lock", "ttl", ttl); !r) return std::move(r).error();
  LockHandle h{std::string(key), random_hex(16)};
  auto r = client.command({"SET", client.config().key_prefix + h.key, h.token, "NX", "PX",
                           std::to_string(ttl.count())});
  if (!r) return std::move(r).error();
  if (r->kind == Reply::Kind::nil) return std::optional<LockHandle>{};
  return std::optional<LockHandle>(std::move(h));
}

Result<std::optional<LockHandle>> lock(Client& client, std::string_view key,
                                       std::chrono::milliseconds ttl,
                                       std::chrono::milliseconds wait) {
  if (wait.count() < 0) {
    return Error{Errc::invalid_argument,
                 "lock: wait = " + std::to_string(wait.count()) + " ms must be >= 0"};
  }
  const detail::ClockSource& clock = detail::SteadyClock::instance();
  const auto end = clock.now() + wait;
  // The shared backoff: 10 ms doubling to 200 ms, full jitter.
  detail::Backoff backoff(
      detail::BackoffShape::doubling(std::chrono::milliseconds(10), std::chrono::milliseconds(200),
                                     Jitter::full),
      std::random_device{}());
  for (int attempt = 1; attempt <= 100000; ++attempt) {  // bounded; the deadline ends it first
    auto r = try_lock(client, key, ttl);
    if (!r || r->has_value()) return r;
    const auto now = clock.now();
    if (now >= end) return std::optional<LockHandle>{};
    const auto sleep =
        std::min<std::chrono::steady_clock::duration>(backoff.delay(attempt), end - now);
    std::this_thread::sleep_for(sleep);
  }
  return std::optional<LockHandle>{};
}

Result<bool> unlock(Client& client, const LockHandle& h) {
  auto n = int_reply(client.eval(unlock_script(), {h.key}, {h.token}), "unlock");
  if (!n) return std::move(n).error();
  return *n == 1;
}

Result<bool> extend(Client& client, const LockHandle& h, std::chrono::milliseconds ttl) {
  if (auto r = check_duration("extend", "ttl", ttl); !r) return std::move(r).error();
  auto n = int_reply(client.eval(extend_script(), {h.key}, {h.token, std::to_string(ttl.count())}),
                     "extend");
  if (!n) return std::move(n).error();
  return *n == 1;
}

}  // namespace rcache
