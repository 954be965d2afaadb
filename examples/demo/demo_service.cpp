// The main job: rcache in front of a slow, rate-limited API, as a real HTTP service under load.
//
//   upstream  a stand-in for Airtable: GET /v0/{base}/{table}/{id} -> JSON record after
//             150 ms +- 30 ms, at most 5 requests per second, 429 beyond
//   service   GET /records/{id} through get_or_load (its X-Cache header says where the answer
//             came from); GET /healthz (liveness), /readyz (readiness), /cache/stats,
//             /cache/health, /metrics; DELETE /cache?pattern=...&confirm=true
//   driver    concurrent clients requesting Zipf-distributed ids, without a pause: a warm-up
//             (not counted), then the measured phases: steady, redis down (kill -9), after
//             restart. Prints a line per second, a table per phase, and writes the run as an
//             SVG timeline.
//
// Redis: REDIS_URL if set (then it cannot be killed: no outage phases); otherwise a private
// redis-server on a free loopback port, stopped at exit. If none can run, everything still
// works degraded (uncached) and says so.
//
//   demo_service [--short] [--clients N] [--serve SECONDS] [--svg PATH] [--dump DIR]
//                [--no-near-cache]
//   --svg PATH: where to write the timeline (default ./demo-timeline.svg, or
//               /tmp/rcache-demo-timeline.svg when the current directory is not writable)
//   --serve SECONDS: only run the upstream and the service, until SECONDS have passed or
//               SIGINT/SIGTERM; then /readyz answers 503 for a second before the servers stop
//   --dump DIR: after the run, write the service's /metrics, /cache/stats, /cache/health, what
//               its health endpoints answered during the outage and at shutdown, and the status
//               of an unconfirmed DELETE /cache to DIR (the test suite checks them)
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <initializer_list>
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
#include "timeline.hpp"
#include "timeline_svg.hpp"

namespace {

using demo::Clock;
using namespace std::chrono_literals;

// ---- the slow upstream ------------------------------------------------------------------------

class SlowApi {
 public:
  // on_call(refused) is called for every call that reaches it, from its worker threads.
  SlowApi(int port, std::chrono::milliseconds latency, int per_second,
          std::function<void(bool refused)> on_call)
      : server_(port, 64),
        latency_(latency),
        per_second_(per_second),
        on_call_(std::move(on_call)) {
    server_.route("/v0/", [this](const demo::Request& r) { return handle(r); });
  }
  bool ok() const { return server_.error().empty(); }

 private:
  demo::Response handle(const demo::Request& r) {
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

  demo::HttpServer server_;
  std::chrono::milliseconds latency_;
  int per_second_;
  std::function<void(bool)> on_call_;
  std::mutex mu_;
  std::deque<Clock::time_point> window_;
};

// ---- the service in front of it ---------------------------------------------------------------

class CacheService {
 public:
  CacheService(int port, rcache::Client& cache, int upstream_port)
      : server_(port, 32), cache_(cache), upstream_(upstream_port) {
    server_.route("/records/", [this](const demo::Request& r) { return record(r); });
    // Liveness: the process serves HTTP. Nothing else: restarting it would not bring Redis back.
    server_.route("/healthz", [](const demo::Request&) {
      return demo::Response{200, R"({"status":"ok"})"};
    });
    server_.route("/readyz", [this](const demo::Request&) { return ready(); });
    server_.route("/cache/stats", [this](const demo::Request&) {
      return demo::Response{200, cache_.stats().to_json()};
    });
    // The cache's own health, for people and dashboards: always 200 (the service works without
    // its cache); "ok" or "degraded" with the reason.
    server_.route("/cache/health", [this](const demo::Request&) {
      rcache::Health h = cache_.health();
      if (h.status == rcache::Health::Status::disabled) {
        h.status = rcache::Health::Status::degraded;
        h.reason += "; the service answers without the cache";
      }
      return demo::Response{200, h.to_json()};
    });
    server_.route("/metrics", [this](const demo::Request&) {
      return demo::Response{200, rcache::metrics_text(cache_), "text/plain; version=0.0.4"};
    });
    server_.route("/cache", [this](const demo::Request& r) { return purge(r); });
  }
  bool ok() const { return server_.error().empty(); }
  // From now on /readyz answers 503: the load balancer stops sending traffic before the
  // servers stop.
  void begin_shutdown() { shutting_down_ = true; }

