// Issue 11's workloads: rcache beside its peers (hiredis sync, a pool of one blocking hiredis
// connection per thread, hiredis 0.14 async + libuv, redis-benchmark) in one run, on one
// redis-server, with the contenders of every workload interleaved run by run. Figures are printed,
// never asserted. Placement is the caller's: scripts/bench.sh starts the server and pins it and
// this process with taskset (S: server CPU 0, client CPU 1; C: both CPU 0; U: unpinned); this
// program only reports where it and the server run.
//
//   compare_bench [--port P] [--runs N] [--seconds S] [--placement S|C|U] [--spin-us N]
//                 [--only 1,2,3,4,5,6] [--ceiling-threads T] [--ceiling-depth D] [--ceiling-pool P]
//
// Without --port the server is taken from REDIS_URL (scripts/with-redis.sh). Only 127.0.0.1.
//
// Per contender and run: ops/s; client CPU µs per op (getrusage RUSAGE_SELF user+system over the
// timed window, so rcache's loop thread counts; for redis-benchmark the child's own rusage from
// wait4); server CPU µs per op (INFO cpu used_cpu_sys + used_cpu_user, read over a side
// connection before and after the window). Every rcache Client, hiredis connection and libuv
// loop is made before its window and closed after it, so no contender pays for another's idle
// threads. The table shows the median of each figure over the runs and rcache / peer ratios of
// those medians against issue 11's targets. Progress goes to stderr, the markdown table to stdout.
#include <fcntl.h>
#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sched.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <random>
#include <rcache/rcache.hpp>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kKeys = 10000;
constexpr std::size_t kValueSize = 100;
constexpr int kBigKeys = 256;  // keys per SET contender of workloads 4 and 5
constexpr std::uint64_t kMaxOpsPerThread = 1'000'000'000;  // loop bound, never reached
constexpr auto kDrainBound = std::chrono::seconds(30);     // longest wait for calls in flight

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  int runs = 5;
  double seconds = 2.0;
  char placement = 'U';
  long spin_us = -1;  // < 0: the library default
  std::vector<int> only;
  int ceiling_threads = 2;
  int ceiling_depth = 256;
  int ceiling_pool = 4;
};

Options g_opt;
std::vector<std::string> g_keys;  // "key:000000001234": redis-benchmark's -r 10000 key names
std::string g_value100;
std::string g_json4k;
std::string g_random64k;

const std::string& key_at(std::uint64_t i) {
  return g_keys[i % kKeys];
}

double seconds_of(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
}

double self_cpu_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return seconds_of(u.ru_utime) + seconds_of(u.ru_stime);
}

std::string cpus_of_self() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return "?";
  std::string out;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) out += (out.empty() ? "" : ",") + std::to_string(c);
  }
  return out;
}

std::string cpus_of_pid(long pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/status";
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return "?";
  char line[256];
  std::string out = "?";
  for (int n = 0; n < 200 && std::fgets(line, sizeof line, f) != nullptr; ++n) {
    if (std::strncmp(line, "Cpus_allowed_list:", 18) == 0) {
      out = line + 18;
      out.erase(0, out.find_first_not_of(" \t"));
      while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
      break;
    }
  }
  std::fclose(f);
  return out;
}

// ---- side connection: server CPU, strlen, INFO fields ----------------------------------------

class Side {
 public:
  ~Side() {
    if (c_ != nullptr) redisFree(c_);
  }
  bool open() {
    timeval tv{2, 0};
    c_ = redisConnectWithTimeout(g_opt.host.c_str(), g_opt.port, tv);
    if (c_ == nullptr || c_->err != 0) return false;
    timeval rw{5, 0};
    redisSetTimeout(c_, rw);
    return true;
  }
  redisContext* raw() { return c_; }

  // "field:value" from INFO <section>; "" when absent.
  std::string info_field(const char* section, const char* field) {
    auto* r = static_cast<redisReply*>(redisCommand(c_, "INFO %s", section));
    std::string out;
    if (r != nullptr && r->type == REDIS_REPLY_STRING) {
      const std::string text(r->str, r->len);
      const std::string needle = std::string(field) + ":";
      std::size_t at = text.find(needle);
      while (at != std::string::npos && at != 0 && text[at - 1] != '\n') {
        at = text.find(needle, at + 1);
      }
      if (at != std::string::npos) {
        const std::size_t from = at + needle.size();
        out = text.substr(from, text.find_first_of("\r\n", from) - from);
      }
    }
    if (r != nullptr) freeReplyObject(r);
    return out;
  }

  // used_cpu_sys + used_cpu_user of the server process; NaN if INFO failed.
  double server_cpu_s() {
    auto* r = static_cast<redisReply*>(redisCommand(c_, "INFO cpu"));
    double out = std::nan("");
    if (r != nullptr && r->type == REDIS_REPLY_STRING) {
      const char* sys = std::strstr(r->str, "\nused_cpu_sys:");
      const char* user = std::strstr(r->str, "\nused_cpu_user:");
      if (sys != nullptr && user != nullptr) {
        out = std::strtod(sys + 14, nullptr) + std::strtod(user + 15, nullptr);
      }
    }
    if (r != nullptr) freeReplyObject(r);
    return out;
  }

  long long strlen_of(const std::string& key) {
    auto* r = static_cast<redisReply*>(redisCommand(c_, "STRLEN %b", key.data(), key.size()));
    const long long n = (r != nullptr && r->type == REDIS_REPLY_INTEGER) ? r->integer : -1;
    if (r != nullptr) freeReplyObject(r);
    return n;
  }

