// Throughput and latency of rcache against a real redis-server, printed beside redis-benchmark
// and a classic pool of blocking hiredis connections measured in the same run on the same server.
// Figures are printed, never asserted. Run it with scripts/bench.sh (which starts the server).
//
//   client_bench [--seconds S]      (REDIS_URL names the server; default 3 s per scenario)
#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <rcache/rcache.hpp>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Figures {
  double ops_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
};

Figures summarize(std::vector<double>& lat_us, std::size_t ops, double seconds) {
  Figures f;
  f.ops_per_s = static_cast<double>(ops) / seconds;
  if (!lat_us.empty()) {
    std::sort(lat_us.begin(), lat_us.end());
    f.p50_us = lat_us[lat_us.size() / 2];
    f.p99_us = lat_us[static_cast<std::size_t>(0.99 * static_cast<double>(lat_us.size() - 1))];
  }
  return f;
}

double us_since(Clock::time_point t) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t).count();
}

const std::string kValue(100, 'v');
constexpr int kKeys = 10000;

std::string key_of(std::size_t i) {
  return "bench:key:" + std::to_string(i % kKeys);
}

// N threads each running `op(i)` in a loop for `seconds`.
template <class Op>
Figures run_threads(int threads, double seconds, Op op) {
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(threads));
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> errors{0};
  std::vector<std::thread> ts;
  const auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      auto& mine = lat[static_cast<std::size_t>(t)];
      mine.reserve(1 << 20);
      for (std::size_t i = static_cast<std::size_t>(t) * 7919;
           !stop.load(std::memory_order_relaxed); ++i) {
        const auto t0 = Clock::now();
        if (!op(i)) errors.fetch_add(1, std::memory_order_relaxed);
        mine.push_back(us_since(t0));
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : ts) t.join();
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  if (errors.load() > 0) std::fprintf(stderr, "  (%zu errors)\n", errors.load());
  return summarize(all, all.size(), took);
}

// One thread keeping `depth` async calls in flight.
template <class Submit>
Figures run_async(int depth, double seconds, Submit submit) {
  std::counting_semaphore<1024> slots(depth);
  std::mutex mu;
  std::vector<double> lat;
  lat.reserve(1 << 22);
  std::atomic<std::size_t> errors{0};
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::size_t submitted = 0;
  while (Clock::now() < end) {
    slots.acquire();
    const auto t0 = Clock::now();
    submit(submitted++, [&, t0](bool ok) {
      const double us = us_since(t0);
      {
        std::lock_guard l(mu);
        lat.push_back(us);
      }
      if (!ok) errors.fetch_add(1, std::memory_order_relaxed);
      slots.release();
    });
  }
  for (int i = 0; i < depth; ++i) slots.acquire();  // drain
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  if (errors.load() > 0) std::fprintf(stderr, "  (%zu errors)\n", errors.load());
  return summarize(lat, lat.size(), took);
}

