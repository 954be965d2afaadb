// Redis Cluster against a single node, in one run, on servers this program starts on free
// 127.0.0.1 ports and stops by pid. Figures are printed, never asserted.
//
//   cluster_bench [--runs N] [--seconds S] [--recovery-runs N] [--placement S|C|U]
//                 [--only throughput|recovery] [--filter TEXT]
//                 [--pause-after-failure-us N] [--refresh-min-interval-ms N] [--verbose]
//
// --filter keeps the throughput scenarios whose name contains TEXT (e.g. "GET, 1 blocking").
// Diagnostics of part 2: --pause-after-failure-us N (the callers sleep N us after a failed call;
// default 0, they go on at once), --refresh-min-interval-ms N (Config::cluster_refresh_min_interval
// of the client; default 100), --verbose (the client's debug log around the kill).
//
// Part 1, throughput and client CPU: one redis-server and a 3-master cluster (no replicas), both
// up for the whole part. The same workloads run through three Clients, interleaved, N runs
// (default 5 x 1 s), medians:
//   single   host/port of the single node, key_prefix "b:"
//   cluster  cluster_nodes = the 3 masters, key_prefix "b:" (keys spread over the 3 masters)
//   1-slot   the same cluster with key_prefix "{b}": every key in one slot, so one master and no
//            split (routing without the fan-out: tells the router's own cost from the cost of
//            spreading the same calls over 3 masters and 3x the connections)
// Workloads: GET and SET of 100-byte values over 1,000 keys, MGET of 10 keys (cluster: 10 slots
// over the 3 masters, so the call is split into 10 sub-commands); each by 1 blocking caller,
// 16 blocking threads, and 1 thread keeping 64 async calls in flight. Client CPU per op is this
// process' user+system time (getrusage; the servers are other processes) divided by the calls
// done. Routing cost = cluster CPU/op - single CPU/op, taken per run (the two measurements of a
// run are neighbours in time), median and range over the runs.
//
// Part 2, recovery after kill -9 of a master: a fresh cluster per run (3 masters, 1 replica each,
// cluster-node-timeout 1000), a Client with default timeouts, 8 threads doing SET then GET on
// keys of the first master's slots. The master is killed; measured (polled every ~1 ms): kill ->
// its replica's ROLE says master; kill -> another master's CLUSTER NODES flags the replica as a
// master ("promoted": from then on a CLUSTER SLOTS of that master names the new owner);
// promoted -> the first call on those slots started after the kill that succeeds; kill -> that
// first success. Median and worst of N runs.
//
// Placement (as tls_bench): S servers on CPU 0, this process on CPU 1 (default); C all on CPU 0;
// U unpinned. blocking_spin is 0 for every Client (the spin starves the loop thread when the
// client has one CPU, issue 11).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <rcache/rcache.hpp>
#include <semaphore>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cluster_set.hpp"
#include "placement.hpp"
#include "redis_server.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using rcache::test::ClusterSet;
using rcache::test::pin_thread_group;
using rcache::test::RedisConnection;
using rcache::test::RedisServer;
using std::chrono::milliseconds;

// ---- measuring ---------------------------------------------------------------------------------

// This process' CPU time (user + system, every thread, joined ones included), context switches
// (voluntary + involuntary) and read/write system calls (/proc/self/io syscr + syscw: read, recv,
// write, send and their vector forms, eventfd included).
struct Usage {
  double cpu_s = 0;
  long switches = 0;
  long rw_calls = 0;
};
Usage usage() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  Usage out{static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
                static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6,
            u.ru_nvcsw + u.ru_nivcsw, 0};
  std::ifstream io("/proc/self/io");
  for (std::string name; io >> name;) {
    long v = 0;
    io >> v;
    if (name == "syscr:" || name == "syscw:") out.rw_calls += v;
  }
  return out;
}

struct Counted {
  std::size_t ok = 0;
  std::size_t failed = 0;
};

struct Sample {
  double ops_per_s = 0;
  double cpu_us_per_op = 0;
  double switches_per_op = 0;
  double rw_calls_per_op = 0;
  std::size_t failed = 0;
};

