// The near cache (issue 15): the cost of a hit at 1, 2 and 16 threads beside a Redis GET round
// trip in the same run, the cost of a miss that fills, and the hit ratio of the eviction policy
// on Zipf workloads.
//
//   near_cache_bench [Google Benchmark flags]
//
// The Redis GET runs against a redis-server this program starts on a free loopback port; the
// server is pinned to CPU 1 and, for that benchmark only, the client to CPU 0 (one vCPU each).
// The in-process benchmarks use both CPUs. Without redis-server, the GET benchmark is skipped.
#include <benchmark/benchmark.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>
#include <rcache/rcache.hpp>
#include <string>
#include <vector>

#include "placement.hpp"
#include "redis_server.hpp"
#include "resilience/near_cache.hpp"

namespace {

using rcache::detail::NearCache;
using rcache::detail::NearCacheOptions;
using rcache::detail::SteadyClock;
using namespace std::chrono_literals;

constexpr int kHotKeys = 10'000;

std::string key_of(int i) {
  return "user:" + std::to_string(i);
}

NearCache& hot_cache() {
  static NearCache* c = [] {
    NearCacheOptions o;
    o.max_bytes = 64u << 20;
    o.max_ttl = 1h;
    auto* cache = new NearCache(o, SteadyClock::instance());
    cache->coherence_gained();
    const std::string value(100, 'v');
    for (int i = 0; i < kHotKeys; ++i) {
      const std::string k = key_of(i);
      cache->end_fill(k, cache->begin_fill(k), value, -1ms);
    }
    return cache;
  }();
  return *c;
}

// One hit: a 100-byte value copied out. Keys spread over every shard.
void BM_NearCacheHit(benchmark::State& state) {
  NearCache& c = hot_cache();
  std::vector<std::string> keys;
  for (int i = 0; i < 1024; ++i)
    keys.push_back(key_of((i * 7919 + state.thread_index()) % kHotKeys));
  std::size_t i = 0;
  for (auto _ : state) {
    auto v = c.get(keys[i++ & 1023]);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NearCacheHit)->Threads(1)->Threads(2)->Threads(16)->UseRealTime();

// A miss that fills: begin_fill before the read, end_fill with its reply (then evicted by LRU
// in a small cache, so every iteration inserts).
void BM_NearCacheFill(benchmark::State& state) {
  NearCacheOptions o;
  o.max_bytes = 1u << 20;
  NearCache c(o, SteadyClock::instance());
  c.coherence_gained();
  const std::string value(100, 'v');
  int i = 0;
  for (auto _ : state) {
    const std::string k = key_of(i++);
    c.end_fill(k, c.begin_fill(k), value, 60'000ms);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NearCacheFill);

// ---- a Redis round trip in the same run ----

std::unique_ptr<rcache::test::RedisServer>& server() {
  static std::unique_ptr<rcache::test::RedisServer> s;
  return s;
}

void set_all_cpus() {
  cpu_set_t all;
  CPU_ZERO(&all);
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  for (long c = 0; c < n; ++c) CPU_SET(static_cast<int>(c), &all);
  sched_setaffinity(0, sizeof all, &all);
}

void BM_RedisGet(benchmark::State& state) {
  if (!server()) {
    state.SkipWithError("no redis-server");
    return;
  }
  rcache::Config cfg;
  cfg.host = "127.0.0.1";
  cfg.port = server()->port();
  cfg.blocking_spin = std::chrono::microseconds(0);  // caller and loop thread share CPU 0
  auto client = rcache::Client::create(cfg);
  if (!client.ok() || !(*client)->set("user:1", std::string(100, 'v')).ok()) {
    state.SkipWithError("redis not reachable");
    return;
  }
  if (std::getenv("NOPIN") == nullptr)
    rcache::test::pin_thread_group(getpid(), 0);  // client (caller + loop thread) on CPU 0
  for (auto _ : state) {
    auto v = (*client)->get("user:1");
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
  client->reset();
  set_all_cpus();
}
BENCHMARK(BM_RedisGet)->UseRealTime();

// ---- hit ratio of LRU on Zipf workloads ----

// Zipf(s) over n ids by inverse CDF.
class Zipf {
 public:
  Zipf(int n, double s) : cdf_(static_cast<std::size_t>(n)) {
    double sum = 0;
    for (int i = 0; i < n; ++i) sum += 1.0 / std::pow(i + 1, s);
    double acc = 0;
    for (int i = 0; i < n; ++i) {
      acc += 1.0 / std::pow(i + 1, s) / sum;
      cdf_[static_cast<std::size_t>(i)] = acc;
    }
  }
  int operator()(std::mt19937_64& rng) const {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<int>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

// args: keyspace, cache capacity in per-mille of the keyspace, Zipf s x100. The hit ratio is
// the counter; the time is that of a get plus, on a miss, a fill.
void BM_ZipfHitRatio(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const double s = static_cast<double>(state.range(2)) / 100.0;
  const std::string value(100, 'v');
  const std::size_t per_entry = NearCache::kEntryOverhead + value.size() + 12;
  NearCacheOptions o;
  o.shards = 16;
  o.max_bytes =
      per_entry * static_cast<std::size_t>(n) * static_cast<std::size_t>(state.range(1)) / 1000;
  o.max_ttl = 1h;
  NearCache c(o, SteadyClock::instance());
  c.coherence_gained();
  const Zipf zipf(n, s);
  std::mt19937_64 rng(42);
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) keys.push_back(key_of(i));
  // Warm up with as many requests as the keyspace, then measure.
  for (int i = 0; i < n; ++i) {
    const std::string& k = keys[static_cast<std::size_t>(zipf(rng))];
    if (!c.get(k)) c.end_fill(k, c.begin_fill(k), value, -1ms);
  }
  std::int64_t hits = 0, total = 0;
  for (auto _ : state) {
    const std::string& k = keys[static_cast<std::size_t>(zipf(rng))];
    ++total;
    if (c.get(k)) {
      ++hits;
    } else {
      c.end_fill(k, c.begin_fill(k), value, -1ms);
    }
  }
  state.counters["hit_ratio"] =
      total > 0 ? static_cast<double>(hits) / static_cast<double>(total) : 0;
}
BENCHMARK(BM_ZipfHitRatio)
    ->Args({100'000, 10, 99})
    ->Args({100'000, 50, 99})
    ->Args({100'000, 200, 99})
    ->Args({100'000, 10, 70})
    ->Args({100'000, 50, 70})
    ->Args({300, 100, 110});  // the demo: 300 ids, Zipf 1.1

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  server() = rcache::test::RedisServer::start();
  if (server()) rcache::test::pin_thread_group(server()->pid(), 1);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  server().reset();
  return 0;
}