  // Writes the 10,000 GET keys (100-byte values) in pipelined chunks.
  bool prefill() {
    for (int from = 0; from < kKeys; from += 1000) {
      const int to = std::min(kKeys, from + 1000);
      for (int i = from; i < to; ++i) {
        const auto& k = g_keys[static_cast<std::size_t>(i)];
        redisAppendCommand(c_, "SET %b %b", k.data(), k.size(), g_value100.data(),
                           g_value100.size());
      }
      for (int i = from; i < to; ++i) {
        void* reply = nullptr;
        if (redisGetReply(c_, &reply) != REDIS_OK || reply == nullptr) return false;
        freeReplyObject(reply);
      }
    }
    return true;
  }

 private:
  redisContext* c_ = nullptr;
};

// ---- one measurement ---------------------------------------------------------------------------

struct Sample {
  double ops_s = 0;
  double cli_us = 0;  // client CPU per op
  double srv_us = 0;  // server CPU per op
  std::uint64_t ops = 0;
  std::uint64_t errors = 0;
  bool failed = false;  // the contender could not run at all (setup failed)
};

Sample failed_sample() {
  Sample s;
  s.failed = true;
  return s;
}

class Window {
 public:
  explicit Window(Side& side) : side_(side) {}
  void begin() {
    srv0_ = side_.server_cpu_s();
    self0_ = self_cpu_s();
    t0_ = Clock::now();
  }
  Sample end(std::uint64_t ops, std::uint64_t errors) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0_).count();
    const double self1 = self_cpu_s();
    const double srv1 = side_.server_cpu_s();
    Sample s;
    s.ops = ops;
    s.errors = errors;
    if (ops > 0 && elapsed > 0) {
      const auto n = static_cast<double>(ops);
      s.ops_s = n / elapsed;
      s.cli_us = (self1 - self0_) * 1e6 / n;
      s.srv_us = (srv1 - srv0_) * 1e6 / n;
    }
    return s;
  }

 private:
  Side& side_;
  Clock::time_point t0_;
  double self0_ = 0, srv0_ = 0;
};

