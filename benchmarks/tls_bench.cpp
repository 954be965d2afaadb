// TLS against plain TCP, in the same run on the same redis-server (started here with both a plain
// and a TLS port; certificates made on the fly, EC P-256 as in the tests). Figures are printed,
// never asserted.
//
//   tls_bench [--runs N] [--seconds S] [--placement S|C|U] [--only calls|connects]
//
// Placement (the whole benchmark process is "the client"; the server is a child process):
//   S  server on CPU 0, client on CPU 1 (default)
//   C  both on CPU 0
//   U  unpinned
// Every scenario runs plain then TLS, N times interleaved; the table shows medians. Client CPU
// per op is this process' user+system time (getrusage; the server is another process) divided
// by the ops done.
//
// Scenarios: 1 blocking caller GET, 16 blocking threads GET, 1 thread keeping 64 async GETs in
// flight; then connections per second (connect, TLS handshake, PING, close) with the library's
// own TlsSession over a blocking socket: plain, TLS full handshake, TLS resumed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <rcache/rcache.hpp>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "placement.hpp"
#include "redis_server.hpp"
#include "test_pki.hpp"
#include "transport/tls.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using rcache::test::pin_thread_group;
using rcache::test::RedisServer;
using rcache::test::TestPki;

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Sample {
  double ops_per_s = 0;
  double cpu_us_per_op = 0;
};

// Runs `body` (which returns the ops it did) and measures rate and CPU.
template <class Body>
Sample measure(Body body) {
  const double cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  const double ops = static_cast<double>(body());
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  Sample s;
  s.ops_per_s = ops / wall;
  s.cpu_us_per_op = ops > 0 ? cpu * 1e6 / ops : 0;
  return s;
}

const std::string kValue(100, 'v');
constexpr int kKeys = 1000;
std::string key_of(std::size_t i) {
  return "tlsbench:" + std::to_string(i % kKeys);
}

std::size_t blocking_threads(rcache::Client& client, int threads, double seconds) {
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> ops{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      std::size_t mine = 0;
      for (std::size_t i = static_cast<std::size_t>(t) * 7919;
           !stop.load(std::memory_order_relaxed); ++i) {
        if (client.get(key_of(i)).ok()) ++mine;
      }
      ops.fetch_add(mine);
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : ts) t.join();
  return ops.load();
}

std::size_t async_in_flight(rcache::Client& client, int depth, double seconds) {
  std::counting_semaphore<1024> slots(depth);
  std::atomic<std::size_t> ops{0};
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(seconds));
  std::size_t i = 0;
  while (Clock::now() < end) {
    slots.acquire();
    client.get_async(key_of(i++), [&](rcache::Result<std::optional<std::string>> r) {
      if (r.ok()) ops.fetch_add(1, std::memory_order_relaxed);
      slots.release();
    });
  }
  for (int d = 0; d < depth; ++d) slots.acquire();
  return ops.load();
}

// ---- connections per second with the library's TlsSession over a blocking socket ----

int dial(int port) {
  const int fd = rcache::test::connect_loopback(port);
  const int one = 1;
  if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool write_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

const std::string kPing = "*1\r\n$4\r\nPING\r\n";

// connect + PING + close, plain.
bool plain_connect(int port) {
  const int fd = dial(port);
  if (fd < 0) return false;
  char buf[64];
  const bool ok = write_all(fd, kPing) && ::read(fd, buf, sizeof buf) == 7;
  ::close(fd);
  return ok;
}

// connect + TLS handshake + PING + close. The context keeps (or not) sessions for resumption.
bool tls_connect(const std::shared_ptr<rcache::detail::TlsContext>& ctx, int port, bool& resumed,
                 std::string* described = nullptr) {
  const int fd = dial(port);
  if (fd < 0) return false;
  rcache::detail::TlsSession s(ctx, "localhost", "127.0.0.1:" + std::to_string(port));
  bool ok = s.start().ok();
  std::string plain;
  char buf[16384];
  bool pinged = false;
  for (int round = 0; ok && round < 64; ++round) {
    if (s.has_output() && !write_all(fd, s.take_output())) ok = false;
    if (!ok) break;
    if (s.established() && !pinged) {
      ok = s.send(kPing).ok() && write_all(fd, s.take_output());
      pinged = true;
      continue;
    }
    if (plain.find("+PONG\r\n") != std::string::npos) break;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) {
      ok = false;
      break;
    }
    ok = s.feed(buf, static_cast<std::size_t>(n), plain).ok();
  }
  ok = ok && plain.find("+PONG\r\n") != std::string::npos;
  resumed = s.resumed();
  if (described != nullptr) *described = s.describe();
  ::close(fd);
  return ok;
}

