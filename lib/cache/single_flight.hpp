// Single-flight for get_or_load: concurrent callers of one key in this process share one load.
//
// The leader (the caller that finds no flight for its key) runs the load on its own thread and is
// never bounded: the load is user code. Followers wait for the leader's result until their own
// deadline, then give up with Errc::timeout; the leader carries on and still publishes its result
// (and get_or_load's load still writes it to Redis).
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.hpp"
#include "metrics/metrics.hpp"
#include "rcache/get_or_load.hpp"

namespace rcache::detail {

class SingleFlight {
 public:
  explicit SingleFlight(Metrics& metrics) : metrics_(metrics) {}

  // Runs fn once for concurrent callers of `key`; the others wait and get a copy of its result
  // (counted as singleflight_shared), or Errc::timeout if it is not there by follower_deadline (a
  // steady_clock time: the wait is a real one, whatever clock the caller measures with).
  Result<Loaded> run(const std::string& key, TimePoint follower_deadline,
                     const std::function<Result<Loaded>()>& fn);
  // Leads a flight only if none is running for `key`; nullopt when one is (the caller then keeps
  // its cached value).
  std::optional<Result<Loaded>> lead_if_idle(const std::string& key,
                                             const std::function<Result<Loaded>()>& fn);

  // The asynchronous form (get_or_load_async), sharing flights with the blocking one.
  struct Flight {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::optional<Result<Loaded>> result;
    // Asynchronous followers: called once, on the thread that ends the flight, after `result`
    // is set and the blocking followers are woken.
    std::vector<std::function<void(const Result<Loaded>&)>> followers;
  };
  using Follower = std::function<void(const Result<Loaded>&)>;
  // When a flight of `key` runs: `follower` will get its result (counted as singleflight_shared)
  // and null is returned. Otherwise a flight is started and returned: the caller leads it and
  // must end it with finish(), whatever happens (every later caller of the key waits for it).
  std::shared_ptr<Flight> join(const std::string& key, Follower follower);
  // Ends a flight (once): the key is free again, every follower gets `r`.
  void finish(const std::string& key, const std::shared_ptr<Flight>& f, const Result<Loaded>& r);

 private:
  Result<Loaded> run_as_leader(const std::string& key, const std::shared_ptr<Flight>& f,
                               const std::function<Result<Loaded>()>& fn);

  Metrics& metrics_;
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;
};

}  // namespace rcache::detail
