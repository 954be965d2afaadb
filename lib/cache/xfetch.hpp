// The pure decisions of get_or_load: XFetch early refresh, TTL jitter, and the loader durations
// they use; plus the markers it stores.
//
// Thread safety: free functions are pure; LoadTimes may be used from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace rcache::detail {

// Marks a cached "not found"; a user value can never be stored raw with this prefix because the
// envelope wraps any value starting with its magic.
inline constexpr std::string_view kNegativeMarker{"\xFFRCZ\x01\xFE", 6};
inline constexpr std::string_view kStaleSuffix{"\x1frcache-stale", 13};

// XFetch (Vattani et al.): refresh when -delta * beta * ln(u) >= remaining TTL, u in (0, 1].
bool xfetch_should_refresh(double load_ms, double beta, double u, std::int64_t pttl_ms) noexcept;

// ttl scaled by a factor in [1 - jitter, 1 + jitter] chosen by u in (0, 1]; at least 1 ms.
std::chrono::milliseconds jittered_ttl(std::chrono::milliseconds ttl, double jitter,
                                       double u) noexcept;

// A uniform number in (0, 1] from a per-thread generator.
double uniform01();

// How long the last load of each key took (the delta of XFetch). Bounded: at most 10,000 keys.
class LoadTimes {
 public:
  void note(const std::string& key, std::chrono::nanoseconds took);
  // 100 ms for a key never loaded here.
  std::chrono::nanoseconds get(const std::string& key) const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::chrono::nanoseconds> times_;
};

}  // namespace rcache::detail
