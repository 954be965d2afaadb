// rcache — options and results of Client::get_or_load() (cache-aside with single-flight).
//
// Thread safety: plain value types.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "rcache/error.hpp"

namespace rcache {

// Options of Client::get_or_load().
struct LoadOptions {
  // TTL of a loaded value, > 0; each write is jittered by +-ttl_jitter (0.10 = +-10 %) so that
  // keys loaded together do not expire together.
  std::chrono::milliseconds ttl{60000};
  double ttl_jitter = 0.10;  // 0..0.5
  // Cache "not found" (the loader returned std::nullopt) for negative_ttl; off by default.
  bool negative_cache = false;
  std::chrono::milliseconds negative_ttl{5000};
  // Probabilistic early refresh of hot keys (XFetch, beta as below): a caller may reload a value
  // before it expires, with a probability that rises as expiry nears and with the loader's
  // duration. One refresh per key at a time in this process; the others keep the cached value.
  bool early_refresh = false;
  double beta = 1.0;
  // If the loader fails and a stale copy exists (kept for stale_ttl after each load), return it
  // marked stale instead of the error.
  bool stale_if_error = false;
  std::chrono::milliseconds stale_ttl{600000};
  // How long a caller waits for another caller's load of the same key (single-flight) before it
  // gets Errc::timeout; that load goes on and still fills the cache. Zero: Config::deadline, from
  // the start of the call. Set it near your loader's own timeout when loads take longer than
  // the deadline (a 2 s API behind a 250 ms deadline would otherwise fail every follower). >= 0.
  std::chrono::milliseconds wait_for_load{0};
  // false: this call uses no near-cache copy, neither fresh nor while Redis is unavailable
  // (Redis, then the loader, as without a near cache). What it reads or loads still refreshes the
  // copy for other calls.
  bool near_cache = true;
};

// What get_or_load() returns.
struct Loaded {
  // cache: from Redis; loader: loaded on a miss; refreshed: loaded early (XFetch) although a
  // cached value existed; stale: the loader failed and the stale copy was served;
  // negative_cache: a cached "not found"; near_cache: the near cache's fresh copy (no round
  // trip; during an outage also a value loaded in this outage, within its TTL); near_cache_stale:
  // Redis was unavailable and the near cache's copy, past its freshness but within
  // Config::max_stale, was served.
  enum class Source {
    cache,
    loader,
    refreshed,
    stale,
    negative_cache,
    near_cache,
    near_cache_stale
  };
  std::optional<std::string> value;  // std::nullopt: "not found" (from the loader or cached)
  Source source = Source::cache;
  bool bypassed = false;  // Redis was unavailable: the loader's result was returned uncached
};

// The source's name, as in Stats::get_or_load_sources: "cache", "loader", "refreshed", "stale",
// "negative_cache", "near_cache", "near_cache_stale".
constexpr std::string_view to_string(Loaded::Source s) noexcept {
  switch (s) {
    case Loaded::Source::cache:
      return "cache";
    case Loaded::Source::loader:
      return "loader";
    case Loaded::Source::refreshed:
      return "refreshed";
    case Loaded::Source::stale:
      return "stale";
    case Loaded::Source::negative_cache:
      return "negative_cache";
    case Loaded::Source::near_cache:
      return "near_cache";
    case Loaded::Source::near_cache_stale:
      return "near_cache_stale";
  }
  return "unknown";
}

// The loader of get_or_load(): a value, std::nullopt for "not found", or an error. Runs on the
// calling thread. An exception it throws is caught and returned as Errc::invalid_argument.
// Nothing bounds its duration: the caller running it waits until it returns (other callers of
// the key stop waiting at LoadOptions::wait_for_load), so give it its own timeout.
using Loader = std::function<Result<std::optional<std::string>>()>;

// The loader of get_or_load_async(): it starts the load and returns at once; `done` is called
// with the result, exactly once, from any thread (later calls are ignored). The loader itself is
// called on the client's loop thread: it must not block there. If it throws, or destroys `done`
// without calling it, the load fails with Errc::invalid_argument saying so. Until `done` is
// called the key's flight stays open: other callers of the key wait for it at most
// LoadOptions::wait_for_load, so bound your load.
using LoadDone = std::function<void(Result<std::optional<std::string>>)>;
using AsyncLoader = std::function<void(LoadDone done)>;

}  // namespace rcache
