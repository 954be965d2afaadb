// The demo's two HTTP servers: the slow, rate-limited API stand-in and the cached service in
// front of it (see demo_service.cpp for the whole picture).
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <rcache/rcache.hpp>

#include "http.hpp"
#include "timeline.hpp"

namespace demo {

// A stand-in for Airtable: GET /v0/{base}/{table}/{id} -> a JSON record after latency +- 30 ms,
// at most per_second requests in any 1 s window, 429 beyond.
class SlowApi {
 public:
  // on_call(refused) is called for every call that reaches it, from its worker threads.
  SlowApi(int port, std::chrono::milliseconds latency, int per_second,
          std::function<void(bool refused)> on_call);
  bool ok() const { return server_.error().empty(); }

 private:
  Response handle(const Request& r);

  HttpServer server_;
  std::chrono::milliseconds latency_;
  int per_second_;
  std::function<void(bool)> on_call_;
  std::mutex mu_;
  std::deque<Clock::time_point> window_;
};

// GET /records/{id} through get_or_load (its X-Cache header says where the answer came from);
// GET /healthz (liveness), /readyz (readiness), /cache/stats, /cache/health, /metrics;
// DELETE /cache?pattern=...&confirm=true.
class CacheService {
 public:
  CacheService(int port, rcache::Client& cache, int upstream_port);
  bool ok() const { return server_.error().empty(); }
  // From now on /readyz answers 503: the load balancer stops sending traffic before the
  // servers stop.
  void begin_shutdown() { shutting_down_ = true; }

 private:
  Response ready();
  Response record(const Request& r);
  Response purge(const Request& r);

  HttpServer server_;
  rcache::Client& cache_;
  int upstream_;
  std::atomic<bool> shutting_down_{false};
};

}  // namespace demo
