// State behind Client::get_or_load(): single-flight registry, loader durations for XFetch, and
// counters.
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "rcache/client.hpp"

namespace rcache::detail {

// Marks a cached "not found"; a user value can never be stored raw with this prefix because the
// envelope wraps any value starting with its magic.
inline constexpr std::string_view kNegativeMarker{"\xFFRCZ\x01\xFE", 6};
inline constexpr std::string_view kStaleSuffix{"\x1frcache-stale", 13};

class CacheAside {
 public:
  // Runs fn once for concurrent callers of `key`; the others wait and get a copy of its result.
  Result<Loaded> single_flight(const std::string& key, const std::function<Result<Loaded>()>& fn);
  // Leads a flight only if none is running for `key`; nullopt when one is (the caller then keeps
  // its cached value).
  std::optional<Result<Loaded>> lead_if_idle(const std::string& key,
                                             const std::function<Result<Loaded>()>& fn);

  void note_load(const std::string& key, std::chrono::nanoseconds took);
  std::chrono::nanoseconds load_time(const std::string& key) const;

  std::atomic<std::uint64_t> loader_calls{0};
  std::atomic<std::uint64_t> shared{0};  // callers served by another caller's load
  std::atomic<std::uint64_t> bypassed{0};
  std::atomic<std::uint64_t> early_refreshes{0};
  std::atomic<std::uint64_t> stale_served{0};

 private:
  struct Flight {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::optional<Result<Loaded>> result;
  };
  Result<Loaded> run_as_leader(const std::string& key, const std::shared_ptr<Flight>& f,
                               const std::function<Result<Loaded>()>& fn);

  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;
  mutable std::mutex times_mu_;
  std::unordered_map<std::string, std::chrono::nanoseconds> times_;  // bounded, see note_load
};

}  // namespace rcache::detail
