// The main job: rcache in front of a slow, rate-limited API, as a real HTTP service under load.
//
//   upstream  a stand-in for Airtable: GET /v0/{base}/{table}/{id} -> JSON record after
//             150 ms +- 30 ms, at most 5 requests per second, 429 beyond
//   service   GET /records/{id} through get_or_load; GET /cache/stats, /cache/health, /metrics;
//             DELETE /cache?pattern=...&confirm=true
//   driver    concurrent clients requesting Zipf-distributed ids; phase 1 steady, phase 2 kills
//             the redis-server mid-load (kill -9) and restarts it; prints progress and tables
//
// Redis: REDIS_URL if set (then phase 2 cannot kill it and is skipped); otherwise a private
// redis-server on a free loopback port, stopped at exit. If none can run, everything still
// works degraded (uncached) and says so.
//
//   demo_service [--short] [--clients N] [--serve SECONDS] [--dump DIR]
//   --dump DIR: after the run, write the service's /metrics, /cache/stats, /cache/health and the
//               status of an unconfirmed DELETE /cache to DIR (the test suite checks them)
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <rcache/prometheus.hpp>
#include <rcache/rcache.hpp>
#include <set>
#include <thread>
#include <vector>

#include "http.hpp"
#include "loopback.hpp"
#include "redis_process.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// ---- the slow upstream ------------------------------------------------------------------------

class SlowApi {
 public:
  SlowApi(int port, std::chrono::milliseconds latency, int per_second)
      : server_(port, 64), latency_(latency), per_second_(per_second) {
    server_.route("/v0/", [this](const demo::Request& r) { return handle(r); });
  }
  bool ok() const { return server_.error().empty(); }
  long served() const { return served_.load(); }
  long rejected() const { return rejected_.load(); }

 private:
  demo::Response handle(const demo::Request& r) {
    // Airtable's limit: per_second requests in any 1 s window, else 429.
    {
      std::lock_guard l(mu_);
      const auto now = Clock::now();
      while (!window_.empty() && now - window_.front() >= 1s) window_.pop_front();
      if (static_cast<int>(window_.size()) >= per_second_) {
        rejected_.fetch_add(1);
        return {429, R"({"errors":[{"error":"RATE_LIMIT_REACHED"}]})"};
      }
      window_.push_back(now);
    }
    thread_local std::mt19937 rng(std::random_device{}());
    const auto jitter = std::chrono::milliseconds(static_cast<int>(rng() % 61) - 30);
    std::this_thread::sleep_for(latency_ + jitter);
    const std::string id = r.path.substr(r.path.rfind('/') + 1);
    if (id.rfind("rec", 0) != 0) return {404, R"({"error":"NOT_FOUND"})"};
    served_.fetch_add(1);
    std::string body = R"({"id":")" + id + R"(","createdTime":"2026-11-23T10:00:00.000Z",)" +
                       R"("fields":{"Name":"Customer )" + id + R"(","Status":"Active",)" +
                       R"("Seats":42,"Notes":"renewal discussed; wants annual billing",)" +
                       R"("Tags":["enterprise","emea"]}})";
    return {200, std::move(body)};
  }

  demo::HttpServer server_;
  std::chrono::milliseconds latency_;
  int per_second_;
  std::mutex mu_;
  std::deque<Clock::time_point> window_;
  std::atomic<long> served_{0}, rejected_{0};
};

// ---- the service in front of it ---------------------------------------------------------------

class CacheService {
 public:
  CacheService(int port, rcache::Client& cache, int upstream_port)
      : server_(port, 32), cache_(cache), upstream_(upstream_port) {
    server_.route("/records/", [this](const demo::Request& r) { return record(r); });
    server_.route("/cache/stats", [this](const demo::Request&) {
      return demo::Response{200, cache_.stats().to_json()};
    });
    server_.route("/cache/health", [this](const demo::Request&) {
      const rcache::Health h = cache_.health();
      return demo::Response{h.status == rcache::Health::Status::disabled ? 503 : 200, h.to_json()};
    });
    server_.route("/metrics", [this](const demo::Request&) {
      return demo::Response{200, rcache::metrics_text(cache_), "text/plain; version=0.0.4"};
    });
    server_.route("/cache", [this](const demo::Request& r) { return purge(r); });
  }
  bool ok() const { return server_.error().empty(); }
  // Answers from the near cache's copy while Redis was unavailable (past their freshness, or
  // from before the outage), and loads refused by the outage cap.
  long stale_answers() const { return stale_.load(); }
  long capped() const { return capped_.load(); }