void sleep_s(double s) {
  std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

// `threads` threads each calling op(thread, i) until the window closes; each thread's setup is
// done by the caller before (connections), so the window holds only the calls.
template <class Op>
Sample run_blocking(Side& side, int threads, double seconds, Op op) {
  const auto n = static_cast<std::size_t>(threads);
  std::vector<std::uint64_t> ok(n, 0), err(n, 0);
  std::atomic<bool> stop{false};
  std::latch go(1);
  std::vector<std::thread> ts;
  ts.reserve(n);
  for (std::size_t t = 0; t < n; ++t) {
    ts.emplace_back([&, t] {
      go.wait();
      std::uint64_t mine_ok = 0, mine_err = 0;
      const std::uint64_t seed = t * 1237;
      for (std::uint64_t i = seed;
           i < seed + kMaxOpsPerThread && !stop.load(std::memory_order_relaxed); ++i) {
        if (op(t, i)) {
          ++mine_ok;
        } else {
          ++mine_err;
        }
      }
      ok[t] = mine_ok;
      err[t] = mine_err;
    });
  }
  Window w(side);
  w.begin();
  go.count_down();
  sleep_s(seconds);
  stop = true;
  for (auto& t : ts) t.join();
  std::uint64_t total_ok = 0, total_err = 0;
  for (std::size_t t = 0; t < n; ++t) {
    total_ok += ok[t];
    total_err += err[t];
  }
  return w.end(total_ok + total_err, total_err);
}

// ---- rcache ------------------------------------------------------------------------------------

rcache::Config base_config() {
  rcache::Config cfg;
  cfg.host = g_opt.host;
  cfg.port = g_opt.port;
  cfg.client_name = "compare_bench";
  // Throughput is measured, not timeouts: generous bounds so that a slow placement (C, 16
  // threads, 64 KiB values) never turns into errors.
  cfg.command_timeout = std::chrono::seconds(5);
  cfg.deadline = std::chrono::seconds(10);
  if (g_opt.spin_us >= 0) cfg.blocking_spin = std::chrono::microseconds(g_opt.spin_us);
  return cfg;
}

// A Client with every pool connection ready, or null.
std::unique_ptr<rcache::Client> make_client(const rcache::Config& cfg) {
  auto created = rcache::Client::create(cfg);
  if (!created) {
    std::fprintf(stderr, "compare_bench: %s\n", created.error().to_string().c_str());
    return nullptr;
  }
  auto client = std::move(*created);
  for (int i = 0; i < 500 && client->pool_status().ready < cfg.pool_size; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!client->ping().ok()) {
    std::fprintf(stderr, "compare_bench: rcache client cannot reach the server\n");
    return nullptr;
  }
  return client;
}

Sample rcache_blocking_get(Side& side, int threads, double seconds) {
  auto client = make_client(base_config());
  if (!client) return failed_sample();
  return run_blocking(side, threads, seconds, [&](std::size_t, std::uint64_t i) {
    auto r = client->get(key_at(i));
    return r.ok() && r->has_value();
  });
}

Sample rcache_blocking_set(Side& side, double seconds, bool compression, const std::string& value,
                           const std::string& prefix) {
  auto cfg = base_config();
  cfg.compression = compression;
  auto client = make_client(cfg);
  if (!client) return failed_sample();
  std::vector<std::string> keys;
  for (int i = 0; i < kBigKeys; ++i) keys.push_back(prefix + std::to_string(i));
  return run_blocking(side, 1, seconds, [&](std::size_t, std::uint64_t i) {
    return client->set(keys[i % kBigKeys], value).ok();
  });
}

// One thread starts `depth` async GETs; each completion (on the loop thread) starts the next
// until the window closes. The state outlives the Client (declared first), so a completion that
// arrives late, even at shutdown, finds it.
class RcacheAsync {
 public:
  Sample run(Side& side, int depth, double seconds) {
    client_ = make_client(base_config());
    if (!client_) return failed_sample();
    Window w(side);
    w.begin();
    outstanding_ = depth;
    for (int i = 0; i < depth; ++i) {
      if (!issue()) outstanding_.fetch_sub(1);
    }
    sleep_s(seconds);
    stop_ = true;
    bool drained = false;
    {
      std::unique_lock l(mu_);
      drained = cv_.wait_for(l, kDrainBound, [&] { return outstanding_.load() == 0; });
    }
    Sample s = w.end(done_.load() + errors_.load(), errors_.load());
    if (!drained) {
      std::fprintf(stderr, "compare_bench: rcache async: calls still in flight after 30 s\n");
      s.errors += 1;
    }
    client_.reset();  // completes anything left with Errc::shutdown; *this is still alive
    return s;
  }

 private:
  bool issue() noexcept {
    try {
      const auto i = seq_.fetch_add(1, std::memory_order_relaxed);
      client_->get_async(key_at(i), [this](rcache::Result<std::optional<std::string>> r) {
        on_reply(r.ok() && r->has_value());
      });
      return true;
    } catch (...) {
      errors_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  }
  void on_reply(bool ok) noexcept {
    (ok ? done_ : errors_).fetch_add(1, std::memory_order_relaxed);
    if (!stop_.load(std::memory_order_acquire) && issue()) return;
    if (outstanding_.fetch_sub(1) == 1) {
      std::lock_guard l(mu_);
      cv_.notify_all();
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<int> outstanding_{0};
  std::atomic<std::uint64_t> seq_{0}, done_{0}, errors_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::unique_ptr<rcache::Client> client_;  // last: destroyed first
};

// `threads` threads, each keeping up to `depth` async GETs in flight: it tops up to `depth`, then
// sleeps until its completions bring it down to depth/2 (one wake-up per depth/2 completions).
class RcacheCeiling {
 public:
  Sample run(Side& side, int threads, int depth, std::size_t pool, double seconds) {
    auto cfg = base_config();
    cfg.pool_size = pool;
    client_ = make_client(cfg);
    if (!client_) return failed_sample();
    lanes_.clear();
    for (int t = 0; t < threads; ++t) lanes_.push_back(std::make_unique<Lane>());
    const int low = depth / 2;
    std::latch go(1);
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        Lane& lane = *lanes_[static_cast<std::size_t>(t)];
        go.wait();
        std::uint64_t i = static_cast<std::uint64_t>(t) * 4099;
        for (std::uint64_t round = 0; round < kMaxOpsPerThread && !stop_.load(); ++round) {
          while (lane.inflight.load() < depth && !stop_.load(std::memory_order_relaxed)) {
            lane.inflight.fetch_add(1);
            if (!issue(lane, low, i++)) lane.inflight.fetch_sub(1);
          }
          std::unique_lock l(lane.mu);
          lane.cv.wait_for(l, std::chrono::milliseconds(50),
                           [&] { return lane.inflight.load() <= low || stop_.load(); });
        }
        std::unique_lock l(lane.mu);
        lane.drained = lane.cv.wait_for(l, kDrainBound, [&] { return lane.inflight.load() == 0; });
      });
    }
    Window w(side);
    w.begin();
    go.count_down();
    sleep_s(seconds);
    stop_ = true;
    for (auto& lane : lanes_) {
      std::lock_guard l(lane->mu);
      lane->cv.notify_all();
    }
    for (auto& t : ts) t.join();
    std::uint64_t done = 0, errors = 0;
    for (auto& lane : lanes_) {
      done += lane->done.load();
      errors += lane->errors.load();
      if (!lane->drained) ++errors;
    }
    Sample s = w.end(done + errors, errors);
    client_.reset();
    return s;
  }

 private:
  struct Lane {
    std::atomic<int> inflight{0};
    std::atomic<std::uint64_t> done{0}, errors{0};
    std::mutex mu;
    std::condition_variable cv;
    bool drained = false;
  };
  bool issue(Lane& lane, int low, std::uint64_t i) noexcept {
    try {
      client_->get_async(key_at(i),
                         [&lane, low](rcache::Result<std::optional<std::string>> r) noexcept {
                           (r.ok() && r->has_value() ? lane.done : lane.errors)
                               .fetch_add(1, std::memory_order_relaxed);
                           const int left = lane.inflight.fetch_sub(1) - 1;
                           if (left == low || left == 0) {
                             std::lock_guard l(lane.mu);
                             lane.cv.notify_all();
                           }
                         });
      return true;
    } catch (...) {
      lane.errors.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  }

  std::atomic<bool> stop_{false};
  std::vector<std::unique_ptr<Lane>> lanes_;
  std::unique_ptr<rcache::Client> client_;  // last: destroyed first
};

// ---- hiredis sync (one connection per thread) ---------------------------------------------------

redisContext* hiredis_connect() {
  timeval tv{2, 0};
  redisContext* c = redisConnectWithTimeout(g_opt.host.c_str(), g_opt.port, tv);
  if (c == nullptr || c->err != 0) {
    std::fprintf(stderr, "compare_bench: hiredis connect: %s\n", c ? c->errstr : "no memory");
    if (c != nullptr) redisFree(c);
    return nullptr;
  }
  timeval rw{5, 0};
  redisSetTimeout(c, rw);
  return c;
}

struct Contexts {
  std::vector<redisContext*> all;
  ~Contexts() {
    for (auto* c : all) redisFree(c);
  }
  bool open(int n) {
    for (int i = 0; i < n; ++i) {
      redisContext* c = hiredis_connect();
      if (c == nullptr) return false;
      all.push_back(c);
    }
    return true;
  }
};

bool hiredis_get(redisContext* c, const std::string& k) {
  auto* r = static_cast<redisReply*>(redisCommand(c, "GET %b", k.data(), k.size()));
  const bool ok = r != nullptr && r->type == REDIS_REPLY_STRING;
  if (r != nullptr) freeReplyObject(r);
  return ok;
}

bool hiredis_set(redisContext* c, const std::string& k, const std::string& v) {
  auto* r = static_cast<redisReply*>(
      redisCommand(c, "SET %b %b", k.data(), k.size(), v.data(), v.size()));
  const bool ok = r != nullptr && r->type == REDIS_REPLY_STATUS;
  if (r != nullptr) freeReplyObject(r);
  return ok;
}

Sample hiredis_pool_get(Side& side, int threads, double seconds) {
  Contexts ctx;
  if (!ctx.open(threads)) return failed_sample();
  return run_blocking(side, threads, seconds, [&](std::size_t t, std::uint64_t i) {
    return hiredis_get(ctx.all[t], key_at(i));
  });
}

Sample hiredis_sync_set(Side& side, double seconds, const std::string& value,
                        const std::string& prefix) {
  Contexts ctx;
  if (!ctx.open(1)) return failed_sample();
  std::vector<std::string> keys;
  for (int i = 0; i < kBigKeys; ++i) keys.push_back(prefix + std::to_string(i));
  return run_blocking(side, 1, seconds, [&](std::size_t, std::uint64_t i) {
    return hiredis_set(ctx.all[0], keys[i % kBigKeys], value);
  });
}

// ---- hiredis 0.14 async + libuv: one thread, `depth` GETs in flight
// ------------------------------
//
// Quirks of the 0.14 adapter: the connect callback must be set after redisLibuvAttach (setting
// it arms the write event that reports the connection); a poll error is ignored by the adapter
// (so a guard timer bounds every uv_run here); the adapter's poll handle is closed (and freed) by
// redisAsyncFree through uv_close, so the loop must run once more before uv_loop_close.

class HiredisAsync {
 public:
  Sample run(Side& side, int depth, double seconds) {
    if (uv_loop_init(&loop_) != 0) return failed_sample();
    uv_timer_init(&loop_, &stop_timer_);
    uv_timer_init(&loop_, &guard_timer_);
    stop_timer_.data = this;
    guard_timer_.data = this;
    Sample s = failed_sample();
    if (connect()) {
      Window w(side);
      w.begin();
      outstanding_ = depth;
      for (int i = 0; i < depth; ++i) {
        if (!issue()) --outstanding_;
      }
      uv_timer_start(&stop_timer_, on_stop_timer, static_cast<std::uint64_t>(seconds * 1000.0), 0);
      uv_timer_start(&guard_timer_, on_guard_timer,
                     static_cast<std::uint64_t>(seconds * 1000.0) + 30000, 0);
      if (outstanding_ > 0) uv_run(&loop_, UV_RUN_DEFAULT);
      s = w.end(done_ + errors_, errors_ + (outstanding_ > 0 ? 1 : 0));
      uv_timer_stop(&guard_timer_);
    }
    close_all();
    return s;
  }

 private:
  bool connect() {
    ac_ = redisAsyncConnect(g_opt.host.c_str(), g_opt.port);
    if (ac_ == nullptr || ac_->err != 0) {
      std::fprintf(stderr, "compare_bench: hiredis async connect: %s\n",
                   ac_ ? ac_->errstr : "no memory");
      if (ac_ != nullptr) redisAsyncFree(ac_);
      ac_ = nullptr;
      return false;
    }
    ac_->data = this;
    if (redisLibuvAttach(ac_, &loop_) != REDIS_OK) {
      redisAsyncFree(ac_);
      ac_ = nullptr;
      return false;
    }
    redisAsyncSetConnectCallback(ac_, on_connect);
    redisAsyncSetDisconnectCallback(ac_, on_disconnect);
    uv_timer_start(&guard_timer_, on_guard_timer, 5000, 0);
    for (int i = 0; i < 100000 && !connected_ && !failed_; ++i) uv_run(&loop_, UV_RUN_ONCE);
    uv_timer_stop(&guard_timer_);
    if (!connected_) {
      std::fprintf(stderr, "compare_bench: hiredis async: no connection\n");
      return false;
    }
    return true;
  }

  bool issue() {
    const std::string& k = key_at(seq_++);
    return redisAsyncCommand(ac_, on_reply, nullptr, "GET %b", k.data(), k.size()) == REDIS_OK;
  }

  static void on_connect(const redisAsyncContext* ac, int status) {
    auto* self = static_cast<HiredisAsync*>(ac->data);
    if (status == REDIS_OK) {
      self->connected_ = true;
    } else {
      self->failed_ = true;
      self->ac_ = nullptr;  // a failed connect is freed by hiredis after this callback
    }
  }
  static void on_disconnect(const redisAsyncContext* ac, int) {
    auto* self = static_cast<HiredisAsync*>(ac->data);
    self->failed_ = true;
    self->ac_ = nullptr;  // hiredis frees it after this callback
  }
  static void on_reply(redisAsyncContext* ac, void* reply, void*) {
    auto* self = static_cast<HiredisAsync*>(ac->data);
    auto* r = static_cast<redisReply*>(reply);
    if (r != nullptr && r->type == REDIS_REPLY_STRING) {
      ++self->done_;
    } else {
      ++self->errors_;
    }
    if (r != nullptr && !self->stop_ && self->issue()) return;
    if (--self->outstanding_ == 0) uv_stop(&self->loop_);
  }
  static void on_stop_timer(uv_timer_t* t) {
    auto* self = static_cast<HiredisAsync*>(t->data);
    self->stop_ = true;
    if (self->outstanding_ == 0) uv_stop(&self->loop_);
  }
  static void on_guard_timer(uv_timer_t* t) {
    auto* self = static_cast<HiredisAsync*>(t->data);
    self->failed_ = true;
    uv_stop(&self->loop_);
  }

  void close_all() {
    if (ac_ != nullptr) {
      redisAsyncContext* ac = ac_;
      ac_ = nullptr;
      redisAsyncFree(ac);  // pending callbacks get a null reply; the adapter closes its handle
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&stop_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&guard_timer_), nullptr);
    for (int i = 0; i < 100 && uv_run(&loop_, UV_RUN_NOWAIT) != 0; ++i) {
    }
    if (uv_loop_close(&loop_) != 0) {
      std::fprintf(stderr, "compare_bench: hiredis async: libuv loop not closed cleanly\n");
    }
  }

  uv_loop_t loop_{};
  uv_timer_t stop_timer_{}, guard_timer_{};
  redisAsyncContext* ac_ = nullptr;
  bool connected_ = false, failed_ = false, stop_ = false;
  int outstanding_ = 0;
  std::uint64_t seq_ = 0, done_ = 0, errors_ = 0;
};

// ---- redis-benchmark
// ------------------------------------------------------------------------------

struct RbResult {
  bool ok = false;
  double rps = 0;
  double cpu_s = 0;  // the child's user + system time (wait4)
};

RbResult redis_benchmark(int clients, int pipeline, long requests) {
  RbResult out;
  const std::vector<std::string> args = {"redis-benchmark",
                                         "-h",
                                         g_opt.host,
                                         "-p",
                                         std::to_string(g_opt.port),
                                         "-t",
                                         "get",
                                         "-d",
                                         std::to_string(kValueSize),
                                         "-r",
                                         std::to_string(kKeys),
                                         "-n",
                                         std::to_string(requests),
                                         "-c",
                                         std::to_string(clients),
                                         "-P",
                                         std::to_string(pipeline),
                                         "--csv"};
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return out;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, "redis-benchmark", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    std::fprintf(stderr, "compare_bench: cannot run redis-benchmark: %s\n", std::strerror(rc));
    return out;
  }
  std::string text;
  char buf[4096];
  for (int i = 0; i < 100000; ++i) {  // its output is a few lines; EOF when it exits
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  rusage ru{};
  if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "compare_bench: redis-benchmark failed\n");
    return out;
  }
  out.cpu_s = seconds_of(ru.ru_utime) + seconds_of(ru.ru_stime);
  // --csv: "test","rps","avg_latency_ms",...  then  "GET","123456.78",...
  const std::size_t at = text.find("\"GET\",\"");
  if (at == std::string::npos) return out;
  out.rps = std::strtod(text.c_str() + at + 7, nullptr);
  out.ok = out.rps > 0;
  return out;
}

