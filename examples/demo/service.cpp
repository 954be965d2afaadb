// The demo's two HTTP servers: the slow, rate-limited API stand-in and the cached service.
#include "service.hpp"

#include <cstring>
#include <optional>
#include <random>
#include <rcache/prometheus.hpp>
#include <string>
#include <thread>

#include "loopback.hpp"

namespace demo {

using namespace std::chrono_literals;

// ---- the slow upstream ------------------------------------------------------------------------

SlowApi::SlowApi(int port, std::chrono::milliseconds latency, int per_second,
                 std::function<void(bool refused)> on_call)
    : server_(port, 64), latency_(latency), per_second_(per_second), on_call_(std::move(on_call)) {
  server_.route("/v0/", [this](const Request& r) { return handle(r); });
}

Response SlowApi::handle(const Request& r) {
  // Airtable's limit: per_second requests in any 1 s window, else 429.
  {
    std::lock_guard l(mu_);
    const auto now = Clock::now();
    while (!window_.empty() && now - window_.front() >= 1s) window_.pop_front();
    const bool refused = static_cast<int>(window_.size()) >= per_second_;
    on_call_(refused);
    if (refused) return {429, R"({"errors":[{"error":"RATE_LIMIT_REACHED"}]})"};
    window_.push_back(now);
  }
  thread_local std::mt19937 rng(std::random_device{}());
  const auto jitter = std::chrono::milliseconds(static_cast<int>(rng() % 61) - 30);
  std::this_thread::sleep_for(latency_ + jitter);
  const std::string id = r.path.substr(r.path.rfind('/') + 1);
  if (id.rfind("rec", 0) != 0) return {404, R"({"error":"NOT_FOUND"})"};
  std::string body = R"({"id":")" + id + R"(","createdTime":"2026-11-23T10:00:00.000Z",)" +
                     R"("fields":{"Name":"Customer )" + id + R"(","Status":"Active",)" +
                     R"("Seats":42,"Notes":"renewal discussed; wants annual billing",)" +
                     R"("Tags":["enterprise","emea"]}})";
  return {200, std::move(body)};
}

// ---- the service in front of it ---------------------------------------------------------------

CacheService::CacheService(int port, rcache::Client& cache, int upstream_port)
    : server_(port, 32), cache_(cache), upstream_(upstream_port) {
  server_.route("/records/", [this](const Request& r) { return record(r); });
  // Liveness: the process serves HTTP. Nothing else: restarting it would not bring Redis back.
  server_.route("/healthz", [](const Request&) { return Response{200, R"({"status":"ok"})"}; });
  server_.route("/readyz", [this](const Request&) { return ready(); });
  server_.route("/cache/stats", [this](const Request&) {
    return Response{200, cache_.stats().to_json()};
  });
  // The cache's own health, for people and dashboards: always 200 (the service works without
  // its cache); "ok" or "degraded" with the reason.
  server_.route("/cache/health", [this](const Request&) {
    rcache::Health h = cache_.health();
    if (h.status == rcache::Health::Status::disabled) {
      h.status = rcache::Health::Status::degraded;
      h.reason += "; the service answers without the cache";
    }
    return Response{200, h.to_json()};
  });
  server_.route("/metrics", [this](const Request&) {
    return Response{200, rcache::metrics_text(cache_), "text/plain; version=0.0.4"};
  });
  server_.route("/cache", [this](const Request& r) { return purge(r); });
}

// Readiness: whether to send this replica traffic. Without Redis it still answers (near cache,
// API with loads capped): ready, "degraded"; taking every replica out for a cache outage would
// turn it into a full one. Only a service that cannot serve (shutting down) is not ready.
Response CacheService::ready() {
  if (shutting_down_.load()) return {503, R"({"status":"shutting_down"})"};
  if (cache_.stats().up) return {200, R"({"status":"ok","cache":"up"})"};
  return {200, R"({"status":"degraded","cache":"unavailable",)"
               R"("detail":"redis unreachable: answering from the near cache and the API"})"};
}

Response CacheService::record(const Request& r) {
  if (r.method != "GET") return {405, R"({"error":"method not allowed"})"};
  const std::string id = r.path.substr(std::strlen("/records/"));
  if (id.empty() || id.size() > 64) return {400, R"({"error":"bad id"})"};
  rcache::LoadOptions o;
  o.ttl = 5min;
  o.negative_cache = true;
  o.negative_ttl = 30s;
  auto loaded =
      cache_.get_or_load("rec:" + id, o, [&]() -> rcache::Result<std::optional<std::string>> {
        const auto up = http_call(upstream_, "GET", "/v0/appDemo/Customers/" + id, 3000);
        if (up.status == 200) return std::optional<std::string>(up.body);
        if (up.status == 404) return std::optional<std::string>{};
        if (up.status == 429) return rcache::Error{rcache::Errc::rejected, "upstream 429"};
        return rcache::Error{rcache::Errc::connection, "upstream unavailable"};
      });
  auto answer = [](int status, std::string body, Outcome o) {
    Response resp{status, std::move(body)};
    resp.headers.emplace_back("X-Cache", cache_header(o));
    return resp;
  };
  if (!loaded) {
    if (loaded.error().message == "upstream 429") {
      return answer(429, R"({"error":"upstream rate limit"})", Outcome::api_429);
    }
    if (loaded.error().code == rcache::Errc::rejected) {
      // The outage load cap: the service sheds the load itself, as a rate limit, rather than
      // let the API answer 429 (or lock the base out).
      return answer(429, R"({"error":"cache unavailable; upstream load cap reached, retry later"})",
                    Outcome::shed);
    }
    return answer(502, R"({"error":"upstream failed"})", Outcome::error);
  }
  Outcome from = Outcome::api;
  switch (loaded->source) {
    case rcache::Loaded::Source::cache:
      from = Outcome::redis;
      break;
    case rcache::Loaded::Source::near_cache:
      from = Outcome::near;
      break;
    case rcache::Loaded::Source::near_cache_stale:
      from = Outcome::near_stale;
      break;
    case rcache::Loaded::Source::negative_cache:
      from = Outcome::negative;
      break;
    case rcache::Loaded::Source::stale:
      from = Outcome::stale;
      break;
    case rcache::Loaded::Source::loader:
    case rcache::Loaded::Source::refreshed:
      break;
  }
  if (!loaded->value) return answer(404, R"({"error":"not found"})", from);
  return answer(200, std::move(*loaded->value), from);
}

Response CacheService::purge(const Request& r) {
  if (r.method != "DELETE") return {405, R"({"error":"method not allowed"})"};
  const std::string pattern = query_param(r.query, "pattern");
  if (query_param(r.query, "confirm") != "true") {
    return {400, R"({"error":"refusing a pattern delete without confirm=true"})"};
  }
  if (pattern.empty()) return {400, R"({"error":"pattern is required"})"};
  auto n = cache_.delete_pattern(pattern);
  if (!n) return {503, R"({"error":"delete failed"})"};
  return {200, "{\"deleted\":" + std::to_string(*n) + "}"};
}

}  // namespace demo