// A classic pool: blocking hiredis connections checked out under a mutex.
class BlockingPool {
 public:
  BlockingPool(const std::string& host, int port, int size) {
    for (int i = 0; i < size; ++i) {
      redisContext* c = redisConnect(host.c_str(), port);
      if (c == nullptr || c->err != 0) {
        std::fprintf(stderr, "blocking pool: connect failed\n");
        std::exit(1);
      }
      free_.push_back(c);
      all_.push_back(c);
    }
  }
  ~BlockingPool() {
    for (auto* c : all_) redisFree(c);
  }
  template <class F>
  bool with(F f) {
    redisContext* c = nullptr;
    {
      std::unique_lock l(mu_);
      cv_.wait(l, [&] { return !free_.empty(); });
      c = free_.back();
      free_.pop_back();
    }
    const bool ok = f(c);
    {
      std::lock_guard l(mu_);
      free_.push_back(c);
    }
    cv_.notify_one();
    return ok;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<redisContext*> free_, all_;
};

bool hiredis_set(redisContext* c, const std::string& k) {
  auto* r = static_cast<redisReply*>(
      redisCommand(c, "SET %b %b", k.data(), k.size(), kValue.data(), kValue.size()));
  const bool ok = r != nullptr && r->type == REDIS_REPLY_STATUS;
  if (r) freeReplyObject(r);
  return ok;
}

bool hiredis_get(redisContext* c, const std::string& k) {
  auto* r = static_cast<redisReply*>(redisCommand(c, "GET %b", k.data(), k.size()));
  const bool ok = r != nullptr && r->type != REDIS_REPLY_ERROR;
  if (r) freeReplyObject(r);
  return ok;
}

// redis-benchmark --csv: "SET","rps","avg","min","p50","p95","p99","max"
struct RbLine {
  Figures set, get;
};

RbLine redis_benchmark(const rcache::Config& cfg, int clients, int pipeline, long requests) {
  RbLine out;
  const std::string cmd = "redis-benchmark -h " + cfg.host + " -p " + std::to_string(cfg.port) +
                          " -t set,get -d 100 -r " + std::to_string(kKeys) + " -n " +
                          std::to_string(requests) + " -c " + std::to_string(clients) + " -P " +
                          std::to_string(pipeline) + " --csv 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char line[512];
  while (std::fgets(line, sizeof line, p) != nullptr) {
    char name[16] = {0};
    double rps = 0, avg = 0, mn = 0, p50 = 0, p95 = 0, p99 = 0;
    if (std::sscanf(line, "\"%15[A-Z]\",\"%lf\",\"%lf\",\"%lf\",\"%lf\",\"%lf\",\"%lf\"", name,
                    &rps, &avg, &mn, &p50, &p95, &p99) == 7) {
      Figures f{rps, p50 * 1000, p99 * 1000};
      if (std::strcmp(name, "SET") == 0) out.set = f;
      if (std::strcmp(name, "GET") == 0) out.get = f;
    }
  }
  pclose(p);
  return out;
}

void row(const char* scenario, const char* op, const Figures& f, const char* note = "") {
  std::printf("%-40s %-4s %12.0f %10.1f %10.1f  %s\n", scenario, op, f.ops_per_s, f.p50_us,
              f.p99_us, note);
}

std::string ratio(const char* label, double mine, double theirs, double target) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%.2fx %s (target %.2fx: %s)", theirs > 0 ? mine / theirs : 0.0,
                label, target, theirs > 0 && mine / theirs >= target ? "met" : "NOT met");
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3.0;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::max(0.2, std::atof(argv[i + 1]));
  }
  auto cfg = rcache::Config::from_env();
  if (!cfg) {
    std::fprintf(stderr, "%s\n", cfg.error().to_string().c_str());
    return 2;
  }
  cfg->command_timeout = std::chrono::seconds(5);
  auto created = rcache::Client::create(*cfg);
  if (!created) {
    std::fprintf(stderr, "%s\n", created.error().to_string().c_str());
    return 2;
  }
  auto& client = **created;
  for (int i = 0; i < 100 && !client.ping().ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!client.ping().ok()) {
    std::fprintf(stderr, "no redis at %s\n", cfg->to_string().c_str());
    return 2;
  }
  for (int i = 0; i < kKeys; ++i) (void)client.set(key_of(static_cast<std::size_t>(i)), kValue);

  std::printf(
      "rcache %s client benchmark: 100-byte values, %d keys, %.1f s per scenario, %u "
      "cores\nserver: %s\n\n",
      rcache::version(), kKeys, seconds, std::thread::hardware_concurrency(),
      cfg->to_string().c_str());
  std::printf("%-40s %-4s %12s %10s %10s\n", "scenario", "op", "ops/s", "p50 us", "p99 us");

  // --- reference: redis-benchmark on the same server ---
  const auto rb1 = redis_benchmark(*cfg, 1, 1, static_cast<long>(14000 * seconds));
  row("redis-benchmark -c 1 -P 1", "SET", rb1.set);
  row("redis-benchmark -c 1 -P 1", "GET", rb1.get);
  const auto rb50 = redis_benchmark(*cfg, 50, 1, static_cast<long>(80000 * seconds));
  row("redis-benchmark -c 50 -P 1", "SET", rb50.set);
  row("redis-benchmark -c 50 -P 1", "GET", rb50.get);
  const auto rb8 = redis_benchmark(*cfg, 8, 16, static_cast<long>(800000 * seconds));
  row("redis-benchmark -c 8 -P 16", "SET", rb8.set);
  row("redis-benchmark -c 8 -P 16", "GET", rb8.get);

  // --- classic blocking pool (hiredis redisCommand), the hand-written wrapper's shape ---
  {
    BlockingPool pool(cfg->host, cfg->port, 10);
    const auto s = run_threads(16, seconds, [&](std::size_t i) {
      return pool.with([&](redisContext* c) { return hiredis_set(c, key_of(i)); });
    });
    row("blocking hiredis pool(10), 16 threads", "SET", s);
    const auto g = run_threads(16, seconds, [&](std::size_t i) {
      return pool.with([&](redisContext* c) { return hiredis_get(c, key_of(i)); });
    });
    row("blocking hiredis pool(10), 16 threads", "GET", g);
    std::printf("\n");

    // --- rcache ---
    const auto s1 =
        run_threads(1, seconds, [&](std::size_t i) { return client.set(key_of(i), kValue).ok(); });
    row("rcache blocking, 1 caller", "SET", s1,
        ratio("of redis-benchmark -c 1", s1.ops_per_s, rb1.set.ops_per_s, 0.9).c_str());
    const auto g1 =
        run_threads(1, seconds, [&](std::size_t i) { return client.get(key_of(i)).ok(); });
    row("rcache blocking, 1 caller", "GET", g1,
        ratio("of redis-benchmark -c 1", g1.ops_per_s, rb1.get.ops_per_s, 0.9).c_str());

    const auto s16 =
        run_threads(16, seconds, [&](std::size_t i) { return client.set(key_of(i), kValue).ok(); });
    row("rcache blocking, 16 threads", "SET", s16,
        ratio("of blocking pool", s16.ops_per_s, s.ops_per_s, 1.5).c_str());
    const auto g16 =
        run_threads(16, seconds, [&](std::size_t i) { return client.get(key_of(i)).ok(); });
    row("rcache blocking, 16 threads", "GET", g16,
        ratio("of blocking pool", g16.ops_per_s, g.ops_per_s, 1.5).c_str());
  }

  auto async_set = [&](std::size_t i, auto done) {
    client.set_async(key_of(i), kValue, {}, [done](rcache::Result<bool> r) { done(r.ok()); });
  };
  auto async_get = [&](std::size_t i, auto done) {
    client.get_async(key_of(i),
                     [done](rcache::Result<std::optional<std::string>> r) { done(r.ok()); });
  };
  using Done = std::function<void(bool)>;
  const auto as = run_async(64, seconds, [&](std::size_t i, Done d) { async_set(i, d); });
  char note[128];
  std::snprintf(note, sizeof note, "target 500000 ops/s: %s",
                as.ops_per_s >= 500000 ? "met" : "NOT met");
  row("rcache async, 1 thread, 64 in flight", "SET", as, note);
  const auto ag = run_async(64, seconds, [&](std::size_t i, Done d) { async_get(i, d); });
  std::snprintf(note, sizeof note, "target 500000 ops/s: %s",
                ag.ops_per_s >= 500000 ? "met" : "NOT met");
  row("rcache async, 1 thread, 64 in flight", "GET", ag, note);

  // --- fail fast: cost of a call refused by an open breaker (no socket touched) ---
  client.force_breaker_open();
  const auto open = run_threads(1, seconds / 2, [&](std::size_t i) {
    auto r = client.get(key_of(i));
    return !r.ok() && r.error().code == rcache::Errc::circuit_open;
  });
  std::snprintf(note, sizeof note, "%.0f ns per refused call", 1e9 / open.ops_per_s);
  row("rcache breaker forced open, 1 thread", "GET", open, note);
  client.reset_breaker();
  return 0;
}