template <class Body>
Sample measure(Body body) {
  const Usage u0 = usage();
  const auto t0 = Clock::now();
  const Counted c = body();
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  const Usage u1 = usage();
  Sample s;
  const double ops = static_cast<double>(c.ok);
  s.ops_per_s = wall > 0 ? ops / wall : 0;
  s.cpu_us_per_op = c.ok > 0 ? (u1.cpu_s - u0.cpu_s) * 1e6 / ops : 0;
  s.switches_per_op = c.ok > 0 ? static_cast<double>(u1.switches - u0.switches) / ops : 0;
  s.rw_calls_per_op = c.ok > 0 ? static_cast<double>(u1.rw_calls - u0.rw_calls) / ops : 0;
  s.failed = c.failed;
  return s;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

// ---- workloads ---------------------------------------------------------------------------------

const std::string kValue(100, 'v');
constexpr std::size_t kKeys = 1000;
constexpr std::size_t kMgetKeys = 10;
std::vector<std::string> g_keys;                 // "k:<n>"; the Client adds its key_prefix
std::vector<std::vector<std::string>> g_groups;  // MGET: keys 10g .. 10g+9

void make_keys() {
  for (std::size_t i = 0; i < kKeys; ++i) g_keys.push_back("k:" + std::to_string(i));
  for (std::size_t g = 0; g < kKeys / kMgetKeys; ++g) {
    std::vector<std::string> group;
    for (std::size_t j = 0; j < kMgetKeys; ++j) group.push_back(g_keys[g * kMgetKeys + j]);
    g_groups.push_back(std::move(group));
  }
}

enum class Op { get, set, mget };
const char* op_name(Op op) {
  return op == Op::get ? "GET" : op == Op::set ? "SET" : "MGET x10";
}

bool call(rcache::Client& c, Op op, std::size_t i) {
  switch (op) {
    case Op::get:
      return c.get(g_keys[i % kKeys]).ok();
    case Op::set:
      return c.set(g_keys[i % kKeys], kValue).ok();
    case Op::mget: {
      auto r = c.mget(g_groups[i % g_groups.size()]);
      return r.ok() && r->size() == kMgetKeys;
    }
  }
  return false;
}

Counted blocking_threads(rcache::Client& client, Op op, int threads, double seconds) {
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> ok{0}, failed{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      std::size_t mine = 0, bad = 0;
      try {
        for (std::size_t i = static_cast<std::size_t>(t) * 7919;
             !stop.load(std::memory_order_relaxed); ++i) {
          if (call(client, op, i)) {
            ++mine;
          } else {
            ++bad;
          }
        }
      } catch (...) {
        ++bad;
      }
      ok.fetch_add(mine);
      failed.fetch_add(bad);
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : ts) t.join();
  return {ok.load(), failed.load()};
}

Counted async_in_flight(rcache::Client& client, Op op, int depth, double seconds) {
  std::counting_semaphore<1024> slots(depth);
  std::atomic<std::size_t> ok{0}, failed{0};
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(seconds));
  auto done = [&](bool good) {
    (good ? ok : failed).fetch_add(1, std::memory_order_relaxed);
    slots.release();
  };
  for (std::size_t i = 0; Clock::now() < end; ++i) {
    slots.acquire();
    switch (op) {
      case Op::get:
        client.get_async(g_keys[i % kKeys],
                         [&done](rcache::Result<std::optional<std::string>> r) { done(r.ok()); });
        break;
      case Op::set:
        client.set_async(g_keys[i % kKeys], kValue, {},
                         [&done](rcache::Result<bool> r) { done(r.ok()); });
        break;
      case Op::mget:
        client.mget_async(g_groups[i % g_groups.size()],
                          [&done](rcache::Result<rcache::Client::Values> r) {
                            done(r.ok() && r->size() == kMgetKeys);
                          });
        break;
    }
  }
  for (int d = 0; d < depth; ++d) slots.acquire();  // drain: every callback has run
  return {ok.load(), failed.load()};
}

