// Single-flight registry: one leader per key runs the load, followers wait for its result until
// their deadline.
#include "cache/single_flight.hpp"

#include <new>

namespace rcache::detail {

namespace {

Error follower_timeout(const std::string& key) {
  std::string shown(key.substr(0, 64));
  if (key.size() > 64) shown += "...";
  return Error{Errc::timeout, "get_or_load: key '" + shown +
                                  "': the deadline passed while waiting for another caller's "
                                  "load of it (that load goes on)"};
}

}  // namespace

Result<Loaded> SingleFlight::run_as_leader(const std::string& key, const std::shared_ptr<Flight>& f,
                                           const std::function<Result<Loaded>()>& fn) {
  // fn catches the loader's exceptions; only an allocation failure could get here, and the
  // flight must end whatever happens, or every later caller of the key would wait for it.
  Result<Loaded> r = Error{Errc::too_large, "get_or_load: out of memory during the load"};
  try {
    r = fn();
  } catch (const std::bad_alloc&) {
  }
  finish(key, f, r);
  return r;
}

void SingleFlight::finish(const std::string& key, const std::shared_ptr<Flight>& f,
                          const Result<Loaded>& r) {
  {
    std::lock_guard lock(mu_);
    auto it = flights_.find(key);
    if (it != flights_.end() && it->second == f) flights_.erase(it);
  }
  std::vector<Follower> followers;
  {
    std::lock_guard lock(f->mu);
    if (f->done) return;
    f->result = r;
    f->done = true;
    followers.swap(f->followers);
  }
  f->cv.notify_all();
  for (auto& follow : followers) {
    try {
      follow(r);
    } catch (...) {
      // A follower is ours (it posts the result to its caller's callback); never let one stop
      // the others.
    }
  }
}

std::shared_ptr<SingleFlight::Flight> SingleFlight::join(const std::string& key,
                                                         Follower follower) {
  std::shared_ptr<Flight> f;
  {
    std::lock_guard lock(mu_);
    auto [it, inserted] = flights_.try_emplace(key);
    if (inserted) {
      it->second = std::make_shared<Flight>();
      return it->second;
    }
    f = it->second;
  }
  metrics_.add(Counter::singleflight_shared);
  {
    std::lock_guard lock(f->mu);
    if (!f->done) {
      f->followers.push_back(std::move(follower));
      return nullptr;
    }
  }
  // It ended between the two locks: its result is there already.
  follower(*f->result);
  return nullptr;
}

Result<Loaded> SingleFlight::run(const std::string& key, TimePoint follower_deadline,
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
  // Not past the deadline: the leader's load is user code and may be stuck.
  if (!f->cv.wait_until(lock, follower_deadline, [&] { return f->done; })) {
    return follower_timeout(key);
  }
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