// A redis-benchmark contender: calibrated once with a short run, then sized to `seconds` from
// the rate of its previous run.
class RbContender {
 public:
  RbContender(int clients, int pipeline) : clients_(clients), pipeline_(pipeline) {}
  Sample run(Side& side, double seconds) {
    if (rate_ <= 0) {
      const RbResult cal =
          redis_benchmark(clients_, pipeline_, std::max(2000L, 500L * clients_ * pipeline_));
      if (!cal.ok) return failed_sample();
      rate_ = cal.rps;
    }
    const long at_least = std::max(1000L, 10L * clients_ * pipeline_);
    const long n = std::max(at_least, static_cast<long>(rate_ * seconds));
    const double srv0 = side.server_cpu_s();
    const RbResult r = redis_benchmark(clients_, pipeline_, n);
    const double srv1 = side.server_cpu_s();
    if (!r.ok) return failed_sample();
    rate_ = r.rps;
    Sample s;
    s.ops = static_cast<std::uint64_t>(n);
    s.ops_s = r.rps;
    s.cli_us = r.cpu_s * 1e6 / static_cast<double>(n);
    s.srv_us = (srv1 - srv0) * 1e6 / static_cast<double>(n);
    return s;
  }

 private:
  int clients_, pipeline_;
  double rate_ = 0;
};

