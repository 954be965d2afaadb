// rcache in front of a deliberately slow function (a stand-in for Airtable, a CRM, an LLM API).
//
// Runs the same request mix twice: straight to the slow function, then cache-aside through rcache
// (get -> miss -> load -> set with TTL). Prints hits, misses and latency for both. If Redis cannot
// be reached the cached phase still answers every request from the slow function and says so.
//
//   REDIS_URL=redis://127.0.0.1:6379/0 ./slow_api_demo [--requests N] [--ids N] [--latency-ms N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <rcache/rcache.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::microseconds;

struct Options {
  int requests = 300;
  int ids = 30;
  int latency_ms = 50;
};

// The "slow API": fixed latency, JSON shaped like an Airtable record.
std::string slow_fetch(const std::string& id, int latency_ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(latency_ms));
  return R"({"id":")" + id + R"(","fields":{"Name":"Record )" + id +
         R"(","Status":"active","Score":42}})";
}

struct Tally {
  std::vector<double> ms;
  int hits = 0, misses = 0, bypassed = 0, errors = 0;

  double pct(double p) {
    if (ms.empty()) return 0;
    std::sort(ms.begin(), ms.end());
    const auto i = static_cast<std::size_t>(p * static_cast<double>(ms.size() - 1));
    return ms[i];
  }
};

// Zipf-like id choice: a few hot records, a long tail.
std::vector<std::string> request_mix(const Options& o) {
  std::mt19937 rng(2026);
  std::vector<double> w;
  for (int i = 1; i <= o.ids; ++i) w.push_back(1.0 / i);
  std::discrete_distribution<int> pick(w.begin(), w.end());
  std::vector<std::string> out;
  for (int i = 0; i < o.requests; ++i) out.push_back("rec" + std::to_string(pick(rng)));
  return out;
}

double elapsed_ms(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const int v = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--requests") == 0)
      o.requests = std::max(1, v);
    else if (std::strcmp(argv[i], "--ids") == 0)
      o.ids = std::max(1, v);
    else if (std::strcmp(argv[i], "--latency-ms") == 0)
      o.latency_ms = std::max(0, v);
  }

  auto cfg = rcache::Config::from_env();
  if (!cfg) {
    std::fprintf(stderr, "config: %s\n", cfg.error().to_string().c_str());
    return 2;
  }
  cfg->key_prefix = "demo:airtable:";
  std::printf("rcache %s demo: %d requests over %d ids, slow API latency %d ms\n",
              rcache::version(), o.requests, o.ids, o.latency_ms);
  std::printf("redis: %s\n", cfg->to_string().c_str());
  auto client = rcache::Client::create(*cfg);
  if (!client) {
    std::fprintf(stderr, "client: %s\n", client.error().to_string().c_str());
    return 2;
  }
  rcache::Client& cache = **client;
  if (auto p = cache.ping(); !p) {
    // Give the pool its connect time before deciding we are degraded.
    std::this_thread::sleep_for(cfg->connect_timeout);
  }
  const bool up = cache.ping().ok();
  std::printf("mode: %s\n", up ? "cached (redis reachable)"
                               : "DEGRADED: redis unreachable, every request goes to the slow API");
  if (up) (void)cache.delete_pattern("*");  // start cold so the hit rate means something

  const auto mix = request_mix(o);

  // Phase 1: no cache. A sample is enough to show the latency; every call costs the same.
  Tally direct;
  const int direct_n = std::min<int>(o.requests, 40);
  for (int i = 0; i < direct_n; ++i) {
    const auto start = Clock::now();
    (void)slow_fetch(mix[static_cast<std::size_t>(i)], o.latency_ms);
    direct.ms.push_back(elapsed_ms(start));
  }

  // Phase 2: cache-aside through rcache.
  Tally cached;
  for (const auto& id : mix) {
    const auto start = Clock::now();
    auto hit = cache.get(id);
    if (hit.ok() && hit->has_value()) {
      ++cached.hits;
    } else {
      std::string value = slow_fetch(id, o.latency_ms);
      if (hit.ok()) {
        ++cached.misses;
        if (!cache.set(id, value, std::chrono::minutes(10)).ok()) ++cached.errors;
      } else {
        ++cached.bypassed;  // redis unavailable: answer from the API anyway
      }
    }
    cached.ms.push_back(elapsed_ms(start));
  }

  const double hit_rate =
      cached.hits + cached.misses > 0
          ? static_cast<double>(cached.hits) / static_cast<double>(cached.hits + cached.misses)
          : 0.0;
  std::printf("\n%-22s %10s %10s %10s %10s %10s\n", "", "requests", "p50 ms", "p99 ms", "hits",
              "misses");
  std::printf("%-22s %10zu %10.2f %10.2f %10s %10s\n", "direct to slow API", direct.ms.size(),
              direct.pct(0.50), direct.pct(0.99), "-", "-");
  std::printf("%-22s %10zu %10.2f %10.2f %10d %10d\n", "through rcache", cached.ms.size(),
              cached.pct(0.50), cached.pct(0.99), cached.hits, cached.misses);
  std::printf(
      "\nhit rate %.1f%%, slow API calls saved %d of %zu, bypassed (redis down) %d, "
      "cache write errors %d\n",
      100.0 * hit_rate, cached.hits, mix.size(), cached.bypassed, cached.errors);
  const auto pool = cache.pool_status();
  std::printf("pool: %zu ready, %zu connecting, %zu down%s%s\n", pool.ready, pool.connecting,
              pool.down, pool.last_error.empty() ? "" : "; last error: ", pool.last_error.c_str());
  return 0;
}
