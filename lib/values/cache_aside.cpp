#include "values/cache_aside.hpp"

namespace rcache::detail {

Result<Loaded> CacheAside::run_as_leader(const std::string& key,
                                         const std::shared_ptr<Flight>& f,
                                         const std::function<Result<Loaded>()>& fn) {
  Result<Loaded> r = fn();
  {
    std::lock_guard lock(mu_);
    flights_.erase(key);
  }
  {
    std::lock_guard lock(f->mu);
    f->result = r;
    f->done = true;
  }
  f->cv.notify_all();
  return r;
}

Result<Loaded> CacheAside::single_flight(const std::string& key,
                                         const std::function<Result<Loaded>()>& fn) {
  std::shared_ptr<Flight> f;
  bool leader = false;
  {
    std::lock_guard lock(mu_);
    auto [it, inserted] = flights_.try_emplace(key);
    if (inserted) it->second = std::make_shared<Flight>();
    f = it->second;
    leader = inserted;
  }
  if (leader) return run_as_leader(key, f, fn);
  shared.fetch_add(1, std::memory_order_relaxed);
  std::unique_lock lock(f->mu);
  f->cv.wait(lock, [&] { return f->done; });
  return *f->result;
}

std::optional<Result<Loaded>> CacheAside::lead_if_idle(
    const std::string& key, const std::function<Result<Loaded>()>& fn) {
  std::shared_ptr<Flight> f;
  {
    std::lock_guard lock(mu_);
    auto [it, inserted] = flights_.try_emplace(key);
    if (!inserted) return std::nullopt;
    it->second = std::make_shared<Flight>();
    f = it->second;
  }
  return run_as_leader(key, f, fn);
}

void CacheAside::note_load(const std::string& key, std::chrono::nanoseconds took) {
  std::lock_guard lock(times_mu_);
  if (times_.size() >= 10000 && !times_.count(key)) times_.clear();  // bounded memory
  times_[key] = took;
}

std::chrono::nanoseconds CacheAside::load_time(const std::string& key) const {
  std::lock_guard lock(times_mu_);
  auto it = times_.find(key);
  return it != times_.end() ? it->second : std::chrono::milliseconds(100);
}

}  // namespace rcache::detail