// ---- workloads, targets, table
// ----------------------------------------------------------------------

enum class Target { one_caller, threads, async, json4k, random64k, ceiling };

struct Contender {
  std::string name;
  std::function<Sample(Side&, double)> run;
  std::vector<Sample> samples;
};

struct Workload {
  int id;
  std::string title;
  Target target;
  std::vector<Contender> cs;  // cs[0]: rcache (the subject); cs[1]: the peer of its target
};

double median_of(const std::vector<Sample>& v, double Sample::*field) {
  std::vector<double> xs;
  for (const auto& s : v) {
    if (!s.failed && s.ops > 0 && std::isfinite(s.*field)) xs.push_back(s.*field);
  }
  if (xs.empty()) return std::nan("");
  std::sort(xs.begin(), xs.end());
  const std::size_t m = xs.size() / 2;
  return xs.size() % 2 == 1 ? xs[m] : (xs[m - 1] + xs[m]) / 2;
}

struct Medians {
  double ops = 0, cli = 0, srv = 0;
  std::uint64_t errors = 0;
  int failed = 0;
};

Medians medians(const Contender& c) {
  Medians m;
  m.ops = median_of(c.samples, &Sample::ops_s);
  m.cli = median_of(c.samples, &Sample::cli_us);
  m.srv = median_of(c.samples, &Sample::srv_us);
  for (const auto& s : c.samples) {
    m.errors += s.errors;
    if (s.failed) ++m.failed;
  }
  return m;
}