 private:
  // Readiness: whether to send this replica traffic. Without Redis it still answers (near cache,
  // API with loads capped): ready, "degraded"; taking every replica out for a cache outage would
  // turn it into a full one. Only a service that cannot serve (shutting down) is not ready.
  demo::Response ready() {
    if (shutting_down_.load()) return {503, R"({"status":"shutting_down"})"};
    if (cache_.stats().up) return {200, R"({"status":"ok","cache":"up"})"};
    return {200, R"({"status":"degraded","cache":"unavailable",)"
                 R"("detail":"redis unreachable: answering from the near cache and the API"})"};
  }

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
    using demo::Outcome;
    auto answer = [](int status, std::string body, Outcome o) {
      demo::Response resp{status, std::move(body)};
      resp.headers.emplace_back("X-Cache", demo::cache_header(o));
      return resp;
    };
    if (!loaded) {
      if (loaded.error().message == "upstream 429") {
        return answer(429, R"({"error":"upstream rate limit"})", Outcome::api_429);
      }
      if (loaded.error().code == rcache::Errc::rejected) {
        // The outage load cap: the service sheds the load itself, as a rate limit, rather than
        // let the API answer 429 (or lock the base out).
        return answer(429,
                      R"({"error":"cache unavailable; upstream load cap reached, retry later"})",
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
  std::atomic<bool> shutting_down_{false};
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

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

struct Options {
  int clients = 8;
  // Seconds of each phase; the outage phases only with a private redis-server.
  int warmup = 6, steady = 6, down = 5, after = 8;
  double serve = 0;
  std::string dump;
  std::string svg;
  bool near_cache = true;  // --no-near-cache: the same run without it, to compare
};

// What the health endpoints answered, one line each: "<path> <status> <body>".
std::string probe(int port, std::initializer_list<const char*> paths) {
  std::string out;
  for (const char* path : paths) {
    const auto r = demo::http_call(port, "GET", path, 3000);
    out += std::string(path) + " " + std::to_string(r.status) + " " + r.body + "\n";
  }
  return out;
}

bool save(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  return std::fclose(f) == 0 && ok;
}

// The default place for the timeline: the current directory when it is writable, else /tmp.
std::string default_svg_path() {
  if (::access(".", W_OK) == 0) return "demo-timeline.svg";
  return (std::filesystem::temp_directory_path() / "rcache-demo-timeline.svg").string();
}

std::string absolute(const std::string& path) {
  std::error_code ec;
  const auto p = std::filesystem::absolute(path, ec);
  return ec ? path : p.string();
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--short") == 0) {
      opt.warmup = 2;
      opt.steady = 3;
      opt.down = 3;
      opt.after = 4;
    } else if (std::strcmp(argv[i], "--clients") == 0 && i + 1 < argc) {
      opt.clients = std::max(1, std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--serve") == 0 && i + 1 < argc) {
      opt.serve = std::atof(argv[++i]);
    } else if (std::strcmp(argv[i], "--dump") == 0 && i + 1 < argc) {
      opt.dump = argv[++i];
    } else if (std::strcmp(argv[i], "--svg") == 0 && i + 1 < argc) {
      opt.svg = argv[++i];
    } else if (std::strcmp(argv[i], "--no-near-cache") == 0) {
      opt.near_cache = false;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--short] [--clients N] [--serve SECONDS] [--svg PATH] "
                   "[--dump DIR] [--no-near-cache]\n",
                   argv[0]);
      return 2;
    }
  }
  if (opt.svg.empty()) opt.svg = default_svg_path();
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  // Redis: given, private, or none.
  std::unique_ptr<demo::RedisProcess> redis;
  const char* given = std::getenv("REDIS_URL");
  std::string url;
  if (given != nullptr && *given != '\0') {
    url = given;
    std::printf("redis: using REDIS_URL (it will not be killed: no outage phases)\n");
  } else if ((redis = demo::RedisProcess::start()) != nullptr) {
    url = redis->url();
    std::printf("redis: private redis-server pid %d on 127.0.0.1:%d\n", redis->pid(),
                redis->port());
  } else {
    url = "redis://127.0.0.1:" + std::to_string(demo::free_port());
    std::printf("redis: NO redis-server could be started: running DEGRADED (uncached)\n");
  }
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (opt.serve > 0) {
    // Serving: SIGINT/SIGTERM start a graceful shutdown (main waits for them below). Blocked
    // before any thread starts, so every thread inherits it; redis-server was spawned before.
    ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  }

  // The phases, as whole seconds of one continuous load.
  std::vector<demo::Phase> phases;
  phases.push_back({"warm-up", 0, opt.warmup, false});
  int kill_at = -1, restart_at = -1;
  if (redis) {
    kill_at = opt.warmup + opt.steady;
    restart_at = kill_at + opt.down;
    phases.push_back({"steady", opt.warmup, kill_at, true});
    phases.push_back({"redis down", kill_at, restart_at, true});
    phases.push_back({"after restart", restart_at, restart_at + opt.after, true});
  } else {
    phases.push_back({"steady", opt.warmup, opt.warmup + opt.steady + opt.down + opt.after, true});
  }
  const int total = phases.back().end;
  demo::Timeline timeline(total);

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
  cfg->on_breaker_change = [&timeline](rcache::BreakerState, rcache::BreakerState to) {
    timeline.breaker(to);
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
  SlowApi upstream(upstream_port, 150ms, 5,
                   [&timeline](bool refused) { timeline.api_call(refused); });
  CacheService service(service_port, cache, upstream_port);
  if (!upstream.ok() || !service.ok()) {
    std::fprintf(stderr, "cannot start the HTTP servers\n");
    return 2;
  }
  std::printf("upstream (slow API stand-in): http://127.0.0.1:%d/v0/appDemo/Customers/{id}\n",
              upstream_port);
  std::printf(
      "service: http://127.0.0.1:%d/records/{id}  /healthz  /readyz  /cache/stats  "
      "/cache/health  /metrics\n",
      service_port);
  if (opt.serve > 0) {
    std::printf("serving for %.0f s (or until SIGINT/SIGTERM)\n", opt.serve);
    const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(opt.serve));
    int sig = 0;
    while (sig <= 0 && Clock::now() < until) {
      const auto left = std::min<Clock::duration>(until - Clock::now(), Clock::duration(1s));
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      timespec wait{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
      sig = ::sigtimedwait(&stop_signals, nullptr, &wait);
    }
    std::printf("shutting down%s: /readyz answers 503 for 1 s, then the servers stop\n",
                sig > 0 ? " (signal)" : "");
    service.begin_shutdown();
    std::this_thread::sleep_for(1s);
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

  // The clients: one continuous load through every phase; each request is counted in the
  // second (and so the phase) it completed in.
  const Zipf zipf(300, 1.1);
  std::atomic<bool> stop{false}, in_outage{false};
  std::mutex ids_mu;
  std::set<int> outage_ids;  // distinct ids requested while Redis was down
  timeline.start();
  if (!redis && !(given != nullptr && *given != '\0')) timeline.redis_down();  // no redis at all
  std::vector<std::thread> clients;
  for (int c = 0; c < opt.clients; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937 rng(static_cast<unsigned>(c * 7919 + 17));
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
        timeline.request(demo::classify(r.status, r.header("X-Cache")), ms);
        // A well-behaved client: a short think time, and it backs off when rate limited.
        std::this_thread::sleep_for(r.status == 429 ? 200ms : 2ms);
      }
    });
  }

