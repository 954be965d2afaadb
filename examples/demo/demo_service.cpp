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
// --cluster: a private Redis Cluster instead (3 masters with a replica each on 127.0.0.1; REDIS_URL
// is ignored, and the near cache is off: rcache does not support it with a cluster yet). Phase 2
// ("failover") kills -9 ONE master: its replica is promoted after ~2-2.5 s, and only that
// master's share of the keys goes to the API meanwhile; phase 3 restarts the killed node, which
// rejoins as a replica of the promoted one. The tables and the timeline split the keys: the
// killed master's, the others'. If no cluster can start: degraded, as without Redis.
//
//   demo_service [--short] [--cluster] [--clients N] [--serve SECONDS] [--svg PATH] [--dump DIR]
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
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <random>
#include <rcache/rcache.hpp>
#include <set>
#include <thread>
#include <vector>

#include "cluster_process.hpp"
#include "cluster_story.hpp"
#include "http.hpp"
#include "loopback.hpp"
#include "redis_process.hpp"
#include "report.hpp"
#include "service.hpp"
#include "timeline.hpp"
#include "timeline_svg.hpp"

namespace {

using demo::Clock;
using namespace std::chrono_literals;

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

struct Options {
  int clients = 8;
  // Seconds of each phase; the outage phases only with a private redis-server.
  int warmup = 6, steady = 6, down = 5, after = 8;
  double serve = 0;
  std::string dump;
  std::string svg;
  bool near_cache = true;  // --no-near-cache: the same run without it, to compare
  bool cluster = false;    // --cluster: a private Redis Cluster, one master killed in phase 2
};

// Calls straight to the API, within its rate limit: what every request costs without a cache.
std::vector<double> measure_api(int upstream_port) {
  std::vector<double> took;
  for (int i = 0; i < 6; ++i) {
    const auto t0 = Clock::now();
    demo::http_call(upstream_port, "GET", "/v0/appDemo/Customers/recD" + std::to_string(i), 3000);
    took.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    std::this_thread::sleep_for(210ms);
  }
  return took;
}

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
  bool short_run = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--short") == 0) {
      short_run = true;
    } else if (std::strcmp(argv[i], "--cluster") == 0) {
      opt.cluster = true;
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
    } else if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      demo::print_usage(stdout, argv[0]);
      return 0;
    } else {
      demo::print_usage(stderr, argv[0]);
      return 2;
    }
  }
  if (short_run) {
    // A cluster's failover takes ~2-2.5 s: its phase 2 is longer, the others shorter.
    opt.warmup = 2;
    opt.steady = opt.cluster ? 2 : 3;
    opt.down = opt.cluster ? 4 : 3;
    opt.after = opt.cluster ? 2 : 4;
  }
  if (opt.svg.empty()) opt.svg = default_svg_path();
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (opt.serve > 0) {
    // Serving: SIGINT/SIGTERM start a graceful shutdown (main waits for them below). Blocked
    // before any thread starts, so every thread inherits it (redis-server does not: it is spawned
    // with nothing blocked).
    ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  }

  // The API stand-in first: the calls straight to it run while a cluster starts. What reaches it
  // is counted on the timeline once there is one.
  std::unique_ptr<demo::Timeline> timeline_owner;
  std::atomic<demo::Timeline*> timeline_ptr{nullptr};
  const int upstream_port = demo::free_port();
  demo::SlowApi upstream(upstream_port, 150ms, 5, [&timeline_ptr](bool refused) {
    if (demo::Timeline* t = timeline_ptr.load()) t->api_call(refused);
  });
  if (!upstream.ok()) {
    std::fprintf(stderr, "cannot start the HTTP servers\n");
    return 2;
  }
  std::vector<double> direct;
  auto measure_direct = [&] {
    if (opt.serve <= 0) direct = measure_api(upstream_port);
  };

  // Redis: given, a private cluster, a private server, or none.
  std::unique_ptr<demo::RedisProcess> redis;
  std::unique_ptr<demo::RedisCluster> cluster;
  const char* env_url = std::getenv("REDIS_URL");
  const bool given = env_url != nullptr && *env_url != '\0' && !opt.cluster;
  std::string url;
  if (opt.cluster) {
    if (env_url != nullptr && *env_url != '\0') {
      std::printf("redis: --cluster: REDIS_URL ignored\n");
    }
    std::string why;
    std::thread starter;
    try {
      starter = std::thread([&] { cluster = demo::RedisCluster::start(why); });
    } catch (...) {  // no thread: one after the other
    }
    measure_direct();
    if (starter.joinable()) {
      starter.join();
    } else {
      cluster = demo::RedisCluster::start(why);
    }
    if (cluster != nullptr) {
      url = cluster->url();
    } else {
      url = "redis://127.0.0.1:" + std::to_string(demo::free_port());
      std::printf("redis: NO Redis Cluster could be started (%s): running DEGRADED (uncached)\n",
                  why.c_str());
    }
  } else {
    if (given) {
      url = env_url;
      std::printf("redis: using REDIS_URL (it will not be killed: no outage phases)\n");
    } else if ((redis = demo::RedisProcess::start()) != nullptr) {
      url = redis->url();
      std::printf("redis: private redis-server pid %d on 127.0.0.1:%d\n", redis->pid(),
                  redis->port());
    } else {
      url = "redis://127.0.0.1:" + std::to_string(demo::free_port());
      std::printf("redis: NO redis-server could be started: running DEGRADED (uncached)\n");
    }
    measure_direct();
  }
  const auto direct_done = Clock::now();

  // The phases, as whole seconds of one continuous load.
  std::vector<demo::Phase> phases;
  phases.push_back({"warm-up", 0, opt.warmup, false});
  int kill_at = -1, restart_at = -1;
  const bool killable = redis || cluster;
  if (killable) {
    kill_at = opt.warmup + opt.steady;
    restart_at = kill_at + opt.down;
    phases.push_back({"steady", opt.warmup, kill_at, true});
    phases.push_back({cluster ? "failover" : "redis down", kill_at, restart_at, true});
    phases.push_back({"after restart", restart_at, restart_at + opt.after, true});
  } else {
    phases.push_back({"steady", opt.warmup, opt.warmup + opt.steady + opt.down + opt.after, true});
  }
  const int total = phases.back().end;
  timeline_owner = std::make_unique<demo::Timeline>(total, cluster ? 2 : 0);
  demo::Timeline& timeline = *timeline_owner;
  timeline_ptr = &timeline;

  const Zipf zipf(300, 1.1);
  auto key_of = [](int id) { return "demo:rec:rec" + std::to_string(id); };  // prefix + service's
  std::unique_ptr<demo::ClusterStory> story;
  if (cluster) {
    std::vector<double> weights;
    for (std::size_t i = 0; i < zipf.cdf.size(); ++i) {
      weights.push_back(zipf.cdf[i] - (i == 0 ? 0 : zipf.cdf[i - 1]));
    }
    story = std::make_unique<demo::ClusterStory>(*cluster, timeline, weights, key_of);
    story->print_layout();
  }

  // REDIS_URL (with REDIS_PASSWORD / REDIS_DB) when given, else the private or absent server.
  auto cfg = given ? rcache::Config::from_env() : rcache::Config::from_url(url);
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
  // Redis is down (up to max_stale); loads during an outage stay under the API's 5/s. Not with a
  // cluster (rcache refuses it there for now).
  cfg->near_cache_bytes = opt.near_cache && !cluster ? 16u << 20 : 0;
  cfg->max_stale = 5min;
  cfg->outage_loads_per_second = 4;
  cfg->log_level = rcache::LogLevel::warning;
  cfg->log_sink = [](rcache::LogLevel, std::string_view m) {
    std::printf("  [rcache] %.*s\n", static_cast<int>(m.size()), m.data());
  };
  if (!story) {
    cfg->on_breaker_change = [&timeline](rcache::BreakerState, rcache::BreakerState to) {
      timeline.breaker(to);
    };
  }
  auto client = rcache::Client::create(*cfg);
  if (!client) {
    std::fprintf(stderr, "client: %s\n", client.error().to_string().c_str());
    return 2;
  }
  rcache::Client& cache = **client;
  (void)cache.delete_pattern("*");

  const int service_port = demo::free_port();
  demo::CacheService service(service_port, cache, upstream_port);
  if (!service.ok()) {
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
  std::this_thread::sleep_until(direct_done + 1s);  // let the upstream's window empty

  // The clients: one continuous load through every phase; each request is counted in the
  // second (and so the phase) it completed in.
  std::atomic<bool> stop{false}, in_outage{false};
  std::mutex ids_mu;
  std::set<int> outage_ids;  // distinct ids requested while Redis was down
  timeline.start();
  if (story) {
    story->watch_breaker([&cache] { return cache.breaker_state(); });
    story->probe_with([&cache](int id) { return cache.get("rec:rec" + std::to_string(id)).ok(); });
  }
  if (!killable && !given) timeline.redis_down();  // no redis at all
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
        timeline.request(demo::classify(r.status, r.header("X-Cache")), ms,
                         story ? story->group_of(id) : -1);
        // A well-behaved client: a short think time, and it backs off when rate limited.
        std::this_thread::sleep_for(r.status == 429 ? 200ms : 2ms);
      }
    });
  }
  demo::announce(phases.front(), opt.clients, cluster != nullptr);
  std::string outage_probes;
  bool restarted = false, recovered = false;
  std::size_t phase = 0;
  for (int sec = 1; sec <= total; ++sec) {
    // The second just ended (requests are counted as they complete, so it is complete now).
    std::this_thread::sleep_until(timeline.t0() + std::chrono::seconds(sec));
    const auto i = static_cast<std::size_t>(sec - 1);
    const auto killed =
        story ? timeline.group_seconds(demo::ClusterStory::kKilled) : std::vector<demo::Second>{};
    demo::print_second(sec, timeline.seconds()[i], killed.empty() ? nullptr : &killed[i]);
    if (story) story->report();
    if (restarted && !recovered) {
      const double resumed = timeline.redis_answers_resumed_after();
      if (resumed >= 0) {
        recovered = true;
        std::printf("  >>> recovered: cache hits resumed %.1f s after redis restarted\n", resumed);
      }
    }
    if (sec == total) break;
    if (phase + 1 < phases.size() && sec == phases[phase + 1].begin) {
      demo::announce(phases[++phase], opt.clients, cluster != nullptr);
    }
    if (killable && sec == kill_at) {
      in_outage = true;
      if (story) {
        story->kill();
      } else {
        std::printf("  >>> kill -9 redis-server pid %d\n", redis->pid());
        timeline.redis_down();
        redis->kill9();
      }
    }
    if (killable && sec == restart_at) {
      in_outage = false;
      if (story) {
        story->restart();
      } else {
        restarted = redis->restart();
        if (restarted) {
          timeline.redis_up();
          std::printf("  >>> redis-server restarted on the same port (pid %d)\n", redis->pid());
        } else {
          std::printf("  >>> redis-server did NOT restart\n");
        }
      }
    }
    if (killable && sec == kill_at + opt.down / 2) {
      outage_probes = probe(service_port, {"/healthz", "/readyz", "/cache/health"});
      demo::print_probes(story ? "a master was killed" : "redis is down", outage_probes);
    }
  }
  stop = true;
  for (auto& t : clients) t.join();
  if (restarted && !recovered) std::printf("  >>> NOT recovered within the run\n");
  if (story) story->finish();

  // ---- the table ------------------------------------------------------------------------------
  const auto seconds = timeline.seconds();
  const auto rows = demo::print_table(seconds, phases, opt.clients, cluster != nullptr, direct);
  const auto& w = rows.front();
  if (story) story->print_tables(phases);

  const demo::PhaseSummary* steady = &rows[1];
  const demo::PhaseSummary* outage = killable ? &rows[2] : nullptr;
  const demo::PhaseSummary* after = killable ? &rows[3] : nullptr;
  long distinct = 0;
  {
    std::lock_guard l(ids_mu);
    distinct = static_cast<long>(outage_ids.size());
  }
  if (redis) demo::print_outage(*steady, *outage, *after, distinct);

  // ---- the picture ----------------------------------------------------------------------------
  demo::Chart chart;
  chart.title = "rcache demo: " + std::to_string(opt.clients) +
                " clients in front of a slow API (150 ms, 5 requests/s, 429 beyond)";
  chart.subtitle = std::string("Zipf(1.1) over 300 ids; ") +
                   (opt.near_cache && !cluster ? "near cache on" : "no near cache") +
                   (redis     ? "; redis-server killed with kill -9, then restarted empty"
                    : cluster ? "; Redis Cluster of 3 masters + 3 replicas: one master killed with "
                                "kill -9, its replica promoted"
                              : "; redis not killed in this run");
  chart.seconds = seconds;
  chart.phases = phases;
  chart.redis_down = timeline.redis_down_intervals();
  chart.api_limit = 5;
  if (story) {
    chart.down_label = "master down";
    chart.group = timeline.group_seconds(demo::ClusterStory::kKilled);
    chart.group_label = "killed master's keys (%)";
    chart.group_title =
        "answered without an API call, the killed master's keys only (%, right axis)";
    chart.marks = timeline.marks();
  }
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
      "outage_distinct_ids=%ld outage_stale=%ld seconds=%d warmup_answered=%ld%s\n",
      steady->total.requests, steady->total.answered, steady->total.rate_limited,
      steady->total.errors, steady->no_api_share, count(outage, &demo::Second::errors),
      count(after, &demo::Second::errors), outage ? outage->answered_per_s : 0,
      steady->answered_per_s, count(outage, &demo::Second::api_calls), distinct,
      count(outage, &demo::Second::stale), total, w.total.answered,
      story ? story->result_fields().c_str() : "");

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