Counted run_workload(rcache::Client& client, Op op, int mode, double seconds) {
  // mode: 1 = one blocking caller, 16 = 16 blocking threads, 64 = one thread, 64 async in flight
  if (mode == 64) return async_in_flight(client, op, 64, seconds);
  return blocking_threads(client, op, mode, seconds);
}

const char* mode_name(int mode) {
  return mode == 1    ? "1 blocking caller"
         : mode == 16 ? "16 blocking threads"
                      : "64 async in flight";
}

// ---- placement ---------------------------------------------------------------------------------

bool redis_server_on_path() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (!dir.empty() && ::access((dir + "/redis-server").c_str(), X_OK) == 0) return true;
  }
  return false;
}

// Pins a server (all its threads) where the placement puts servers; false if it could not.
bool place_server(char placement, pid_t pid) {
  if (placement == 'U') return true;
  return pin_thread_group(pid, 0);
}

rcache::Config base_config() {
  rcache::Config c;
  c.blocking_spin = std::chrono::microseconds(0);
  return c;
}

std::unique_ptr<rcache::Client> make_client(const rcache::Config& cfg, const char* what) {
  auto created = rcache::Client::create(cfg);
  if (!created) {
    std::fprintf(stderr, "cluster_bench: %s client: %s\n", what,
                 created.error().to_string().c_str());
    return nullptr;
  }
  auto client = std::move(*created);
  for (int i = 0; i < 200 && !client->ping().ok(); ++i)
    std::this_thread::sleep_for(milliseconds(10));
  if (!client->ping().ok()) {
    std::fprintf(stderr, "cluster_bench: %s client: no answer to PING\n", what);
    return nullptr;
  }
  return client;
}

// ---- part 1: throughput and client CPU
// -----------------------------------------------------------

struct Scenario {
  Op op;
  int mode;
  bool one_slot;  // also through the 1-slot client
  std::vector<Sample> single, cluster, slot1;
};

