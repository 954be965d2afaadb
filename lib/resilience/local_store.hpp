// Bounded in-process key/value store with LRU eviction and per-key TTL, used by the `local`
// degraded mode while Redis is unavailable.
//
// Size accounting: key bytes + value bytes + kEntryOverhead per entry; the total never exceeds
// max_bytes (a value too large to fit alone is not stored). Expired entries are dropped when
// touched and evicted first in LRU order as space is needed.
//
// Thread safety: every member may be called from any thread (one mutex).
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/clock.hpp"

namespace rcache::detail {

class LocalStore {
 public:
  static constexpr std::size_t kEntryOverhead = 96;  // list node + hash node + bookkeeping

  LocalStore(std::size_t max_bytes, const ClockSource& clock)
      : max_bytes_(max_bytes), clock_(clock) {}

  std::optional<std::string> get(std::string_view key);
  // ttl zero: no expiry. False if the entry alone exceeds max_bytes (nothing stored, and any
  // older value of the key removed, so a stale value cannot be read back).
  bool set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl);
  bool erase(std::string_view key);
  void clear();

  std::size_t bytes() const;
  std::size_t size() const;
  std::size_t evictions() const;

 private:
  struct Entry {
    std::string key;
    std::string value;
    ClockSource::time_point expires{};  // epoch: never
  };
  using List = std::list<Entry>;

  static std::size_t cost(const Entry& e) { return e.key.size() + e.value.size() + kEntryOverhead; }
  void remove(List::iterator it);  // lock held

  const std::size_t max_bytes_;
  const ClockSource& clock_;
  mutable std::mutex mu_;
  List lru_;                                                    // front = most recently used
  std::unordered_map<std::string_view, List::iterator> index_;  // views into Entry::key
  std::size_t bytes_ = 0;
  std::size_t evictions_ = 0;
};

}  // namespace rcache::detail