 private:
  demo::Response record(const demo::Request& r) {
    if (r.method != "GET") return {405, R"({"error":"method not allowed"})"};
    const std::string id = r.path.substr(std::strlen("/records/"));
    if (id.empty() || id.size() > 64) return {400, R"({"error":"bad id"})"};
    rcache::LoadOptions o;
    o.ttl = 5min;
    o.negative_cache = true;
    o.negative_ttl = 30s;
    auto loaded =
        cache_.get_or_load("rec:" + id, o, [&]() -> rcache::Result<std::optional<std::string>> {
          const auto up = demo::http_call(upstream_, "GET", "/v0/appDemo/Customers/" + id, 3000);
          if (up.status == 200) return std::optional<std::string>(up.body);
          if (up.status == 404) return std::optional<std::string>{};
          if (up.status == 429) return rcache::Error{rcache::Errc::rejected, "upstream 429"};
          return rcache::Error{rcache::Errc::connection, "upstream unavailable"};
        });
    if (!loaded) {
      if (loaded.error().message == "upstream 429")
        return {429, R"({"error":"upstream rate limit"})"};
      if (loaded.error().code == rcache::Errc::rejected) {
        // The outage load cap: the service sheds the load itself, as a rate limit, rather than
        // let the API answer 429 (or lock the base out).
        capped_.fetch_add(1);
        return {429, R"({"error":"cache unavailable; upstream load cap reached, retry later"})"};
      }
      return {502, R"({"error":"upstream failed"})"};
    }
    if (loaded->source == rcache::Loaded::Source::near_cache_stale) stale_.fetch_add(1);
    if (!loaded->value) return {404, R"({"error":"not found"})"};
    return {200, std::move(*loaded->value)};
  }

  demo::Response purge(const demo::Request& r) {
    if (r.method != "DELETE") return {405, R"({"error":"method not allowed"})"};
    const std::string pattern = demo::query_param(r.query, "pattern");
    if (demo::query_param(r.query, "confirm") != "true") {
      return {400, R"({"error":"refusing a pattern delete without confirm=true"})"};
    }
    if (pattern.empty()) return {400, R"({"error":"pattern is required"})"};
    auto n = cache_.delete_pattern(pattern);
    if (!n) return {503, R"({"error":"delete failed"})"};
    return {200, "{\"deleted\":" + std::to_string(*n) + "}"};
  }

  demo::HttpServer server_;
  rcache::Client& cache_;
  int upstream_;
  std::atomic<long> stale_{0}, capped_{0};
};

// ---- the load driver --------------------------------------------------------------------------