std::string fmt_ops(double v) {
  if (!std::isfinite(v)) return "n/a";
  const auto n = static_cast<long long>(std::llround(v));
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string fmt_us(double v) {
  if (!std::isfinite(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : "%.2f", v);
  return buf;
}

std::string fmt_x(double v) {
  if (!std::isfinite(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f×", v);
  return buf;
}

const char* target_text(Target t) {
  switch (t) {
    case Target::one_caller:
      return "≥ 0.95× ops, ≤ 1.2× client CPU";
    case Target::threads:
      return "≥ 1.5× ops, server CPU ≤ 1.0×";
    case Target::async:
      return "≥ 1.0× ops, ≤ 1.0× client CPU";
    case Target::json4k:
      return "≥ 0.7× ops";
    case Target::random64k:
      return "≥ 0.8× ops";
    case Target::ceiling:
      return "report the fraction";
  }
  return "";
}

// "**met**" / "**not met** (why)" from the medians of the subject and its peer.
std::string status_of(Target t, const Medians& me, const Medians& peer) {
  const double ops = me.ops / peer.ops, cli = me.cli / peer.cli, srv = me.srv / peer.srv;
  if (!std::isfinite(ops)) return "n/a (a contender failed)";
  std::vector<std::string> misses;
  auto need = [&](bool ok, const char* what, double v, const char* bound) {
    if (!ok) misses.push_back(std::string(what) + " " + fmt_x(v) + " " + bound);
  };
  switch (t) {
    case Target::one_caller:
      need(ops >= 0.95, "ops", ops, "< 0.95×");
      need(cli <= 1.2, "CPU", cli, "> 1.2×");
      break;
    case Target::threads:
      need(ops >= 1.5, "ops", ops, "< 1.5×");
      need(srv <= 1.0, "server CPU", srv, "> 1.0×");
      break;
    case Target::async:
      need(ops >= 1.0, "ops", ops, "< 1.0×");
      need(cli <= 1.0, "CPU", cli, "> 1.0×");
      break;
    case Target::json4k:
      need(ops >= 0.7, "ops", ops, "< 0.7×");
      break;
    case Target::random64k:
      need(ops >= 0.8, "ops", ops, "< 0.8×");
      break;
    case Target::ceiling: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "**%.0f %%** of redis-benchmark", 100.0 * ops);
      return buf;
    }
  }
  if (me.errors > 0) misses.push_back(std::to_string(me.errors) + " errors");
  if (misses.empty()) return "**met**";
  std::string out = "**not met** (";
  for (std::size_t i = 0; i < misses.size(); ++i) out += (i ? ", " : "") + misses[i];
  return out + ")";
}

std::vector<Workload> make_workloads() {
  std::vector<Workload> ws;
  auto wanted = [](int id) {
    return g_opt.only.empty() ||
           std::find(g_opt.only.begin(), g_opt.only.end(), id) != g_opt.only.end();
  };
  auto rb = [](int c, int p) {
    auto shared = std::make_shared<RbContender>(c, p);
    return [shared](Side& side, double secs) { return shared->run(side, secs); };
  };
  if (wanted(1)) {
    ws.push_back(
        {1,
         "1 blocking caller GET",
         Target::one_caller,
         {{"rcache `get`", [](Side& d, double x) { return rcache_blocking_get(d, 1, x); }, {}},
          {"hiredis sync", [](Side& d, double x) { return hiredis_pool_get(d, 1, x); }, {}},
          {"redis-benchmark -c 1 -P 1", rb(1, 1), {}}}});
  }
  if (wanted(2)) {
    for (int n : {4, 16}) {
      ws.push_back({2,
                    std::to_string(n) + " blocking threads GET",
                    Target::threads,
                    {{"rcache, one Client",
                      [n](Side& d, double x) { return rcache_blocking_get(d, n, x); },
                      {}},
                     {"hiredis, 1 connection per thread",
                      [n](Side& d, double x) { return hiredis_pool_get(d, n, x); },
                      {}},
                     {"redis-benchmark -c " + std::to_string(n), rb(n, 1), {}}}});
    }
  }
  if (wanted(3)) {
    ws.push_back({3,
                  "1 thread, 64 async in flight GET",
                  Target::async,
                  {{"rcache `get_async` (callback)",
                    [](Side& d, double x) { return RcacheAsync().run(d, 64, x); },
                    {}},
                   {"hiredis 0.14 async + libuv",
                    [](Side& d, double x) { return HiredisAsync().run(d, 64, x); },
                    {}},
                   {"redis-benchmark -c 1 -P 64", rb(1, 64), {}}}});
  }
  if (wanted(4)) {
    ws.push_back(
        {4,
         "1 caller SET 4 KiB JSON",
         Target::json4k,
         {{"rcache, compression on",
           [](Side& d, double x) {
             return rcache_blocking_set(d, x, true, g_json4k, "cmp:json:on:");
           },
           {}},
          {"rcache, compression off",
           [](Side& d, double x) {
             return rcache_blocking_set(d, x, false, g_json4k, "cmp:json:off:");
           },
           {}},
          {"hiredis sync",
           [](Side& d, double x) { return hiredis_sync_set(d, x, g_json4k, "cmp:json:hs:"); },
           {}}}});
  }
  if (wanted(5)) {
    ws.push_back(
        {5,
         "1 caller SET 64 KiB random",
         Target::random64k,
         {{"rcache, compression on",
           [](Side& d, double x) {
             return rcache_blocking_set(d, x, true, g_random64k, "cmp:rand:on:");
           },
           {}},
          {"rcache, compression off",
           [](Side& d, double x) {
             return rcache_blocking_set(d, x, false, g_random64k, "cmp:rand:off:");
           },
           {}},
          {"hiredis sync",
           [](Side& d, double x) { return hiredis_sync_set(d, x, g_random64k, "cmp:rand:hs:"); },
           {}}}});
  }
  if (wanted(6)) {
    const int t = g_opt.ceiling_threads, d = g_opt.ceiling_depth, p = g_opt.ceiling_pool;
    ws.push_back({6,
                  "near the ceiling, GET",
                  Target::ceiling,
                  {{"rcache, " + std::to_string(t) + " threads × " + std::to_string(d) +
                        " async, pool " + std::to_string(p),
                    [t, d, p](Side& side, double x) {
                      return RcacheCeiling().run(side, t, d, static_cast<std::size_t>(p), x);
                    },
                    {}},
                   {"redis-benchmark -c 50 -P 16", rb(50, 16), {}}}});
  }
  return ws;
}

// Compressible, JSON-like: Airtable-style records, cut to exactly 4 KiB.
std::string make_json(std::size_t size) {
  static const char* const kStatus[] = {"active", "pending", "closed", "archived"};
  static const char* const kTags[] = {"vip", "eu", "trial", "renewal", "churn-risk", "partner"};
  std::mt19937 rng(11);
  std::string out = "[";
  for (int i = 0; out.size() < size && i < 10000; ++i) {
    char rec[400];
    std::snprintf(rec, sizeof rec,
                  "{\"id\":\"rec%08u\",\"fields\":{\"Name\":\"Customer %u\",\"Status\":\"%s\","
                  "\"Amount\":%u.%02u,\"Tags\":[\"%s\",\"%s\"],\"Contact\":{\"email\":"
                  "\"user%u@example.com\",\"phone\":\"+1-555-%04u\"},\"Notes\":\"Called on "
                  "2026-11-%02u, follow up next week\"}},",
                  static_cast<unsigned>(rng() % 100000000), static_cast<unsigned>(rng() % 5000),
                  kStatus[rng() % 4], static_cast<unsigned>(rng() % 10000),
                  static_cast<unsigned>(rng() % 100), kTags[rng() % 6], kTags[rng() % 6],
                  static_cast<unsigned>(rng() % 5000), static_cast<unsigned>(rng() % 10000),
                  static_cast<unsigned>(1 + rng() % 28));
    out += rec;
  }
  out.resize(size);
  out.back() = ']';
  return out;
}

std::string make_random(std::size_t size) {
  std::mt19937_64 rng(64);
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; i += 8) {
    const std::uint64_t x = rng();
    std::memcpy(out.data() + i, &x, std::min<std::size_t>(8, size - i));
  }
  return out;
}

bool parse_args(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "compare_bench: %s needs a value\n", a.c_str());
      return false;
    }
    const char* v = argv[++i];
    if (a == "--port") {
      g_opt.port = std::atoi(v);
    } else if (a == "--runs") {
      g_opt.runs = std::clamp(std::atoi(v), 1, 50);
    } else if (a == "--seconds") {
      g_opt.seconds = std::clamp(std::atof(v), 0.1, 60.0);
    } else if (a == "--placement") {
      g_opt.placement = v[0];
    } else if (a == "--spin-us") {
      g_opt.spin_us = std::clamp(std::atol(v), 0L, 1000000L);
    } else if (a == "--only") {
      for (const char* p = v; *p != '\0'; ++p) {
        if (*p >= '1' && *p <= '6') g_opt.only.push_back(*p - '0');
      }
    } else if (a == "--ceiling-threads") {
      g_opt.ceiling_threads = std::clamp(std::atoi(v), 1, 64);
    } else if (a == "--ceiling-depth") {
      g_opt.ceiling_depth = std::clamp(std::atoi(v), 2, 4096);
    } else if (a == "--ceiling-pool") {
      g_opt.ceiling_pool = std::clamp(std::atoi(v), 1, 64);
    } else {
      std::fprintf(stderr, "compare_bench: unknown option %s\n", a.c_str());
      return false;
    }
  }
  if (g_opt.port == 0) {
    auto cfg = rcache::Config::from_env();
    if (!cfg) {
      std::fprintf(stderr, "compare_bench: %s\n", cfg.error().to_string().c_str());
      return false;
    }
    g_opt.host = cfg->host;
    g_opt.port = cfg->port;
  }
  if (g_opt.host != "127.0.0.1" || g_opt.port <= 0 || g_opt.port > 65535) {
    std::fprintf(stderr, "compare_bench: only a server on 127.0.0.1 (got %s:%d)\n",
                 g_opt.host.c_str(), g_opt.port);
    return false;
  }
  return true;
}