int throughput(char placement, int runs, double seconds, const std::string& filter) {
  auto single = RedisServer::start();
  if (single == nullptr) {
    std::fprintf(stderr, "cluster_bench: could not start the single redis-server\n");
    return 2;
  }
  ClusterSet::Options o;
  o.masters = 3;
  o.replicas_per_master = 0;
  auto cluster = ClusterSet::start(o);
  if (cluster == nullptr) {
    std::fprintf(stderr, "cluster_bench: could not start the 3-master cluster\n");
    return 2;
  }
  // The servers inherited this process' affinity (pinned in run_main): move them.
  bool pinned = place_server(placement, single->pid());
  for (std::size_t i = 0; i < cluster->size(); ++i) {
    pinned = place_server(placement, cluster->node(i).pid()) && pinned;
  }
  if (!pinned) std::fprintf(stderr, "cluster_bench: pinning a server failed\n");

  rcache::Config single_cfg = base_config();
  single_cfg.port = single->port();
  single_cfg.command_timeout = std::chrono::seconds(5);
  single_cfg.deadline = std::chrono::seconds(10);
  single_cfg.key_prefix = "b:";
  rcache::Config cluster_cfg = single_cfg;
  cluster_cfg.cluster_nodes = cluster->seeds();
  rcache::Config slot1_cfg = cluster_cfg;
  slot1_cfg.key_prefix = "{b}";
  auto c_single = make_client(single_cfg, "single-node");
  auto c_cluster = make_client(cluster_cfg, "cluster");
  auto c_slot1 = make_client(slot1_cfg, "cluster (one slot)");
  if (!c_single || !c_cluster || !c_slot1) return 2;

  // Fill, and warm every connection of every pool.
  for (auto* c : {c_single.get(), c_cluster.get(), c_slot1.get()}) {
    for (std::size_t i = 0; i < kKeys; ++i) {
      if (!c->set(g_keys[i], kValue).ok()) {
        std::fprintf(stderr, "cluster_bench: filling the keys failed\n");
        return 2;
      }
    }
    (void)run_workload(*c, Op::get, 64, 0.2);
    (void)run_workload(*c, Op::mget, 16, 0.2);
  }

  // How the MGET groups split: slots and masters per call (masters as the cluster was built:
  // redis-cli's even split 0-5460, 5461-10922, 10923-16383).
  double slots_per = 0, masters_per = 0;
  for (const auto& g : g_groups) {
    std::set<int> slots, masters;
    for (const auto& k : g) {
      const int s = ClusterSet::slot_of("b:" + k);
      slots.insert(s);
      masters.insert(s <= 5460 ? 0 : s <= 10922 ? 1 : 2);
    }
    slots_per += static_cast<double>(slots.size());
    masters_per += static_cast<double>(masters.size());
  }
  slots_per /= static_cast<double>(g_groups.size());
  masters_per /= static_cast<double>(g_groups.size());

  std::printf(
      "rcache %s cluster vs single node: single redis-server :%d, cluster masters :%d :%d :%d; "
      "100-byte values, %zu keys; %d runs x %.1f s, interleaved; placement %c (%s); %u cores; "
      "load %s\n",
      rcache::version(), single->port(), cluster->port(0), cluster->port(1), cluster->port(2),
      kKeys, runs, seconds, placement,
      placement == 'S'   ? "servers CPU0, client CPU1"
      : placement == 'C' ? "servers and client on CPU0"
                         : "unpinned",
      std::thread::hardware_concurrency(), loadavg().c_str());
  std::printf(
      "MGET x10: %.2f slots and %.2f masters per call on average (1-slot client: 1 and 1)\n",
      slots_per, masters_per);
  std::fflush(stdout);

  std::vector<Scenario> scenarios;
  for (Op op : {Op::get, Op::set, Op::mget}) {
    for (int mode : {1, 16, 64}) {
      // The 1-slot client for GET and MGET (no split); SET routes like GET.
      const bool one_slot = op != Op::set;
      const std::string name = std::string(op_name(op)) + ", " + mode_name(mode);
      if (!filter.empty() && name.find(filter) == std::string::npos) continue;
      scenarios.push_back({op, mode, one_slot, {}, {}, {}});
    }
  }
  for (int run = 0; run < runs; ++run) {
    for (auto& sc : scenarios) {
      std::vector<std::pair<std::vector<Sample>*, rcache::Client*>> order = {
          {&sc.single, c_single.get()}, {&sc.cluster, c_cluster.get()}};
      if (sc.one_slot) order.push_back({&sc.slot1, c_slot1.get()});
      // Rotate who goes first from run to run, so that a drift of the machine does not always
      // favour the same one.
      std::rotate(order.begin(), order.begin() + static_cast<long>(run % order.size()),
                  order.end());
      for (auto& entry : order) {
        rcache::Client* client = entry.second;
        entry.first->push_back(
            measure([&] { return run_workload(*client, sc.op, sc.mode, seconds); }));
      }
    }
    std::fprintf(stderr, "cluster_bench: run %d of %d done\n", run + 1, runs);
  }

  enum class Col { rate, cpu, switches, rw };
  const auto col = [](const std::vector<Sample>& v, Col c) {
    std::vector<double> x;
    for (const auto& s : v) {
      x.push_back(c == Col::rate       ? s.ops_per_s
                  : c == Col::cpu      ? s.cpu_us_per_op
                  : c == Col::switches ? s.switches_per_op
                                       : s.rw_calls_per_op);
    }
    return median(x);
  };
  const auto failures = [](const std::vector<Sample>& v) {
    std::size_t n = 0;
    for (const auto& s : v) n += s.failed;
    return n;
  };
  // cluster - single CPU per op, per run: median, range, and % of the single node's median.
  const auto cost = [&](const std::vector<Sample>& cl, const std::vector<Sample>& sg) {
    std::vector<double> diff;
    for (std::size_t r = 0; r < sg.size() && r < cl.size(); ++r) {
      diff.push_back(cl[r].cpu_us_per_op - sg[r].cpu_us_per_op);
    }
    if (diff.empty()) return std::string("-");
    const double d = median(diff);
    const double base = col(sg, Col::cpu);
    char buf[80];
    std::snprintf(buf, sizeof buf, "%+.2f [%+.2f..%+.2f] %+.0f%%", d,
                  *std::min_element(diff.begin(), diff.end()),
                  *std::max_element(diff.begin(), diff.end()), base > 0 ? 100 * d / base : 0);
    return std::string(buf);
  };
  const auto name_of = [](const Scenario& sc) {
    return std::string(op_name(sc.op)) + ", " + mode_name(sc.mode);
  };
  std::printf("\n%-30s %9s %9s %6s | %8s %8s | %-30s\n", "scenario (medians)", "single/s",
              "cluster/s", "cl/sg", "sg CPU", "cl CPU", "routing cost = cl - sg CPU");
  std::printf("%-30s %9s %9s %6s | %8s %8s | %-30s\n", "", "", "", "", "us/op", "us/op",
              "us/op: median [min..max], %");
  std::size_t total_failed = 0;
  for (const auto& sc : scenarios) {
    const double sg = col(sc.single, Col::rate), cl = col(sc.cluster, Col::rate);
    std::printf("%-30s %9.0f %9.0f %5.2fx | %8.2f %8.2f | %-30s\n", name_of(sc).c_str(), sg, cl,
                sg > 0 ? cl / sg : 0, col(sc.single, Col::cpu), col(sc.cluster, Col::cpu),
                cost(sc.cluster, sc.single).c_str());
    total_failed += failures(sc.single) + failures(sc.cluster) + failures(sc.slot1);
  }
  std::printf(
      "\nthe same calls with every key in one slot (1 master, no split); this process' context "
      "switches and read/write system calls per op\n");
  std::printf("%-30s %9s %8s | %-28s | %-17s | %-17s\n", "scenario (medians)", "1-slot/s", "CPU",
              "1-slot - single CPU", "ctx switches/op", "read+write/op");
  std::printf("%-30s %9s %8s | %-28s | %5s %5s %5s | %5s %5s %5s\n", "", "", "us/op",
              "us/op: median [min..max], %", "sg", "cl", "1sl", "sg", "cl", "1sl");
  for (const auto& sc : scenarios) {
    char rate[32] = "-", cpu[32] = "-", cs1[32] = "-", rw1[32] = "-";
    std::string c1 = "-";
    if (sc.one_slot) {
      std::snprintf(rate, sizeof rate, "%.0f", col(sc.slot1, Col::rate));
      std::snprintf(cpu, sizeof cpu, "%.2f", col(sc.slot1, Col::cpu));
      std::snprintf(cs1, sizeof cs1, "%.2f", col(sc.slot1, Col::switches));
      std::snprintf(rw1, sizeof rw1, "%.2f", col(sc.slot1, Col::rw));
      c1 = cost(sc.slot1, sc.single);
    }
    std::printf("%-30s %9s %8s | %-28s | %5.2f %5.2f %5s | %5.2f %5.2f %5s\n", name_of(sc).c_str(),
                rate, cpu, c1.c_str(), col(sc.single, Col::switches),
                col(sc.cluster, Col::switches), cs1, col(sc.single, Col::rw),
                col(sc.cluster, Col::rw), rw1);
  }
  std::printf("failed calls in all runs: %zu; load at the end %s\n", total_failed,
              loadavg().c_str());
  std::fflush(stdout);
  return 0;
}