struct Zipf {
  explicit Zipf(int n, double s) {
    double sum = 0;
    for (int i = 1; i <= n; ++i) cdf.push_back(sum += 1.0 / std::pow(i, s));
    for (auto& c : cdf) c /= sum;
  }
  int operator()(std::mt19937& rng) const {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<int>(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
  }
  std::vector<double> cdf;
};

struct PhaseResult {
  std::string name;
  long requests = 0, ok = 0, too_many = 0, errors = 0;
  double hit_rate = 0;
  double p50 = 0, p99 = 0;
  long upstream_calls = 0;
  double seconds = 0;
  std::vector<long> ok_per_second;  // answered (200/404) in each second of the phase
  // Phase 2: the outage (from the kill to the restart).
  double outage_seconds = 0;
  long outage_ok = 0, outage_upstream = 0, outage_distinct_ids = 0;
  long outage_stale = 0, outage_capped = 0;
};

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

struct Options {
  int clients = 8;
  double phase1 = 10, phase2 = 15, kill_at = 3, restart_at = 8;
  double serve = 0;
  std::string dump;
  bool near_cache = true;  // --no-near-cache: the same run without it, to compare
};

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--short") == 0) {
      opt.phase1 = 4;
      opt.phase2 = 8;
      opt.kill_at = 2;
      opt.restart_at = 4;
    } else if (std::strcmp(argv[i], "--clients") == 0 && i + 1 < argc) {
      opt.clients = std::max(1, std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--serve") == 0 && i + 1 < argc) {
      opt.serve = std::atof(argv[++i]);
    } else if (std::strcmp(argv[i], "--dump") == 0 && i + 1 < argc) {
      opt.dump = argv[++i];
    } else if (std::strcmp(argv[i], "--no-near-cache") == 0) {
      opt.near_cache = false;
    }
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  // Redis: given, private, or none.
  std::unique_ptr<demo::RedisProcess> redis;
  const char* given = std::getenv("REDIS_URL");
  std::string url;
  if (given != nullptr && *given != '\0') {
    url = given;
    std::printf("redis: using REDIS_URL (phase 2 will not kill it)\n");
  } else if ((redis = demo::RedisProcess::start()) != nullptr) {
    url = redis->url();
    std::printf("redis: private redis-server pid %d on 127.0.0.1:%d\n", redis->pid(),
                redis->port());
  } else {
    url = "redis://127.0.0.1:" + std::to_string(demo::free_port());
    std::printf("redis: NO redis-server could be started: running DEGRADED (uncached)\n");
  }
  // REDIS_URL (with REDIS_PASSWORD / REDIS_DB) when given, else the private or absent server.
  auto cfg = given != nullptr && *given != '\0' ? rcache::Config::from_env()
                                                : rcache::Config::from_url(url);
  if (!cfg) {
    std::fprintf(stderr, "config: %s\n", cfg.error().to_string().c_str());
    return 2;
  }
  cfg->key_prefix = "demo:";
  cfg->breaker.open_base = 1s;
  cfg->breaker.open_max = 2s;
  cfg->reconnect_backoff_max = 300ms;
  cfg->probe_min = 300ms;
  cfg->probe_max = 1s;
  // The near cache: hot records served in-process, kept coherent by Redis, and served while
  // Redis is down (up to max_stale); loads during an outage stay under the API's 5/s.
  cfg->near_cache_bytes = opt.near_cache ? 16u << 20 : 0;
  cfg->max_stale = 5min;
  cfg->outage_loads_per_second = 4;
  cfg->log_level = rcache::LogLevel::warning;
  cfg->log_sink = [](rcache::LogLevel, std::string_view m) {
    std::printf("  [rcache] %.*s\n", static_cast<int>(m.size()), m.data());
  };
  auto client = rcache::Client::create(*cfg);
  if (!client) {
    std::fprintf(stderr, "client: %s\n", client.error().to_string().c_str());
    return 2;
  }
  rcache::Client& cache = **client;
  (void)cache.delete_pattern("*");

  const int upstream_port = demo::free_port();
  const int service_port = demo::free_port();
  SlowApi upstream(upstream_port, 150ms, 5);
  CacheService service(service_port, cache, upstream_port);
  if (!upstream.ok() || !service.ok()) {
    std::fprintf(stderr, "cannot start the HTTP servers\n");
    return 2;
  }
  std::printf("upstream (slow API stand-in): http://127.0.0.1:%d/v0/appDemo/Customers/{id}\n",
              upstream_port);
  std::printf("service: http://127.0.0.1:%d/records/{id}  /cache/stats  /cache/health  /metrics\n",
              service_port);
  if (opt.serve > 0) {
    std::printf("serving for %.0f s\n", opt.serve);
    std::this_thread::sleep_for(std::chrono::duration<double>(opt.serve));
    return 0;
  }

  // Direct to the upstream, within its rate limit: what every request costs without a cache.
  std::vector<double> direct;
  for (int i = 0; i < 6; ++i) {
    const auto t0 = Clock::now();
    demo::http_call(upstream_port, "GET", "/v0/appDemo/Customers/recD" + std::to_string(i), 3000);
    direct.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    std::this_thread::sleep_for(210ms);
  }
  std::this_thread::sleep_for(1s);  // let the upstream's window empty

  const Zipf zipf(300, 1.1);
  auto run_phase = [&](const std::string& name, double seconds, double kill_at, double restart_at) {
    PhaseResult res;
    res.name = name;
    std::atomic<bool> stop{false};
    std::atomic<long> requests{0}, ok{0}, too_many{0}, errors{0};
    std::mutex lat_mu;
    std::vector<double> lat;
    std::atomic<bool> in_outage{false};
    std::mutex ids_mu;
    std::set<int> outage_ids;
    const auto s0 = cache.stats();
    const long up0 = upstream.served();
    std::vector<std::thread> ts;
    for (int c = 0; c < opt.clients; ++c) {
      ts.emplace_back([&, c] {
        std::mt19937 rng(static_cast<unsigned>(c * 7919 + static_cast<int>(name.size())));
        while (!stop.load()) {
          const int id = zipf(rng);
          if (in_outage.load()) {
            std::lock_guard l(ids_mu);
            outage_ids.insert(id);
          }
          const std::string path = "/records/rec" + std::to_string(id);
          const auto t0 = Clock::now();
          const auto r = demo::http_call(service_port, "GET", path, 5000);
          const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
          requests.fetch_add(1);
          if (r.status == 200 || r.status == 404) {
            ok.fetch_add(1);
          } else if (r.status == 429) {
            too_many.fetch_add(1);
          } else {
            errors.fetch_add(1);
          }
          {
            std::lock_guard l(lat_mu);
            lat.push_back(ms);
          }
          // A well-behaved client: a short think time, and it backs off when rate limited.
          std::this_thread::sleep_for(r.status == 429 ? 200ms : 2ms);
        }
      });
    }
    const auto start = Clock::now();
    bool killed = false, restarted = false, recovered = false;
    double restarted_at = 0;
    std::uint64_t hits_seen = s0.hits;
    long ok_seen = 0, ok_at_kill = 0, up_at_kill = 0, stale_at_kill = 0, capped_at_kill = 0;
    for (int sec = 1; sec <= static_cast<int>(seconds); ++sec) {
      std::this_thread::sleep_until(start + std::chrono::seconds(sec));
      const long ok_now = ok.load();
      res.ok_per_second.push_back(ok_now - ok_seen);
      ok_seen = ok_now;
      if (redis && kill_at > 0 && !killed && sec >= kill_at) {
        std::printf("  >>> kill -9 redis-server pid %d\n", redis->pid());
        ok_at_kill = ok.load();
        up_at_kill = upstream.served();
        stale_at_kill = service.stale_answers();
        capped_at_kill = service.capped();
        in_outage = true;
        redis->kill9();
        killed = true;
      }
      if (redis && killed && !restarted && sec >= restart_at) {
        in_outage = false;
        res.outage_seconds = sec - kill_at;
        res.outage_ok = ok.load() - ok_at_kill;
        res.outage_upstream = upstream.served() - up_at_kill;
        res.outage_stale = service.stale_answers() - stale_at_kill;
        res.outage_capped = service.capped() - capped_at_kill;
        {
          std::lock_guard l(ids_mu);
          res.outage_distinct_ids = static_cast<long>(outage_ids.size());
        }
        restarted = redis->restart();
        restarted_at = sec;
        std::printf("  >>> redis-server restarted on the same port (pid %d)\n", redis->pid());
      }
      const auto s = cache.stats();
      const bool hits_now = s.hits > hits_seen;
      hits_seen = s.hits;
      if (restarted && !recovered && hits_now) {
        recovered = true;
        std::printf("  >>> recovered: cache hits resumed %.0f s after redis restarted\n",
                    sec - restarted_at);
      }
      std::printf("  [%s] t=%2ds requests=%-6ld ok=%-6ld 429=%-5ld errors=%-3ld breaker=%s\n",
                  name.c_str(), sec, requests.load(), ok.load(), too_many.load(), errors.load(),
                  std::string(rcache::to_string(s.breaker)).c_str());
    }
    stop = true;
    for (auto& t : ts) t.join();
    const auto s1 = cache.stats();
    res.seconds = seconds;
    res.requests = requests.load();
    res.ok = ok.load();
    res.too_many = too_many.load();
    res.errors = errors.load();
    const auto hits = s1.hits - s0.hits, misses = s1.misses - s0.misses;
    res.hit_rate =
        hits + misses > 0 ? static_cast<double>(hits) / static_cast<double>(hits + misses) : 0;
    res.p50 = pct(lat, 0.5);
    res.p99 = pct(lat, 0.99);
    res.upstream_calls = upstream.served() - up0;
    if (killed && restarted && !recovered) std::printf("  >>> NOT recovered within the phase\n");
    return res;
  };

  std::printf("\nphase 1: %d clients, Zipf(1.1) over 300 ids, cold cache, %.0f s\n", opt.clients,
              opt.phase1);
  const PhaseResult p1 = run_phase("steady", opt.phase1, 0, 0);
  if (redis) {
    std::printf("\nphase 2: same load, redis killed at t=%.0fs and restarted at t=%.0fs\n",
                opt.kill_at, opt.restart_at);
  } else {
    std::printf("\nphase 2: same load (no private redis-server to kill)\n");
  }
  const PhaseResult p2 = run_phase("redis-killed", opt.phase2, opt.kill_at, opt.restart_at);

  // saved: answered requests that needed no upstream call.
  std::printf("\n%-14s %9s %9s %9s %9s %8s %7s %9s %9s\n", "phase", "requests", "hit rate",
              "p50 ms", "p99 ms", "errors", "429s", "upstream", "saved");
  for (const auto* p : {&p1, &p2}) {
    std::printf("%-14s %9ld %8.1f%% %9.2f %9.2f %8ld %7ld %9ld %9ld\n", p->name.c_str(),
                p->requests, 100 * p->hit_rate, p->p50, p->p99, p->errors, p->too_many,
                p->upstream_calls, std::max(0L, p->ok - p->upstream_calls));
  }
  std::printf("%-14s %9zu %9s %9.2f %9.2f\n", "direct", direct.size(), "-", pct(direct, 0.5),
              pct(direct, 0.99));
  for (const auto* p : {&p1, &p2}) {
    const double allowed = 5.0 * p->seconds;
    const double avoided = std::max(
        0.0, static_cast<double>(p->requests) - allowed - static_cast<double>(p->too_many));
    std::printf(
        "%s: %ld requests, %ld answered, with %ld upstream calls; %.0f 429s avoided "
        "(direct, only ~%.0f of them could have passed the 5/s limit)\n",
        p->name.c_str(), p->requests, p->ok, p->upstream_calls, avoided, allowed);
  }
  // The outage against the warm steady state (the second half of phase 1).
  double warm = 0;
  if (!p1.ok_per_second.empty()) {
    const std::size_t from = p1.ok_per_second.size() / 2;
    long sum = 0;
    for (std::size_t i = from; i < p1.ok_per_second.size(); ++i) sum += p1.ok_per_second[i];
    warm = static_cast<double>(sum) / static_cast<double>(p1.ok_per_second.size() - from);
  }
  double outage_rate = 0;
  if (p2.outage_seconds > 0) {
    outage_rate = static_cast<double>(p2.outage_ok) / p2.outage_seconds;
    std::printf(
        "outage (redis down %.0f s): %.1f answered/s vs %.1f/s warm (%.0f %%); %ld upstream "
        "calls for %ld distinct ids requested; %ld stale answers from the near cache, %ld loads "
        "refused by the outage cap\n",
        p2.outage_seconds, outage_rate, warm, warm > 0 ? 100 * outage_rate / warm : 0,
        p2.outage_upstream, p2.outage_distinct_ids, p2.outage_stale, p2.outage_capped);
  }
  std::printf(
      "RESULT phase1_hit_rate=%.3f phase1_errors=%ld phase2_errors=%ld phase2_429=%ld "
      "outage_answered_per_s=%.1f warm_answered_per_s=%.1f outage_upstream=%ld "
      "outage_distinct_ids=%ld outage_stale=%ld\n",
      p1.hit_rate, p1.errors, p2.errors, p2.too_many, outage_rate, warm, p2.outage_upstream,
      p2.outage_distinct_ids, p2.outage_stale);
  if (!opt.dump.empty()) {
    auto save = [&](const std::string& name, const std::string& text) {
      if (FILE* f = std::fopen((opt.dump + "/" + name).c_str(), "w")) {
        std::fwrite(text.data(), 1, text.size(), f);
        std::fclose(f);
      }
    };
    save("metrics.txt", demo::http_call(service_port, "GET", "/metrics", 3000).body);
    save("stats.json", demo::http_call(service_port, "GET", "/cache/stats", 3000).body);
    save("health.json", demo::http_call(service_port, "GET", "/cache/health", 3000).body);
    save("purge_unconfirmed.txt",
         std::to_string(
             demo::http_call(service_port, "DELETE", "/cache?pattern=rec:*", 3000).status));
    save("purge_confirmed.json",
         demo::http_call(service_port, "DELETE", "/cache?pattern=rec:*&confirm=true", 3000).body);
  }
  return 0;
}
