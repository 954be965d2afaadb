// What the demo measured, second by second: each request's outcome as its client saw it, the
// calls that reached the API, the circuit breaker's state and when Redis was down; and the
// per-phase sums of those seconds that make the demo's table.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <rcache/resilience.hpp>
#include <string>
#include <utility>
#include <vector>

namespace demo {

using Clock = std::chrono::steady_clock;

// How the service answered one request (its status and X-Cache header).
enum class Outcome {
  redis,       // answered from Redis
  near,        // answered from the near cache's fresh copy (no round trip to Redis)
  near_stale,  // Redis unavailable: answered from the near cache's copy past its freshness
  negative,    // a cached "not found"
  api,         // loaded from the API (a miss, or Redis unavailable: returned uncached)
  stale,       // the API failed and a stale copy was served
  api_429,     // the API refused the load (over its 5/s): 429 passed on
  shed,        // Redis unavailable and the outage load cap reached: 429 from the service
  error,       // anything else: 5xx, or no answer
};

// The status and X-Cache header the service gives to each outcome, and back.
const char* cache_header(Outcome o);
Outcome classify(int status, const std::string& cache_header);

// One second of the run.
struct Second {
  long requests = 0;      // requests that completed in this second
  long answered = 0;      // 200 or 404
  long no_api = 0;        // answered without calling the API (Redis, near cache, cached 404)
  long from_redis = 0;    // answered from Redis
  long stale = 0;         // answered from a stale copy (near_stale or stale)
  long rate_limited = 0;  // 429s (api_429 + shed)
  long shed = 0;          // of which the service's own outage load cap
  long errors = 0;        // neither answered nor 429
  long api_calls = 0;     // calls that reached the API
  long api_refused = 0;   // of which the API answered 429
  // The worst circuit breaker state during the second (open > half_open > closed).
  rcache::BreakerState breaker = rcache::BreakerState::closed;
  double redis_down = 0;             // the fraction of the second Redis was down
  std::vector<double> latencies_ms;  // of the answered requests
};

// A named range of whole seconds; `counted` false for the warm-up (not in the table).
struct Phase {
  std::string name;
  int begin = 0, end = 0;  // [begin, end) in seconds since the start
  bool counted = true;
};

// A phase's sums, for the table.
struct PhaseSummary {
  std::string name;
  int seconds = 0;
  Second total;  // latencies_ms: of every answered request of the phase, sorted
  double answered_per_s = 0;
  double p50_ms = 0, p99_ms = 0;  // of answered requests only (0 when none)
  double no_api_share = 0;        // no_api / answered (0 when none answered)
  double redis_down_seconds = 0;
};

PhaseSummary summarize(const std::vector<Second>& seconds, const Phase& phase);

// Records events from any thread (one mutex: a few hundred events per second).
class Timeline {
 public:
  // `groups`: requests can also be counted per group of keys (with --cluster: the killed
  // master's keys, the others), each with seconds of its own.
  explicit Timeline(int seconds, int groups = 0)
      : seconds_(static_cast<std::size_t>(seconds)),
        groups_(static_cast<std::size_t>(std::max(0, groups)), seconds_) {}
  void start() { t0_ = Clock::now().time_since_epoch().count(); }
  Clock::time_point t0() const { return Clock::time_point(Clock::duration(t0_.load())); }
  // Seconds since start(); -1 before it.
  double at(Clock::time_point t) const;
  double now() const { return at(Clock::now()); }

  // Events outside [0, seconds) are dropped. None of these throws. A request of group g (when
  // 0 <= g < groups) is counted in the whole run's seconds and in its group's.
  void request(Outcome o, double latency_ms, int group = -1) noexcept;
  void api_call(bool refused) noexcept;
  void breaker(rcache::BreakerState to) noexcept;  // at each transition
  void redis_down() noexcept;                      // at kill -9
  void redis_up() noexcept;                        // when it answers again

  // Seconds from the last redis_up() to the first request answered from Redis after it (of the
  // watched group only, after watch(g)); < 0 while there has been none.
  double redis_answers_resumed_after() const;
  void watch(int group) noexcept;
  // A moment worth a line on the chart ("promoted", ...), at `at` seconds (< 0: now()).
  void mark(const std::string& label, double at = -1) noexcept;
  std::vector<std::pair<double, std::string>> marks() const;

  // Every second, with the breaker state and Redis' downtime filled in.
  std::vector<Second> seconds() const;
  // Every second of a group's requests (request counts and latencies only); empty if no group g.
  std::vector<Second> group_seconds(int g) const;
  // Redis' down intervals [from, to) in seconds since start (`to` is the end of the run when it
  // never came back).
  std::vector<std::pair<double, double>> redis_down_intervals() const;
  int length() const { return static_cast<int>(seconds_.size()); }

 private:
  Second* slot(double t);                                        // under mu_
  void count(Second& s, Outcome o, double latency_ms) noexcept;  // under mu_

  std::atomic<Clock::rep> t0_{-1};  // -1: not started
  mutable std::mutex mu_;
  std::vector<Second> seconds_;
  std::vector<std::pair<double, rcache::BreakerState>> transitions_;
  std::vector<std::pair<double, double>> down_;  // to < 0: still down
  double first_redis_answer_ = -1;               // since the last redis_up()
  std::vector<std::vector<Second>> groups_;
  int watched_ = -1;  // the group redis_answers_resumed_after() is about; -1: every request
  std::vector<std::pair<double, std::string>> marks_;
};

}  // namespace demo