// ---- part 2: recovery after kill -9 of a master ----------------------------------------------

long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// Whether the node behind `c` flags `port` as a master in its CLUSTER NODES.
bool sees_as_master(RedisConnection& c, int port) {
  const std::string nodes = c.run({"CLUSTER", "NODES"});
  const std::string addr = ":" + std::to_string(port) + "@";
  std::istringstream lines(nodes);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string id, address, flags;
    fields >> id >> address >> flags;
    if (address.find(addr) == std::string::npos) continue;
    std::istringstream each(flags);
    for (std::string f; std::getline(each, f, ',');) {
      if (f == "master") return true;
    }
    return false;
  }
  return false;
}

struct Recovery {
  double role_ms = -1;      // kill -> the replica's own ROLE says master
  double promoted_ms = -1;  // kill -> another master's CLUSTER NODES flags the replica master
  double first_ok_ms = -1;  // kill -> first success of a call started after the kill
  long failed = 0;          // failed calls between the kill and the first success
  long wrong = 0;           // values read that this key never had
  bool ok = false;
};

// Diagnostics for part 2: a pause of the callers after a failed call (0: none, they retry at
// once), and the recovery client's log (debug) printed with times relative to the kill.
struct RecoveryOptions {
  int pause_after_failure_us = 0;
  int refresh_min_interval_ms = -1;  // -1: the default (Config::cluster_refresh_min_interval)
  bool verbose = false;
};