  auto announce = [&](const demo::Phase& p) {
    const int len = p.end - p.begin;
    if (p.name == "warm-up") {
      std::printf(
          "\nwarming up (%d s, not counted in the table): %d clients, Zipf(1.1) over 300 ids, "
          "cold cache; the API's 5/s limit caps how fast the cache fills\n",
          len, opt.clients);
    } else if (p.name == "steady") {
      std::printf("\nsteady (%d s): the same load, redis up\n", len);
    } else if (p.name == "redis down") {
      std::printf("\nredis down (%d s): redis-server killed with kill -9, restarted after %d s\n",
                  len, len);
    } else {
      std::printf(
          "\nafter restart (%d s): redis-server back on the same port, empty (no persistence): "
          "the cache refills at the API's 5/s\n",
          len);
    }
  };
  announce(phases.front());
  std::string outage_probes;
  bool restarted = false, recovered = false;
  std::size_t phase = 0;
  for (int sec = 1; sec <= total; ++sec) {
    // The second just ended (requests are counted as they complete, so it is complete now).
    std::this_thread::sleep_until(timeline.t0() + std::chrono::seconds(sec));
    const auto all = timeline.seconds();
    const demo::Second& s = all[static_cast<std::size_t>(sec - 1)];
    char no_api[16] = "-";
    if (s.answered > 0) {
      std::snprintf(no_api, sizeof no_api, "%.0f%%",
                    100.0 * static_cast<double>(s.no_api) / static_cast<double>(s.answered));
    }
    std::printf(
        "  t=%2d-%2ds  answered %3ld  429 %3ld  errors %ld  API calls %2ld  from cache %4s  "
        "stale %3ld  breaker %s%s\n",
        sec - 1, sec, s.answered, s.rate_limited, s.errors, s.api_calls, no_api, s.stale,
        demo::breaker_name(s.breaker), s.redis_down > 0.5 ? "  (redis down)" : "");
    if (restarted && !recovered) {
      const double resumed = timeline.redis_answers_resumed_after();
      if (resumed >= 0) {
        recovered = true;
        std::printf("  >>> recovered: cache hits resumed %.1f s after redis restarted\n", resumed);
      }
    }
    if (sec == total) break;
    if (phase + 1 < phases.size() && sec == phases[phase + 1].begin) announce(phases[++phase]);
    if (redis && sec == kill_at) {
      std::printf("  >>> kill -9 redis-server pid %d\n", redis->pid());
      in_outage = true;
      timeline.redis_down();
      redis->kill9();
    }
    if (redis && sec == restart_at) {
      in_outage = false;
      restarted = redis->restart();
      if (restarted) {
        timeline.redis_up();
        std::printf("  >>> redis-server restarted on the same port (pid %d)\n", redis->pid());
      } else {
        std::printf("  >>> redis-server did NOT restart\n");
      }
    }
    if (redis && sec == kill_at + opt.down / 2) {
      outage_probes = probe(service_port, {"/healthz", "/readyz", "/cache/health"});
      std::printf("  >>> redis is down, the service stays live and ready:");
      for (std::size_t at = 0, end; (end = outage_probes.find('\n', at)) != std::string::npos;
           at = end + 1) {
        const std::string line = outage_probes.substr(at, end - at);
        const auto st = line.find("\"status\":\"");
        const auto sp = line.find(' ', line.find(' ') + 1);
        std::printf("%s%s %s", at == 0 ? " " : ", ", line.substr(0, sp).c_str(),
                    st == std::string::npos
                        ? ""
                        : line.substr(st + 10, line.find('"', st + 10) - (st + 10)).c_str());
      }
      std::printf("\n");
    }
  }
  stop = true;
  for (auto& t : clients) t.join();
  if (restarted && !recovered) std::printf("  >>> NOT recovered within the run\n");

