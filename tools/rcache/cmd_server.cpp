// rcache CLI: ping, health and stats: the server and the client's view of it.
#include <algorithm>
#include <thread>
#include <utility>

#include "cli.hpp"
#include "metrics.hpp"
#include "text.hpp"

namespace rcache::cli {
namespace {

std::string ms_text(std::chrono::microseconds us) {
  return fixed(static_cast<double>(us.count()) / 1000.0, 3);
}

// INFO's "name:value" lines, in order; "# Section" lines and blanks skipped.
std::vector<std::pair<std::string, std::string>> info_fields(std::string_view info) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t pos = 0;
  while (pos < info.size()) {
    std::size_t end = info.find('\n', pos);
    if (end == std::string_view::npos) end = info.size();
    std::string_view line = info.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    out.emplace_back(std::string(line.substr(0, colon)), std::string(line.substr(colon + 1)));
  }
  return out;
}

std::uint64_t to_u64(std::string_view s) {
  std::uint64_t n = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') break;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

// "keys=12,expires=3,avg_ttl=0" -> the value of `name`.
std::uint64_t db_field(std::string_view spec, std::string_view name) {
  const std::string needle = std::string(name) + "=";
  std::size_t at = 0;
  while ((at = spec.find(needle, at)) != std::string_view::npos) {
    if (at == 0 || spec[at - 1] == ',') return to_u64(spec.substr(at + needle.size()));
    at += needle.size();
  }
  return 0;
}

int stats_from_info(Context& ctx) {
  auto opened = open_client(ctx, "stats");
  if (const int* code = std::get_if<int>(&opened)) return *code;
  auto info = std::get<Client*>(opened)->command({"INFO"});
  if (!info) return ctx.fail(info.error(), "stats: INFO");
  const auto fields = info_fields(info->str);
  const auto get = [&](std::string_view name) -> std::string {
    for (const auto& [k, v] : fields) {
      if (k == name) return v;
    }
    return "";
  };
  const std::uint64_t hits = to_u64(get("keyspace_hits"));
  const std::uint64_t misses = to_u64(get("keyspace_misses"));
  const double rate =
      hits + misses == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(hits + misses);
  const std::uint64_t memory = to_u64(get("used_memory"));
  std::string text = "redis " + get("redis_version") + " at " + ctx.endpoint() + ", up " +
                     with_commas(to_u64(get("uptime_in_seconds"))) + " s\n";
  text += "keyspace hits    " + with_commas(hits) + "\n";
  text += "keyspace misses  " + with_commas(misses) + "\n";
  text += "hit rate         " +
          (hits + misses == 0 ? std::string("n/a (no reads yet)") : fixed(rate * 100, 1) + " %") +
          "\n";
  text += "ops/s            " + get("instantaneous_ops_per_sec") +
          " (commands processed: " + with_commas(to_u64(get("total_commands_processed"))) + ")\n";
  text += "used memory      " + human_bytes(memory) + " (peak " +
          human_bytes(to_u64(get("used_memory_peak"))) + ", maxmemory " +
          (to_u64(get("maxmemory")) == 0 ? std::string("none")
                                         : human_bytes(to_u64(get("maxmemory")))) +
          ", policy " + get("maxmemory_policy") + ")\n";
  text += "expired keys     " + with_commas(to_u64(get("expired_keys"))) + ", evicted " +
          with_commas(to_u64(get("evicted_keys"))) + "\n";
  text += "clients          " + get("connected_clients") + " connected\n";
  text += "keys per db:\n";
  std::string dbs;
  bool any = false;
  for (const auto& [k, v] : fields) {
    if (k.rfind("db", 0) != 0 || k.size() < 3 || k[2] < '0' || k[2] > '9') continue;
    const std::uint64_t keys = db_field(v, "keys");
    const std::uint64_t expires = db_field(v, "expires");
    text +=
        "  " + k + "  " + count_of(keys, "key") + ", " + with_commas(expires) + " with an expiry\n";
    dbs += std::string(any ? "," : "") + json_string(k) + ":{\"keys\":" + std::to_string(keys) +
           ",\"expires\":" + std::to_string(expires) + "}";
    any = true;
  }
  if (!any) text += "  (no keys)\n";
  if (ctx.json()) {
    ctx.out("{\"ok\":true,\"command\":\"stats\",\"source\":\"info\",\"redis_version\":" +
            json_string(get("redis_version")) + ",\"keyspace_hits\":" + std::to_string(hits) +
            ",\"keyspace_misses\":" + std::to_string(misses) + ",\"hit_rate\":" + fixed(rate, 4) +
            ",\"ops_per_sec\":" + std::to_string(to_u64(get("instantaneous_ops_per_sec"))) +
            ",\"used_memory\":" + std::to_string(memory) + ",\"dbs\":{" + dbs + "}}\n");
  } else {
    ctx.out(text);
  }
  return kOk;
}

}  // namespace

int run_ping(Context& ctx) {
  auto opened = open_client(ctx, "ping");
  if (const int* code = std::get_if<int>(&opened)) return *code;
  Client& client = *std::get<Client*>(opened);
  const std::int64_t count = ctx.inv().number("--count", 1);
  const std::chrono::milliseconds interval(ctx.inv().number("--interval", 1000));
  const std::string where = ctx.endpoint();
  std::int64_t answered = 0;
  std::chrono::microseconds min{0}, max{0}, sum{0};
  std::optional<Error> last_error;
  for (std::int64_t i = 0; i < count; ++i) {
    if (i > 0 && interval.count() > 0) std::this_thread::sleep_for(interval);
    auto rtt = client.ping();
    if (!rtt) {
      ctx.warn("ping " + std::to_string(i + 1) + ": " + describe(rtt.error()));
      last_error = rtt.error();
      continue;
    }
    min = answered == 0 ? *rtt : std::min(min, *rtt);
    max = std::max(max, *rtt);
    sum += *rtt;
    ++answered;
    ctx.note("PONG from " + where + ": time=" + ms_text(*rtt) + " ms");
  }
  if (answered == 0) return ctx.fail(*last_error, "ping");
  const auto avg = std::chrono::microseconds(sum.count() / answered);
  if (count > 1) {
    ctx.note(std::to_string(count) + " pings, " + std::to_string(answered) +
             " answered; min/avg/max = " + ms_text(min) + "/" + ms_text(avg) + "/" + ms_text(max) +
             " ms");
  }
  if (ctx.json()) {
    ctx.out(std::string("{\"ok\":") + (answered == count ? "true" : "false") +
            ",\"command\":\"ping\",\"endpoint\":" + json_string(where) +
            ",\"sent\":" + std::to_string(count) + ",\"answered\":" + std::to_string(answered) +
            ",\"min_ms\":" + ms_text(min) + ",\"avg_ms\":" + ms_text(avg) +
            ",\"max_ms\":" + ms_text(max) + "}\n");
  }
  return answered == count ? kOk : kFailure;
}

int run_health(Context& ctx) {
  // Not fail-fast: an unreachable Redis is a health status to report, not a start-up failure.
  auto opened = open_client(ctx, "health", false);
  if (const int* code = std::get_if<int>(&opened)) return *code;
  const Health h = std::get<Client*>(opened)->health();
  const bool ok = h.status == Health::Status::ok;
  if (ctx.json()) {
    ctx.out(h.to_json() + "\n");
  } else {
    std::string t = "status:       " + std::string(to_string(h.status)) + "\n";
    if (!h.reason.empty()) t += "reason:       " + h.reason + "\n";
    t += "ping:         " + (h.ping ? ms_text(*h.ping) + " ms" : std::string("none")) + "\n";
    t += "breaker:      " + std::string(to_string(h.breaker)) + "\n";
    t += "endpoint:     " + (h.pool.endpoint.empty() ? ctx.endpoint() : h.pool.endpoint);
    if (!h.pool.via.empty()) t += " (via " + h.pool.via + ")";
    t += "\nconnections:  " + std::to_string(h.pool.ready) + " ready, " +
         std::to_string(h.pool.connecting) + " connecting, " + std::to_string(h.pool.down) +
         " down\n";
    if (!h.pool.last_error.empty()) t += "last error:   " + h.pool.last_error + "\n";
    for (const auto& n : h.nodes) {
      t += "node:         " + n.address + " " + n.role + ", " + std::to_string(n.slots) +
           " slots, breaker " + std::string(to_string(n.breaker)) + ", " + std::to_string(n.ready) +
           " ready" + (n.last_error.empty() ? "" : ", last error: " + n.last_error) + "\n";
    }
    ctx.out(t);
  }
  if (!ok) {
    std::fflush(stdout);
    ctx.warn("health: " + std::string(to_string(h.status)) +
             (h.reason.empty() ? "" : ": " + h.reason));
  }
  return ok ? kOk : kFailure;
}

int run_stats(Context& ctx) {
  const auto url = ctx.inv().text("--metrics");
  if (!url) return stats_from_info(ctx);
  auto target = parse_http_url(*url);
  if (!target) return ctx.fail(kUsage, "stats: --metrics: " + target.error().message);
  const auto timeout = ctx.inv().global.timeout.value_or(kDefaultTimeout);
  auto page = http_get(*target, timeout);
  if (!page) return ctx.fail(kFailure, "stats: " + *url + ": " + page.error().message);
  auto summary = summarize_metrics(*page);
  if (summary.clients.empty()) {
    return ctx.fail(kFailure, "stats: " + *url + " has no rcache_* series with a client label");
  }
  ctx.out(ctx.json() ? render_metrics_json(summary, *url) : render_metrics_text(summary, *url));
  return kOk;
}

}  // namespace rcache::cli