Recovery one_recovery(char placement, const RecoveryOptions& ro) {
  Recovery out;
  ClusterSet::Options o;
  o.masters = 3;
  o.replicas_per_master = 1;
  o.node_timeout_ms = 1000;
  auto set = ClusterSet::start(o);
  if (set == nullptr) {
    std::fprintf(stderr, "cluster_bench: could not start the cluster with replicas\n");
    return out;
  }
  // Nodes inherit this process' affinity: put them where servers go.
  for (std::size_t i = 0; i < set->size(); ++i) (void)place_server(placement, set->node(i).pid());
  const int victim = set->port(0);
  const int replica = set->replica_of(victim);
  if (replica == 0) {
    std::fprintf(stderr, "cluster_bench: the victim %d has no replica\n", victim);
    return out;
  }
  // Keys of the victim's slots (0-5460 as the set builds the cluster; checked once).
  constexpr int kThreads = 8;
  constexpr int kPerThread = 4;
  constexpr std::size_t kKeysWanted = kThreads * kPerThread;
  std::vector<std::string> keys;
  for (int i = 0; keys.size() < kKeysWanted && i < 100000; ++i) {
    std::string k = "rec:" + std::to_string(i);
    if (ClusterSet::slot_of(k) <= 5460) keys.push_back(std::move(k));
  }
  if (keys.size() < kKeysWanted || set->owner_of_slot(ClusterSet::slot_of(keys[0])) != victim) {
    std::fprintf(stderr, "cluster_bench: the victim does not own the expected slots\n");
    return out;
  }
  rcache::Config cfg = base_config();  // default deadline (250 ms) and command_timeout (100 ms)
  cfg.cluster_nodes = set->seeds();
  if (ro.refresh_min_interval_ms >= 0) {
    cfg.cluster_refresh_min_interval = milliseconds(ro.refresh_min_interval_ms);
  }
  struct Line {
    long long at_ns;
    std::string text;
  };
  std::mutex log_mu;
  std::vector<Line> log;
  if (ro.verbose) {
    cfg.log_level = rcache::LogLevel::debug;
    cfg.log_sink = [&](rcache::LogLevel, std::string_view m) {
      std::lock_guard lock(log_mu);
      if (log.size() < 100000) log.push_back({now_ns(), std::string(m)});
    };
  }
  auto client = make_client(cfg, "recovery");
  if (!client) return out;

  std::atomic<bool> stop{false};
  std::atomic<long long> killed_ns{0};  // 0 until the victim is dead and reaped
  std::atomic<long long> first_ok_ns{0};
  std::atomic<long> ok_before{0}, failed_after{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (long n = 1; !stop.load(std::memory_order_relaxed) && n < 100'000'000; ++n) {
          const std::string& key = keys[static_cast<std::size_t>(t * kPerThread + n % kPerThread)];
          const bool is_get = n % 2 == 0;
          const long long k0 = killed_ns.load();
          bool good = false;
          if (is_get) {
            auto r = client->get(key);
            good = r.ok();
            if (good && r->has_value() && (*r)->rfind(key + "#", 0) != 0) wrong.fetch_add(1);
          } else {
            good = client->set(key, key + "#" + std::to_string(n)).ok();
          }
          if (k0 == 0) {
            if (good) ok_before.fetch_add(1, std::memory_order_relaxed);
            continue;
          }
          if (!good) {
            if (first_ok_ns.load(std::memory_order_relaxed) == 0) failed_after.fetch_add(1);
            if (ro.pause_after_failure_us > 0) {
              std::this_thread::sleep_for(std::chrono::microseconds(ro.pause_after_failure_us));
            }
            continue;
          }
          // A call started after the victim was reaped and succeeded: the new master answered.
          const long long at = now_ns();
          long long cur = first_ok_ns.load();
          while ((cur == 0 || at < cur) && !first_ok_ns.compare_exchange_weak(cur, at)) {
          }
        }
      } catch (...) {
        failed_after.fetch_add(1);
      }
    });
  }
  std::this_thread::sleep_for(milliseconds(300));
  bool warmed = ok_before.load() > 100;
  // Opened before the kill, so that polling adds no connect: the replica, and another master
  // (the one the client is likeliest to ask for the map does not matter: all get the same PONG).
  RedisConnection watch_replica(replica);
  RedisConnection watch_master(set->port(1));
  if (warmed && watch_replica.ok() && watch_master.ok()) {
    set->node(0).kill9();  // SIGKILL and reap
    const long long k = now_ns();
    killed_ns = k;
    // (a) the promotion: the replica's own ROLE, and another master's view of it (polled every
    // ~1 ms; at most ~20 s)
    long long role = 0, promoted = 0;
    for (int i = 0; i < 20000 && (role == 0 || promoted == 0); ++i) {
      if (role == 0 && watch_replica.run({"ROLE"}).rfind("master", 0) == 0) role = now_ns();
      if (promoted == 0 && sees_as_master(watch_master, replica)) promoted = now_ns();
      if (role == 0 || promoted == 0) std::this_thread::sleep_for(milliseconds(1));
    }
    // (b) the client's first success, at most 10 s after the promotion
    for (int i = 0; i < 2000 && promoted != 0 && first_ok_ns.load() == 0; ++i) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    const long long first = first_ok_ns.load();
    out.role_ms = role != 0 ? static_cast<double>(role - k) / 1e6 : -1;
    out.promoted_ms = promoted != 0 ? static_cast<double>(promoted - k) / 1e6 : -1;
    out.first_ok_ms = first != 0 ? static_cast<double>(first - k) / 1e6 : -1;
    out.ok = role != 0 && promoted != 0 && first != 0;
    if (ro.verbose) {
      std::lock_guard lock(log_mu);
      std::printf(
          "  replica's ROLE master at %+.1f ms, promoted as another master sees it at %+.1f ms, "
          "first success at %+.1f ms (times since the kill)\n",
          static_cast<double>(role - k) / 1e6, static_cast<double>(promoted - k) / 1e6,
          static_cast<double>(first - k) / 1e6);
      for (const auto& l : log) {
        if (l.at_ns >= k - 1'000'000 && (first == 0 || l.at_ns <= first + 20'000'000)) {
          std::printf("  %+9.1f ms  %s\n", static_cast<double>(l.at_ns - k) / 1e6, l.text.c_str());
        }
      }
    }
  } else {
    std::fprintf(stderr, "cluster_bench: no load before the kill (%ld calls) or no watch\n",
                 ok_before.load());
  }
  stop = true;
  for (auto& th : threads) th.join();
  out.failed = failed_after.load();
  out.wrong = wrong.load();
  client.reset();  // before the servers go
  return out;
}

