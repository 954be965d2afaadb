// Bounded in-process LRU store with per-key TTL, for the `local` degraded mode.
#include "resilience/local_store.hpp"

namespace rcache::detail {

void LocalStore::remove(List::iterator it) {
  bytes_ -= cost(*it);
  index_.erase(std::string_view(it->key));
  lru_.erase(it);
}

std::optional<std::string> LocalStore::get(std::string_view key) {
  std::lock_guard lock(mu_);
  auto found = index_.find(key);
  if (found == index_.end()) return std::nullopt;
  auto it = found->second;
  if (it->expires != ClockSource::time_point{} && clock_.now() >= it->expires) {
    remove(it);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it);
  return it->value;
}

bool LocalStore::set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) {
  std::lock_guard lock(mu_);
  if (auto found = index_.find(key); found != index_.end()) remove(found->second);
  const std::size_t need = key.size() + value.size() + kEntryOverhead;
  if (need > max_bytes_) return false;
  const auto now = clock_.now();
  // Make room: expired entries anywhere first would need a scan; LRU order is good enough since
  // an expired entry is dropped whenever it reaches the back.
  while (bytes_ + need > max_bytes_ && !lru_.empty()) {
    remove(std::prev(lru_.end()));
    ++evictions_;
  }
  Entry e{std::string(key), std::string(value),
          ttl.count() > 0 ? now + ttl : ClockSource::time_point{}};
  lru_.push_front(std::move(e));
  index_.emplace(std::string_view(lru_.front().key), lru_.begin());
  bytes_ += need;
  return true;
}

bool LocalStore::erase(std::string_view key) {
  std::lock_guard lock(mu_);
  auto found = index_.find(key);
  if (found == index_.end()) return false;
  remove(found->second);
  return true;
}

void LocalStore::clear() {
  std::lock_guard lock(mu_);
  index_.clear();
  lru_.clear();
  bytes_ = 0;
}

std::size_t LocalStore::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

std::size_t LocalStore::size() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

std::size_t LocalStore::evictions() const {
  std::lock_guard lock(mu_);
  return evictions_;
}

}  // namespace rcache::detail