  // ---- the table ------------------------------------------------------------------------------
  const auto seconds = timeline.seconds();
  std::vector<demo::PhaseSummary> rows;
  for (const auto& p : phases) rows.push_back(demo::summarize(seconds, p));
  std::printf("\n%-13s %4s %8s %8s %5s %6s %10s %6s %6s %10s %5s %9s %5s\n", "phase", "secs",
              "requests", "answered", "429", "errors", "answered/s", "p50 ms", "p99 ms",
              "from cache", "stale", "API calls", "redis");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    if (!phases[i].counted) continue;
    char from_cache[16] = "-";
    if (r.total.answered > 0) {
      std::snprintf(from_cache, sizeof from_cache, "%.1f%%", 100 * r.no_api_share);
    }
    std::printf("%-13s %4d %8ld %8ld %5ld %6ld %10.1f %6.2f %6.1f %10s %5ld %9ld %5s\n",
                r.name.c_str(), r.seconds, r.total.requests, r.total.answered, r.total.rate_limited,
                r.total.errors, r.answered_per_s, r.p50_ms, r.p99_ms, from_cache, r.total.stale,
                r.total.api_calls, r.redis_down_seconds > 0.5 * r.seconds ? "down" : "up");
  }
  const auto& w = rows.front();
  std::printf(
      "(not in the table: the %d s warm-up, %ld requests, %ld answered, %ld 429, %ld API calls)\n",
      w.seconds, w.total.requests, w.total.answered, w.total.rate_limited, w.total.api_calls);
  std::printf(
      "the API itself, no cache: %zu calls within its 5/s limit, p50 %.1f ms, p99 %.1f ms\n",
      direct.size(), pct(direct, 0.5), pct(direct, 0.99));
  std::printf(
      "\nrequests = answered (200/404) + 429 (rate limited, retried later) + errors, as the %d "
      "clients saw them.\n"
      "p50/p99: latency of the answered requests only. from cache: the share of answered "
      "requests served\n"
      "without calling the API (from Redis or the near cache); stale: answers from the near "
      "cache's stale copy\n"
      "while Redis was unreachable. API calls: calls that reached the API (5/s allowed; the rest "
      "got its 429).\n",
      opt.clients);