int recovery(char placement, int runs, const RecoveryOptions& ro) {
  std::printf(
      "\nrecovery after kill -9 of a master: 3 masters + 1 replica each, cluster-node-timeout "
      "1000, 8 threads SET/GET on the victim's slots, default deadline/command_timeout; "
      "placement %c; load %s\n",
      placement, loadavg().c_str());
  std::printf("%-4s %14s %14s %16s %14s %10s %6s\n", "run", "kill->ROLE", "kill->promoted",
              "promoted->1st ok", "kill->1st ok", "failed", "wrong");
  std::fflush(stdout);
  std::vector<double> role, a, b, c;
  int good = 0;
  for (int run = 0; run < runs; ++run) {
    const Recovery r = one_recovery(placement, ro);
    std::printf("%-4d %11.0f ms %11.0f ms %13.0f ms %11.0f ms %10ld %6ld%s\n", run + 1, r.role_ms,
                r.promoted_ms, r.first_ok_ms - r.promoted_ms, r.first_ok_ms, r.failed, r.wrong,
                r.ok ? "" : "  (incomplete)");
    std::fflush(stdout);
    if (!r.ok) continue;
    ++good;
    role.push_back(r.role_ms);
    a.push_back(r.promoted_ms);
    b.push_back(r.first_ok_ms - r.promoted_ms);
    c.push_back(r.first_ok_ms);
  }
  const auto worst = [](const std::vector<double>& v) {
    return v.empty() ? 0 : *std::max_element(v.begin(), v.end());
  };
  std::printf("%-4s %11.0f ms %11.0f ms %13.1f ms %11.0f ms   (%d of %d runs complete)\n", "med",
              median(role), median(a), median(b), median(c), good, runs);
  std::printf("%-4s %11.0f ms %11.0f ms %13.1f ms %11.0f ms\n", "max", worst(role), worst(a),
              worst(b), worst(c));
  std::printf("load at the end %s\n", loadavg().c_str());
  return good == runs ? 0 : 1;
}

