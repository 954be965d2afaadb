// Single-flight registry: one leader per key runs the load, followers wait for its result.
#include "cache/single_flight.hpp"

namespace rcache::detail {

Result<Loaded> SingleFlight::run_as_leader(const std::string& key, const std::shared_ptr<Flight>& f,
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

Result<Loaded> SingleFlight::run(const std::string& key,
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
  metrics_.add(Counter::singleflight_shared);
  std::unique_lock lock(f->mu);
  f->cv.wait(lock, [&] { return f->done; });
  return *f->result;
}

std::optional<Result<Loaded>> SingleFlight::lead_if_idle(
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

}  // namespace rcache::detail
