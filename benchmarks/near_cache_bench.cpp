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
#include <bit>
#include <cmath>
#include <cstdlib>
#include <list>
#include <memory>
#include <random>
#include <rcache/rcache.hpp>
#include <string>
#include <unordered_map>
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

// ---- LRU against W-TinyLFU, by simulation (entry counts, one trace for all) ----
//
// Models of the two policies over the same requests, to choose the near cache's: LRU as the
// near cache has it, and W-TinyLFU as Caffeine describes it (a 1 % LRU window, then a segmented
// LRU of 20 % probation and 80 % protected entries, and a count-min sketch of 4-bit counters,
// halved every 10 x capacity requests, deciding whether the window's victim may replace the
// probation's victim). "Optimal static" caches the C most popular ids of the distribution: the
// ceiling for any policy on a stationary Zipf.

class LruModel {
 public:
  explicit LruModel(std::size_t capacity) : cap_(capacity) {}
  bool access(int id) {
    if (auto it = where_.find(id); it != where_.end()) {
      order_.splice(order_.begin(), order_, it->second);
      return true;
    }
    order_.push_front(id);
    where_[id] = order_.begin();
    if (order_.size() > cap_) {
      where_.erase(order_.back());
      order_.pop_back();
    }
    return false;
  }

 private:
  std::size_t cap_;
  std::list<int> order_;
  std::unordered_map<int, std::list<int>::iterator> where_;
};

class FrequencySketch {
 public:
  explicit FrequencySketch(std::size_t capacity)
      : width_(std::bit_ceil(std::max<std::size_t>(capacity, 16))),
        counts_(4 * width_, 0),
        reset_after_(10 * capacity) {}
  void add(int id) {
    for (std::size_t row = 0; row < 4; ++row) {
      auto& c = counts_[row * width_ + slot(id, row)];
      if (c < 15) ++c;
    }
    if (++added_ >= reset_after_) {  // aging: halve everything
      for (auto& c : counts_) c = static_cast<std::uint8_t>(c / 2);
      added_ /= 2;
    }
  }
  int estimate(int id) const {
    int m = 15;
    for (std::size_t row = 0; row < 4; ++row) {
      m = std::min<int>(m, counts_[row * width_ + slot(id, row)]);
    }
    return m;
  }

 private:
  std::size_t slot(int id, std::size_t row) const {
    std::uint64_t h =
        static_cast<std::uint64_t>(id) * 0x9e3779b97f4a7c15ull + row * 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 29;
    return static_cast<std::size_t>(h) & (width_ - 1);
  }
  std::size_t width_;
  std::vector<std::uint8_t> counts_;
  std::size_t reset_after_;
  std::size_t added_ = 0;
};

class WTinyLfuModel {
 public:
  explicit WTinyLfuModel(std::size_t capacity)
      : window_cap_(std::max<std::size_t>(1, capacity / 100)),
        protected_cap_((capacity - window_cap_) * 8 / 10),
        main_cap_(capacity - window_cap_),
        sketch_(capacity) {}
  bool access(int id) {
    sketch_.add(id);
    if (auto it = where_.find(id); it != where_.end()) {
      Slot& e = it->second;
      if (e.segment == Segment::probation) {  // promoted; protected overflow goes back
        probation_.erase(e.it);
        protected_.push_front(id);
        e = {Segment::protected_, protected_.begin()};
        if (protected_.size() > protected_cap_) {
          const int back = protected_.back();
          protected_.pop_back();
          probation_.push_front(back);
          where_[back] = {Segment::probation, probation_.begin()};
        }
      } else {
        auto& list = e.segment == Segment::window ? window_ : protected_;
        list.splice(list.begin(), list, e.it);
      }
      return true;
    }
    window_.push_front(id);
    where_[id] = {Segment::window, window_.begin()};
    if (window_.size() > window_cap_) {
      const int candidate = window_.back();
      window_.pop_back();
      where_.erase(candidate);
      admit(candidate);
    }
    return false;
  }

 private:
  enum class Segment { window, probation, protected_ };
  struct Slot {
    Segment segment;
    std::list<int>::iterator it;
  };
  void admit(int candidate) {
    if (probation_.size() + protected_.size() >= main_cap_) {
      if (probation_.empty()) return;
      const int victim = probation_.back();
      if (sketch_.estimate(candidate) <= sketch_.estimate(victim)) return;  // not admitted
      probation_.pop_back();
      where_.erase(victim);
    }
    probation_.push_front(candidate);
    where_[candidate] = {Segment::probation, probation_.begin()};
  }
  std::size_t window_cap_, protected_cap_, main_cap_;
  FrequencySketch sketch_;
  std::list<int> window_, probation_, protected_;
  std::unordered_map<int, Slot> where_;
};

// args: keyspace, capacity in per-mille of the keyspace, Zipf s x100, policy (0 LRU,
// 1 W-TinyLFU, 2 optimal static), hot set moved every keyspace requests (0 no, 1 yes: the ids'
// popularity ranks rotate by a tenth of the keyspace, the case where recency matters).
void BM_PolicyHitRatio(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const auto capacity = std::max<std::size_t>(
      1, static_cast<std::size_t>(n) * static_cast<std::size_t>(state.range(1)) / 1000);
  const double s = static_cast<double>(state.range(2)) / 100.0;
  const int policy = static_cast<int>(state.range(3));
  const bool moving = state.range(4) != 0;
  const Zipf zipf(n, s);
  std::mt19937_64 rng(42);
  LruModel lru(capacity);
  WTinyLfuModel tiny(capacity);
  int shift = 0;
  std::int64_t served = 0;
  auto next_id = [&] {
    if (moving && ++served % n == 0) shift = (shift + n / 10) % n;
    return (zipf(rng) + shift) % n;
  };
  auto access = [&](int id) {
    switch (policy) {
      case 0:
        return lru.access(id);
      case 1:
        return tiny.access(id);
      default:
        return ((id - shift + n) % n) < static_cast<int>(capacity);
    }
  };
  for (int i = 0; i < n; ++i) (void)access(next_id());  // warm-up: one keyspace of requests
  std::int64_t hits = 0, total = 0;
  for (auto _ : state) {
    ++total;
    hits += access(next_id()) ? 1 : 0;
  }
  state.counters["hit_ratio"] =
      total > 0 ? static_cast<double>(hits) / static_cast<double>(total) : 0;
}
BENCHMARK(BM_PolicyHitRatio)
    ->ArgsProduct({{100'000}, {10, 50, 200}, {99, 70}, {0, 1, 2}, {0}})
    ->ArgsProduct({{300}, {100}, {110}, {0, 1, 2}, {0}})
    ->ArgsProduct({{100'000}, {10, 50}, {99}, {0, 1}, {1}})
    ->Iterations(2'000'000);

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