int run_main(int argc, char** argv) {
  int runs = 5;
  int recovery_runs = 5;
  double seconds = 1.0;
  char placement = 'S';
  std::string only;
  std::string filter;
  RecoveryOptions ro;
  for (int i = 1; i < argc; i += 2) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (v != nullptr && a == "--runs") {
      runs = std::clamp(std::atoi(v), 1, 50);
    } else if (v != nullptr && a == "--recovery-runs") {
      recovery_runs = std::clamp(std::atoi(v), 1, 50);
    } else if (v != nullptr && a == "--seconds") {
      seconds = std::clamp(std::atof(v), 0.2, 60.0);
    } else if (v != nullptr && a == "--placement") {
      placement = v[0];
    } else if (v != nullptr && a == "--only") {
      only = v;
    } else if (v != nullptr && a == "--filter") {
      filter = v;
    } else if (v != nullptr && a == "--pause-after-failure-us") {
      ro.pause_after_failure_us = std::clamp(std::atoi(v), 0, 1'000'000);
    } else if (v != nullptr && a == "--refresh-min-interval-ms") {
      ro.refresh_min_interval_ms = std::clamp(std::atoi(v), 0, 60'000);
    } else if (a == "--verbose") {
      ro.verbose = true;
      --i;  // no value
    } else {
      std::fprintf(stderr,
                   "usage: cluster_bench [--runs N] [--seconds S] [--recovery-runs N] "
                   "[--placement S|C|U] [--only throughput|recovery] [--filter TEXT] "
                   "[--pause-after-failure-us N] [--refresh-min-interval-ms N] [--verbose]\n");
      return 2;
    }
  }
  if (placement != 'S' && placement != 'C' && placement != 'U') placement = 'S';
  if (placement == 'S' && std::thread::hardware_concurrency() < 2) placement = 'C';
  if (!redis_server_on_path()) {
    std::fprintf(stderr,
                 "cluster_bench: redis-server not found on PATH; install Redis 7 (e.g. apt-get "
                 "install redis-server) or put its bin directory on PATH\n");
    return 2;
  }
  // Before any thread exists: every thread (client loop threads, callers) inherits it.
  if (placement != 'U' && !pin_thread_group(getpid(), placement == 'S' ? 1 : 0)) {
    std::fprintf(stderr, "cluster_bench: pinning the client failed; results are not pinned\n");
  }
  make_keys();
  const auto began = Clock::now();
  int rc = 0;
  if (only.empty() || only == "throughput") rc = throughput(placement, runs, seconds, filter);
  if (rc == 0 && (only.empty() || only == "recovery")) rc = recovery(placement, recovery_runs, ro);
  std::printf("total %.0f s\n", std::chrono::duration<double>(Clock::now() - began).count());
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cluster_bench: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "cluster_bench: unknown exception\n");
  }
  return 2;
}
