// What the demo prints about its load (see report.hpp).
#include "report.hpp"

#include <algorithm>
#include <cstdio>

#include "timeline_svg.hpp"

namespace demo {
namespace {

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

}  // namespace

void print_usage(FILE* to, const char* self) {
  std::fprintf(
      to,
      "usage: %s [--short] [--cluster] [--clients N] [--serve SECONDS] [--svg PATH] [--dump DIR]\n"
      "          [--no-near-cache]\n"
      "  --short          short phases, for tests: warm-up 2 s, steady 3, redis down 3, after\n"
      "                   restart 4 (with --cluster: 2, 2, failover 4, after restart 2)\n"
      "  --cluster        a private Redis Cluster on 127.0.0.1 instead of one redis-server: 3\n"
      "                   masters with a replica each; phase 2 kills -9 one master (its replica\n"
      "                   takes over), phase 3 restarts it (it rejoins as a replica). REDIS_URL "
      "is\n"
      "                   ignored; the near cache is off (not supported with a cluster yet)\n"
      "  --clients N      concurrent clients (default 8)\n"
      "  --serve SECONDS  only run the upstream and the service, until SECONDS have passed or\n"
      "                   SIGINT/SIGTERM\n"
      "  --svg PATH       where to write the timeline (default ./demo-timeline.svg)\n"
      "  --dump DIR       write the service's endpoints' answers to DIR after the run\n"
      "  --no-near-cache  the same run without the near cache, to compare\n",
      self);
}

void announce(const Phase& p, int clients, bool cluster) {
  const int len = p.end - p.begin;
  if (p.name == "warm-up") {
    std::printf(
        "\nwarming up (%d s, not counted in the table): %d clients, Zipf(1.1) over 300 ids, "
        "cold cache; the API's 5/s limit caps how fast the cache fills\n",
        len, clients);
  } else if (p.name == "steady") {
    std::printf("\nsteady (%d s): the same load, redis up\n", len);
  } else if (p.name == "redis down") {
    std::printf("\nredis down (%d s): redis-server killed with kill -9, restarted after %d s\n",
                len, len);
  } else if (p.name == "failover") {
    std::printf(
        "\nfailover (%d s): ONE master killed with kill -9; its replica is promoted after "
        "~2-2.5 s\n  (cluster-node-timeout 1000 ms); meanwhile only that master's keys go to the "
        "API, the other masters serve theirs\n",
        len);
  } else if (cluster) {
    std::printf(
        "\nafter restart (%d s): the killed node restarted on its port, empty (no "
        "persistence): it rejoins as a replica\n  of the promoted one, which keeps serving the "
        "slots with the data it had replicated\n",
        len);
  } else {
    std::printf(
        "\nafter restart (%d s): redis-server back on the same port, empty (no persistence): "
        "the cache refills at the API's 5/s\n",
        len);
  }
}

void print_second(int sec, const Second& s, const Second* killed) {
  char no_api[16] = "-";
  if (s.answered > 0) {
    std::snprintf(no_api, sizeof no_api, "%.0f%%",
                  100.0 * static_cast<double>(s.no_api) / static_cast<double>(s.answered));
  }
  std::string killed_keys;
  if (killed != nullptr) {
    char buf[112];
    std::snprintf(
        buf, sizeof buf, "  | killed master's keys: answered %3ld (cache %3ld, API %2ld), 429 %3ld",
        killed->answered, killed->no_api, killed->answered - killed->no_api, killed->rate_limited);
    killed_keys = buf;
  }
  std::printf(
      "  t=%2d-%2ds  answered %3ld  429 %3ld  errors %ld  API calls %2ld  from cache %4s  "
      "stale %3ld  breaker %s%s%s\n",
      sec - 1, sec, s.answered, s.rate_limited, s.errors, s.api_calls, no_api, s.stale,
      breaker_name(s.breaker),
      s.redis_down > 0.5 ? (killed != nullptr ? "  (master down)" : "  (redis down)") : "",
      killed_keys.c_str());
}

void print_probes(const char* what, const std::string& probes) {
  std::printf("  >>> %s, the service stays live and ready:", what);
  for (std::size_t at = 0, end; (end = probes.find('\n', at)) != std::string::npos; at = end + 1) {
    const std::string line = probes.substr(at, end - at);
    const auto st = line.find("\"status\":\"");
    const auto sp = line.find(' ', line.find(' ') + 1);
    std::printf("%s%s %s", at == 0 ? " " : ", ", line.substr(0, sp).c_str(),
                st == std::string::npos
                    ? ""
                    : line.substr(st + 10, line.find('"', st + 10) - (st + 10)).c_str());
  }
  std::printf("\n");
}

std::vector<PhaseSummary> print_table(const std::vector<Second>& seconds,
                                      const std::vector<Phase>& phases, int clients, bool cluster,
                                      const std::vector<double>& direct_ms) {
  std::vector<PhaseSummary> rows;
  for (const auto& p : phases) rows.push_back(summarize(seconds, p));
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
                r.total.api_calls,
                cluster ? (r.redis_down_seconds > 0.05 ? "part" : "up")
                        : (r.redis_down_seconds > 0.5 * r.seconds ? "down" : "up"));
  }
  const auto& w = rows.front();
  std::printf(
      "(not in the table: the %d s warm-up, %ld requests, %ld answered, %ld 429, %ld API calls)\n",
      w.seconds, w.total.requests, w.total.answered, w.total.rate_limited, w.total.api_calls);
  std::printf(
      "the API itself, no cache: %zu calls within its 5/s limit, p50 %.1f ms, p99 %.1f ms\n",
      direct_ms.size(), pct(direct_ms, 0.5), pct(direct_ms, 0.99));
  std::printf(
      "\nrequests = answered (200/404) + 429 (rate limited, retried later) + errors, as the %d "
      "clients saw them.\n"
      "p50/p99: latency of the answered requests only. from cache: the share of answered "
      "requests served\n"
      "without calling the API (from Redis or the near cache); stale: answers from the near "
      "cache's stale copy\n"
      "while Redis was unreachable. API calls: calls that reached the API (5/s allowed; the rest "
      "got its 429).\n%s",
      clients,
      cluster ? "redis: part = one master of the three was down for part of the phase (until its "
                "replica was promoted).\nbreaker (the lines per second): the worst of the current "
                "masters' breakers.\n"
              : "");
  return rows;
}

void print_outage(const PhaseSummary& steady, const PhaseSummary& outage, const PhaseSummary& after,
                  long distinct_ids) {
  std::printf(
      "\nredis down %d s: %.1f answered/s vs %.1f/s steady (%.0f %%), %ld of them stale copies "
      "from the near cache;\n  %ld API calls for %ld distinct ids requested; %ld requests "
      "turned away (429) by the outage load cap\n",
      outage.seconds, outage.answered_per_s, steady.answered_per_s,
      steady.answered_per_s > 0 ? 100 * outage.answered_per_s / steady.answered_per_s : 0,
      outage.total.stale, outage.total.api_calls, distinct_ids, outage.total.shed);
  std::printf(
      "after restart %d s: redis came back empty: %.1f answered/s (%.0f %% of steady) while the "
      "cache refills at the API's 5/s\n",
      after.seconds, after.answered_per_s,
      steady.answered_per_s > 0 ? 100 * after.answered_per_s / steady.answered_per_s : 0);
}

}  // namespace demo