  const demo::PhaseSummary* steady = &rows[1];
  const demo::PhaseSummary* outage = redis ? &rows[2] : nullptr;
  const demo::PhaseSummary* after = redis ? &rows[3] : nullptr;
  long distinct = 0;
  {
    std::lock_guard l(ids_mu);
    distinct = static_cast<long>(outage_ids.size());
  }
  if (outage != nullptr) {
    std::printf(
        "\nredis down %d s: %.1f answered/s vs %.1f/s steady (%.0f %%), %ld of them stale copies "
        "from the near cache;\n  %ld API calls for %ld distinct ids requested; %ld requests "
        "turned away (429) by the outage load cap\n",
        outage->seconds, outage->answered_per_s, steady->answered_per_s,
        steady->answered_per_s > 0 ? 100 * outage->answered_per_s / steady->answered_per_s : 0,
        outage->total.stale, outage->total.api_calls, distinct, outage->total.shed);
    std::printf(
        "after restart %d s: redis came back empty: %.1f answered/s (%.0f %% of steady) while the "
        "cache refills at the API's 5/s\n",
        after->seconds, after->answered_per_s,
        steady->answered_per_s > 0 ? 100 * after->answered_per_s / steady->answered_per_s : 0);
  }

  // ---- the picture ----------------------------------------------------------------------------
  demo::Chart chart;
  chart.title = "rcache demo: " + std::to_string(opt.clients) +
                " clients in front of a slow API (150 ms, 5 requests/s, 429 beyond)";
  chart.subtitle = std::string("Zipf(1.1) over 300 ids; ") +
                   (opt.near_cache ? "near cache on" : "no near cache") +
                   (redis ? "; redis-server killed with kill -9, then restarted empty"
                          : "; redis not killed in this run");
  chart.seconds = seconds;
  chart.phases = phases;
  chart.redis_down = timeline.redis_down_intervals();
  chart.api_limit = 5;
  if (save(opt.svg, demo::timeline_svg(chart))) {
    std::printf("\ntimeline (SVG, open it in a browser): %s\n", absolute(opt.svg).c_str());
  } else {
    std::printf("\ntimeline: cannot write %s: %s\n", opt.svg.c_str(), std::strerror(errno));
  }

  auto count = [&](const demo::PhaseSummary* p, long demo::Second::*field) {
    return p != nullptr ? p->total.*field : 0L;
  };
  std::printf(
      "RESULT steady_requests=%ld steady_answered=%ld steady_429=%ld steady_errors=%ld "
      "steady_from_cache=%.3f outage_errors=%ld after_restart_errors=%ld "
      "outage_answered_per_s=%.1f steady_answered_per_s=%.1f outage_api_calls=%ld "
      "outage_distinct_ids=%ld outage_stale=%ld seconds=%d warmup_answered=%ld\n",
      steady->total.requests, steady->total.answered, steady->total.rate_limited,
      steady->total.errors, steady->no_api_share, count(outage, &demo::Second::errors),
      count(after, &demo::Second::errors), outage ? outage->answered_per_s : 0,
      steady->answered_per_s, count(outage, &demo::Second::api_calls), distinct,
      count(outage, &demo::Second::stale), total, w.total.answered);

  if (!opt.dump.empty()) {
    const std::string d = opt.dump + "/";
    save(d + "metrics.txt", demo::http_call(service_port, "GET", "/metrics", 3000).body);
    save(d + "stats.json", demo::http_call(service_port, "GET", "/cache/stats", 3000).body);
    save(d + "health.json", demo::http_call(service_port, "GET", "/cache/health", 3000).body);
    save(d + "outage_probes.txt", outage_probes);
    save(d + "purge_unconfirmed.txt",
         std::to_string(
             demo::http_call(service_port, "DELETE", "/cache?pattern=rec:*", 3000).status));
    save(d + "purge_confirmed.json",
         demo::http_call(service_port, "DELETE", "/cache?pattern=rec:*&confirm=true", 3000).body);
  }
  service.begin_shutdown();
  if (!opt.dump.empty()) {
    save(opt.dump + "/shutdown_probes.txt", probe(service_port, {"/healthz", "/readyz"}));
  }
  return 0;
}