// ---- placement ----

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Row {
  std::string name;
  std::vector<Sample> plain, tls;
};

void print_row(const Row& r) {
  std::vector<double> pr, pc, tr, tc;
  for (const auto& s : r.plain) {
    pr.push_back(s.ops_per_s);
    pc.push_back(s.cpu_us_per_op);
  }
  for (const auto& s : r.tls) {
    tr.push_back(s.ops_per_s);
    tc.push_back(s.cpu_us_per_op);
  }
  const double cpu_ratio = median(pc) > 0 ? median(tc) / median(pc) : 0;
  std::printf("%-34s %11.0f %11.0f %7.2fx  %9.2f %9.2f %7.2fx\n", r.name.c_str(), median(pr),
              median(tr), median(pr) > 0 ? median(tr) / median(pr) : 0, median(pc), median(tc),
              cpu_ratio);
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 5;
  double seconds = 2.0;
  char placement = 'S';
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--runs") == 0) runs = std::clamp(std::atoi(argv[i + 1]), 1, 50);
    if (std::strcmp(argv[i], "--seconds") == 0)
      seconds = std::clamp(std::atof(argv[i + 1]), 0.2, 60.0);
    if (std::strcmp(argv[i], "--placement") == 0) placement = argv[i + 1][0];
    if (std::strcmp(argv[i], "--only") == 0) only = argv[i + 1];
  }
  const unsigned cores = std::thread::hardware_concurrency();
  if (placement == 'S' && cores < 2) placement = 'C';

  TestPki pki;
  const auto server_id = pki.issue("server", {});
  RedisServer::Options o;
  o.tls_cert_file = server_id.cert_file;
  o.tls_key_file = server_id.key_file;
  o.tls_ca_file = pki.ca_file();
  auto server = RedisServer::start(o);
  if (server == nullptr) {
    std::fprintf(stderr, "tls_bench: cannot start redis-server with TLS\n");
    return 2;
  }
  // Pin before any client thread exists (threads inherit the affinity).
  if (placement == 'S' || placement == 'C') {
    const bool ok =
        pin_thread_group(server->pid(), 0) && pin_thread_group(getpid(), placement == 'S' ? 1 : 0);
    if (!ok) std::fprintf(stderr, "tls_bench: pinning failed; results are unpinned\n");
  }

  rcache::Config plain_cfg;
  plain_cfg.port = server->port();
  plain_cfg.command_timeout = std::chrono::seconds(5);
  plain_cfg.deadline = std::chrono::seconds(10);
  // The adaptive spin starves the loop thread when the client has one CPU (issue 11); off for
  // both so that the comparison is of the transports.
  plain_cfg.blocking_spin = std::chrono::microseconds(0);
  rcache::Config tls_cfg = plain_cfg;
  tls_cfg.port = server->tls_port();
  tls_cfg.tls = true;
  tls_cfg.tls_ca_file = pki.ca_file();

  auto plain = rcache::Client::create(plain_cfg);
  auto tls = rcache::Client::create(tls_cfg);
  if (!plain || !tls) {
    std::fprintf(stderr, "tls_bench: %s\n",
                 (!plain ? plain.error() : tls.error()).to_string().c_str());
    return 2;
  }
  for (int i = 0; i < kKeys; ++i) (void)(*plain)->set(key_of(static_cast<std::size_t>(i)), kValue);

  auto full_ctx = rcache::detail::TlsContext::create([&] {
    rcache::Config c = tls_cfg;
    c.tls_session_resumption = false;
    return c;
  }());
  auto resume_ctx = rcache::detail::TlsContext::create(tls_cfg);
  if (!full_ctx || !resume_ctx) {
    std::fprintf(stderr, "tls_bench: TLS context: %s\n",
                 (!full_ctx ? full_ctx.error() : resume_ctx.error()).to_string().c_str());
    return 2;
  }

  std::printf(
      "rcache %s TLS vs plain: redis-server %d (plain) / %d (TLS), 100-byte GETs, %d runs x %.1f "
      "s, "
      "placement %c (%s), %u cores; medians\n",
      rcache::version(), server->port(), server->tls_port(), runs, seconds, placement,
      placement == 'S'   ? "server CPU0, client CPU1"
      : placement == 'C' ? "server and client on CPU0"
                         : "unpinned",
      cores);

  Row one{"1 blocking caller GET", {}, {}};
  Row sixteen{"16 blocking threads GET", {}, {}};
  Row async64{"1 thread, 64 async GETs in flight", {}, {}};
  Row conn_full{"connect+PING, full TLS handshake", {}, {}};
  Row conn_resumed{"connect+PING, resumed TLS session", {}, {}};
  std::size_t resumed_count = 0, resumed_total = 0;
  std::string suite;
  for (int run = 0; run < runs; ++run) {
    for (auto* which : {&**plain, &**tls}) {
      if (only == "connects") break;
      const bool is_tls = which == &**tls;
      (is_tls ? one.tls : one.plain).push_back(measure([&] {
        return blocking_threads(*which, 1, seconds);
      }));
      (is_tls ? sixteen.tls : sixteen.plain).push_back(measure([&] {
        return blocking_threads(*which, 16, seconds);
      }));
      (is_tls ? async64.tls : async64.plain).push_back(measure([&] {
        return async_in_flight(*which, 64, seconds);
      }));
    }
    if (only == "calls") continue;
    const auto connects = [&](const std::function<bool()>& one_connect) {
      return measure([&] {
        std::size_t n = 0;
        const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(seconds / 2));
        for (int i = 0; i < 1'000'000 && Clock::now() < end; ++i) n += one_connect() ? 1 : 0;
        return n;
      });
    };
    const Sample p = connects([&] { return plain_connect(server->port()); });
    conn_full.plain.push_back(p);
    conn_resumed.plain.push_back(p);
    conn_full.tls.push_back(connects([&] {
      bool r = false;
      return tls_connect(*full_ctx, server->tls_port(), r);
    }));
    conn_resumed.tls.push_back(connects([&] {
      bool r = false;
      const bool ok = tls_connect(*resume_ctx, server->tls_port(), r, &suite);
      resumed_total += ok ? 1 : 0;
      resumed_count += ok && r ? 1 : 0;
      return ok;
    }));
  }

  std::printf("\n%-34s %11s %11s %8s  %9s %9s %8s\n", "scenario", "plain op/s", "TLS op/s",
              "TLS/pl", "plain CPU", "TLS CPU", "TLS/pl");
  std::printf("%-34s %11s %11s %8s  %9s %9s %8s\n", "", "", "", "", "us/op", "us/op", "");
  print_row(one);
  print_row(sixteen);
  print_row(async64);
  print_row(conn_full);
  print_row(conn_resumed);
  std::printf("\n%s; resumed sessions: %zu of %zu connects with resumption on\n", suite.c_str(),
              resumed_count, resumed_total);
  const auto d = [](const std::vector<Sample>& v) {
    std::vector<double> c;
    for (const auto& s : v) c.push_back(s.cpu_us_per_op);
    return median(c);
  };
  const double r64 = d(async64.plain) > 0 ? d(async64.tls) / d(async64.plain) : 0;
  std::printf(
      "target: client CPU per op over TLS within 1.5x of plain at 64 in flight: %.2fx, %s\n", r64,
      r64 <= 1.5 ? "met" : "NOT met");
  return 0;
}