const char* placement_text(char p) {
  switch (p) {
    case 'S':
      return "server CPU 0, client process CPU 1";
    case 'C':
      return "server and client process on CPU 0";
    default:
      return "unpinned";
  }
}

void print_table(const std::vector<Workload>& ws, Side& side, const std::string& redis_version,
                 long server_pid) {
  char when[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  const long default_spin = static_cast<long>(rcache::Config{}.blocking_spin.count());
  std::printf("### Placement %c (%s): %d run%s × %.1f s interleaved, medians (%s)\n\n",
              g_opt.placement, placement_text(g_opt.placement), g_opt.runs,
              g_opt.runs == 1 ? "" : "s", g_opt.seconds, when);
  std::printf(
      "rcache %s, blocking_spin %ld µs%s; redis %s on 127.0.0.1:%d (pid %ld, CPUs %s); client "
      "CPUs %s; %u cores. 100-byte values, %d keys.\n\n",
      rcache::version(), g_opt.spin_us >= 0 ? g_opt.spin_us : default_spin,
      g_opt.spin_us >= 0 ? "" : " (library default)", redis_version.c_str(), g_opt.port, server_pid,
      cpus_of_pid(server_pid).c_str(), cpus_of_self().c_str(), std::thread::hardware_concurrency(),
      kKeys);
  std::printf(
      "| workload | contender | ops/s | client CPU µs/op | server CPU µs/op | rcache / peer "
      "(ops, client CPU, server CPU) | target | status |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (const auto& w : ws) {
    const Medians me = medians(w.cs[0]);
    const Medians peer = medians(w.cs[1]);
    for (std::size_t i = 0; i < w.cs.size(); ++i) {
      const Medians m = medians(w.cs[i]);
      std::string name = w.cs[i].name;
      if (i == 0) name = "**" + name + "**";
      if (m.errors > 0) name += " (" + std::to_string(m.errors) + " errors)";
      if (m.failed > 0) name += " (" + std::to_string(m.failed) + " runs failed)";
      std::string ratio, target, status;
      if (i == 0) {
        ratio = fmt_x(me.ops / peer.ops) + ", " + fmt_x(me.cli / peer.cli) + ", " +
                fmt_x(me.srv / peer.srv) + " vs " + w.cs[1].name;
        target = target_text(w.target);
        status = status_of(w.target, me, peer);
      } else if (i == 1) {
        status = "peer";
      } else {
        ratio = fmt_x(me.ops / m.ops) + ", " + fmt_x(me.cli / m.cli) + ", " + fmt_x(me.srv / m.srv);
        status = "reference";
      }
      std::printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", i == 0 ? w.title.c_str() : "",
                  name.c_str(), fmt_ops(m.ops).c_str(), fmt_us(m.cli).c_str(),
                  fmt_us(m.srv).c_str(), ratio.c_str(), target.c_str(), status.c_str());
    }
  }
  // Compression: what it saves for the CPU it costs.
  for (const auto& w : ws) {
    if (w.target != Target::json4k && w.target != Target::random64k) continue;
    const bool json = w.target == Target::json4k;
    const auto original = static_cast<long long>(json ? g_json4k.size() : g_random64k.size());
    const long long stored = side.strlen_of(json ? "cmp:json:on:0" : "cmp:rand:on:0");
    const long long stored_off = side.strlen_of(json ? "cmp:json:off:0" : "cmp:rand:off:0");
    const Medians on = medians(w.cs[0]), off = medians(w.cs[1]);
    const double extra_cpu = on.cli - off.cli;
    const long long saved = stored >= 0 ? original - stored : -1;
    std::printf(
        "\n%s: compression on stores %lld of %lld bytes (off: %lld), saving %lld B per SET, for "
        "%+.1f µs of client CPU per SET against off",
        w.title.c_str(), stored, original, stored_off, saved, extra_cpu);
    if (saved > 0 && extra_cpu > 0) {
      std::printf(": %.0f bytes saved per CPU µs", static_cast<double>(saved) / extra_cpu);
    }
    std::printf(".");
  }
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (!parse_args(argc, argv)) return 2;

  g_keys.reserve(kKeys);
  for (int i = 0; i < kKeys; ++i) {
    char k[32];
    std::snprintf(k, sizeof k, "key:%012d", i);
    g_keys.emplace_back(k);
  }
  g_value100.assign(kValueSize, 'v');
  g_json4k = make_json(4096);
  g_random64k = make_random(64 * 1024);

  Side side;
  if (!side.open()) {
    std::fprintf(stderr, "compare_bench: no redis-server at 127.0.0.1:%d\n", g_opt.port);
    return 2;
  }
  if (!side.prefill()) {
    std::fprintf(stderr, "compare_bench: prefill failed\n");
    return 2;
  }
  const std::string redis_version = side.info_field("server", "redis_version");
  const long server_pid = std::atol(side.info_field("server", "process_id").c_str());

  auto ws = make_workloads();
  std::fprintf(stderr,
               "compare_bench: placement %c (client CPUs %s, server pid %ld CPUs %s), %d runs × "
               "%.1f s, %zu workloads\n",
               g_opt.placement, cpus_of_self().c_str(), server_pid, cpus_of_pid(server_pid).c_str(),
               g_opt.runs, g_opt.seconds, ws.size());
  for (int run = 0; run < g_opt.runs; ++run) {
    for (auto& w : ws) {
      for (auto& c : w.cs) {
        const auto t0 = Clock::now();
        Sample s = c.run(side, g_opt.seconds);
        const double took = std::chrono::duration<double>(Clock::now() - t0).count();
        std::fprintf(stderr,
                     "  run %d/%d  %-34s %-44s %10s ops/s %8s µs cli %8s µs srv %5.1f s%s\n",
                     run + 1, g_opt.runs, w.title.c_str(), c.name.c_str(), fmt_ops(s.ops_s).c_str(),
                     fmt_us(s.cli_us).c_str(), fmt_us(s.srv_us).c_str(), took,
                     s.failed       ? "  FAILED"
                     : s.errors > 0 ? "  (errors)"
                                    : "");
        c.samples.push_back(s);
      }
    }
  }
  print_table(ws, side, redis_version, server_pid);
  return 0;
}
