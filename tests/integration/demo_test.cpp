// The main job in short mode: its warm-up, its table (columns that add up, the outage in its own
// rows), its SVG timeline, its health endpoints with Redis killed and without Redis at all, and
// its other HTTP endpoints; and --cluster --short: a private cluster, one master failed over.
// DEMO_BIN names the demo_service binary, PYTHON3 a Python 3 to check the SVG with (both set by
// meson).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "http_get.hpp"
#include "json_check.hpp"

namespace rcache::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// One row of the demo's table.
struct Row {
  int secs = 0;
  long requests = 0, answered = 0, too_many = 0, errors = 0;
  double answered_per_s = 0, p50 = 0, p99 = 0, from_cache = 0;
  long stale = 0, api_calls = 0;
  std::string redis;
};

// The demo's run, once for every test of the suite.
class DemoRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* bin = std::getenv("DEMO_BIN");
    ASSERT_NE(bin, nullptr) << "DEMO_BIN not set";
    dir_ = std::filesystem::temp_directory_path() / ("rcache-demo-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    const std::string cmd = std::string(bin) + " --short --svg " +
                            (dir_ / "timeline.svg").string() + " --dump " + dir_.string() + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[4096];
    while (std::fgets(buf, sizeof buf, p) != nullptr) out_ += buf;
    status_ = ::pclose(p);
    std::printf("%s", out_.c_str());
    // The table: "steady   3  286  182  104  0  60.7  0.40  167.5  89.6%  0  119  up".
    const std::regex row(
        R"(^(steady|redis down|after restart) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+) +([0-9.]+) +)"
        R"(([0-9.]+) +([0-9.]+) +([0-9.]+)% +(\d+) +(\d+) +(up|down)$)");
    for (const auto& line : lines_of(out_)) {
      std::smatch m;
      if (!std::regex_match(line, m, row)) continue;
      Row r;
      r.secs = std::stoi(m[2]);
      r.requests = std::stol(m[3]);
      r.answered = std::stol(m[4]);
      r.too_many = std::stol(m[5]);
      r.errors = std::stol(m[6]);
      r.answered_per_s = std::stod(m[7]);
      r.p50 = std::stod(m[8]);
      r.p99 = std::stod(m[9]);
      r.from_cache = std::stod(m[10]);
      r.stale = std::stol(m[11]);
      r.api_calls = std::stol(m[12]);
      r.redis = m[13];
      rows_[m[1]] = r;
    }
    std::smatch m;
    const std::regex result(R"(RESULT (.*))");
    if (std::regex_search(out_, m, result)) {
      const std::regex kv(R"((\w+)=([0-9.]+))");
      const std::string fields = m[1];
      for (auto it = std::sregex_iterator(fields.begin(), fields.end(), kv);
           it != std::sregex_iterator(); ++it) {
        result_[(*it)[1]] = std::stod((*it)[2]);
      }
    }
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  void SetUp() override {
    ASSERT_TRUE(WIFEXITED(status_) && WEXITSTATUS(status_) == 0) << "demo failed";
  }
  static double result(const std::string& key) {
    const auto it = result_.find(key);
    EXPECT_NE(it, result_.end()) << "RESULT has no " << key;
    return it == result_.end() ? -1 : it->second;
  }

  static inline std::filesystem::path dir_;
  static inline std::string out_;
  static inline int status_ = -1;
  static inline std::map<std::string, Row> rows_;
  static inline std::map<std::string, double> result_;
};

TEST_F(DemoRun, WarmsUpFirstAndLeavesTheWarmUpOutOfTheTable) {
  const auto warm = out_.find("warming up (2 s, not counted in the table)");
  const auto steady = out_.find("steady (3 s)");
  ASSERT_NE(warm, std::string::npos);
  ASSERT_NE(steady, std::string::npos);
  EXPECT_LT(warm, steady);
  EXPECT_THAT(out_, HasSubstr("(not in the table: the 2 s warm-up"));
  EXPECT_EQ(rows_.size(), 3u) << "rows: steady, redis down, after restart";
  EXPECT_EQ(rows_.count("warm-up"), 0u);
}

TEST_F(DemoRun, TableColumnsAddUpPerPhase) {
  ASSERT_EQ(rows_.size(), 3u);
  for (const auto& [name, r] : rows_) {
    SCOPED_TRACE(name);
    EXPECT_GT(r.requests, 0);
    EXPECT_EQ(r.answered + r.too_many + r.errors, r.requests);
    EXPECT_NEAR(r.answered_per_s, static_cast<double>(r.answered) / r.secs, 0.06);
    EXPECT_LE(r.p50, r.p99);
    EXPECT_GE(r.from_cache, 0);
    EXPECT_LE(r.from_cache, 100);
    EXPECT_LE(r.stale, r.answered);
  }
  EXPECT_EQ(rows_["steady"].secs, 3);
  EXPECT_EQ(rows_["redis down"].secs, 3);
  EXPECT_EQ(rows_["after restart"].secs, 4);
  EXPECT_EQ(rows_["steady"].redis, "up");
  EXPECT_EQ(rows_["redis down"].redis, "down");
  EXPECT_EQ(rows_["after restart"].redis, "up");
  // No failed requests other than 429s: the service keeps answering through the outage.
  EXPECT_EQ(rows_["steady"].errors, 0);
  EXPECT_EQ(rows_["redis down"].errors, 0);
  EXPECT_EQ(rows_["after restart"].errors, 0);
  // The RESULT line says the same as the table.
  EXPECT_EQ(result("steady_requests"), rows_["steady"].requests);
  EXPECT_EQ(result("steady_answered"), rows_["steady"].answered);
  EXPECT_EQ(result("steady_429"), rows_["steady"].too_many);
}

TEST_F(DemoRun, AnsweredAnd429AreSeparateColumnsAndLatencyIsOfAnsweredOnly) {
  const std::regex header(
      R"(\nphase +secs +requests +answered +429 +errors +answered/s +p50 ms +p99 ms +from cache )"
      R"(+stale +API calls +redis\n)");
  EXPECT_TRUE(std::regex_search(out_, header)) << "table header";
  EXPECT_THAT(out_, HasSubstr("p50/p99: latency of the answered requests only"));
  // A cold cache in front of a 5/s API: there are 429s, and they are not called errors.
  EXPECT_GT(rows_["steady"].too_many, 0);
  // Answered requests are mostly cache hits (sub-millisecond) with API loads (~150 ms) in the
  // tail.
  EXPECT_LT(rows_["steady"].p50, 50);
  EXPECT_GT(rows_["steady"].p99, 100);
}

TEST_F(DemoRun, NoFigureIsPrintedTwiceUnderTwoNames) {
  EXPECT_THAT(out_, Not(HasSubstr("saved")));
  EXPECT_THAT(out_, Not(HasSubstr("429s avoided")));
  EXPECT_THAT(out_, Not(HasSubstr("hit rate")));
}

TEST_F(DemoRun, OutageRowsShowWhatWasServedAndFromWhere) {
  const Row& steady = rows_["steady"];
  const Row& down = rows_["redis down"];
  const Row& after = rows_["after restart"];
  // A hit-rate floor for a Zipf load (uncached: 0).
  EXPECT_GE(result("steady_from_cache"), 0.15);
  // Redis down: the near cache answers (stale copies, counted as such), the API is protected:
  // at most one call per distinct id requested (loads are capped under its limit).
  EXPECT_GT(down.stale, 0) << "no stale answers from the near cache during the outage";
  EXPECT_EQ(steady.stale, 0) << "stale answers while Redis was up";
  EXPECT_EQ(result("outage_stale"), down.stale);
  // Answered/s depends on the machine's load (7 of the 8 clients are mostly backing off after a
  // 429), so only a floor: without the near cache the outage answers about 5/s (8 % of steady).
  EXPECT_GE(down.answered_per_s, 0.5 * steady.answered_per_s) << "answered/s during the outage";
  EXPECT_LE(result("outage_api_calls"), result("outage_distinct_ids"));
  EXPECT_EQ(result("outage_api_calls"), down.api_calls);
  // Redis comes back empty, and the after-restart row says so: the API is called again.
  EXPECT_GT(after.api_calls, down.api_calls);
  EXPECT_THAT(out_, HasSubstr(">>> kill -9 redis-server"));
  EXPECT_THAT(out_, HasSubstr(">>> recovered: cache hits resumed"));
  EXPECT_THAT(out_, HasSubstr("the API itself, no cache: 6 calls"));
}

// The value of attribute `name` of the element with id="<id>", and whether it was found.
std::string attribute_of(const std::string& svg, const std::string& id, const std::string& name,
                         std::string* element = nullptr) {
  const auto at = svg.find("id=\"" + id + "\"");
  if (at == std::string::npos) return "<missing element>";
  const auto open = svg.rfind('<', at);
  const auto close = svg.find('>', at);
  const std::string tag = svg.substr(open, close - open);
  if (element != nullptr) *element = tag.substr(1, tag.find(' ') - 1);
  std::smatch m;
  if (!std::regex_search(tag, m, std::regex(" " + name + "=\"([^\"]*)\""))) return "<missing>";
  return m[1];
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string item; std::getline(in, item, sep);) out.push_back(item);
  return out;
}

TEST_F(DemoRun, WritesAWellFormedSvgTimelineWithEverySeries) {
  const auto path = dir_ / "timeline.svg";
  EXPECT_THAT(out_, HasSubstr("timeline (SVG, open it in a browser): " + path.string()));
  ASSERT_TRUE(std::filesystem::exists(path));
  const char* py = std::getenv("PYTHON3");
  const std::string check =
      std::string(py != nullptr && *py != '\0' ? py : "python3") +
      " -c 'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])' " + path.string() +
      " > " + (dir_ / "xml.txt").string() + " 2>&1";
  EXPECT_EQ(std::system(check.c_str()), 0) << "not well-formed XML: " << slurp(dir_ / "xml.txt");
  const std::string svg = slurp(path);
  EXPECT_THAT(svg, HasSubstr("xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_THAT(svg, HasSubstr("<g id=\"legend\">"));
  for (const char* label : {"seconds since the load started", "requests per second",
                            "% answered without an API call", "API limit"}) {
    EXPECT_THAT(svg, HasSubstr(label));
  }

  const auto seconds = static_cast<std::size_t>(result("seconds"));
  ASSERT_EQ(seconds, 12u);
  // The lines: one value per second.
  for (const char* id : {"series-answered", "series-429", "series-upstream", "series-hit-rate"}) {
    SCOPED_TRACE(id);
    std::string element;
    const auto values = split(attribute_of(svg, id, "data-values", &element), ',');
    EXPECT_EQ(element, "polyline");
    EXPECT_EQ(values.size(), seconds);
    // A point for each second with a value ("-": a second without answers, for the hit rate).
    const auto points = split(attribute_of(svg, id, "points", nullptr), ' ');
    EXPECT_EQ(points.size(), static_cast<std::size_t>(
                                 values.size() - std::count(values.begin(), values.end(), "-")));
    EXPECT_GE(points.size(), seconds - 1);
  }
  // The breaker: a state and a rectangle per second, open at some point while Redis was down.
  {
    std::string element;
    const auto states = split(attribute_of(svg, "series-breaker", "data-values", &element), ',');
    EXPECT_EQ(element, "g");
    ASSERT_EQ(states.size(), seconds);
    EXPECT_NE(std::find(states.begin(), states.end(), "open"), states.end());
    const auto group = svg.substr(svg.find("id=\"series-breaker\""));
    EXPECT_THAT(group.substr(0, group.find("</g>")), HasSubstr("<rect "));
  }
  // The band: Redis down in the seconds of the outage phase (5..8 in short mode), not before.
  {
    const auto down = split(attribute_of(svg, "band-redis-down", "data-values", nullptr), ',');
    ASSERT_EQ(down.size(), seconds);
    EXPECT_EQ(std::stod(down[4]), 0);
    EXPECT_GT(std::stod(down[6]), 0.9);
    const auto group = svg.substr(svg.find("id=\"band-redis-down\""));
    EXPECT_THAT(group.substr(0, group.find("</g>")), HasSubstr("<rect "));
  }
  // The picture and the table count the same requests.
  long answered = 0, too_many = 0;
  for (const auto& v : split(attribute_of(svg, "series-answered", "data-values"), ',')) {
    answered += std::stol(v);
  }
  for (const auto& v : split(attribute_of(svg, "series-429", "data-values"), ',')) {
    too_many += std::stol(v);
  }
  long table_answered = 0, table_429 = 0;
  for (const auto& [name, r] : rows_) {
    table_answered += r.answered;
    table_429 += r.too_many;
  }
  std::smatch warm;
  ASSERT_TRUE(std::regex_search(
      out_, warm, std::regex(R"(warm-up, (\d+) requests, (\d+) answered, (\d+) 429)")));
  EXPECT_EQ(answered, table_answered + std::stol(warm[2]));
  EXPECT_EQ(too_many, table_429 + std::stol(warm[3]));
}

// "<path> <status> <body>" lines, by path.
std::map<std::string, std::pair<int, std::string>> probes(const std::string& text) {
  std::map<std::string, std::pair<int, std::string>> out;
  for (const auto& line : lines_of(text)) {
    const auto a = line.find(' '), b = line.find(' ', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    out[line.substr(0, a)] = {std::atoi(line.c_str() + a + 1), line.substr(b + 1)};
  }
  return out;
}

TEST_F(DemoRun, WithRedisKilledTheServiceStaysLiveAndReadyDegraded) {
  auto during = probes(slurp(dir_ / "outage_probes.txt"));
  ASSERT_EQ(during.size(), 3u);
  EXPECT_EQ(during["/healthz"].first, 200);
  EXPECT_EQ(during["/readyz"].first, 200);
  EXPECT_THAT(during["/readyz"].second, HasSubstr("\"status\":\"degraded\""));
  EXPECT_EQ(during["/cache/health"].first, 200);
  EXPECT_THAT(during["/cache/health"].second, HasSubstr("\"status\":\"degraded\""));
  for (const auto& [path, answer] : during) EXPECT_EQ(JsonCheck::validate(answer.second), "");
  EXPECT_THAT(out_, HasSubstr("/healthz 200 ok, /readyz 200 degraded, /cache/health 200 degraded"));
  // Shutting down: not ready any more, still live.
  auto shutdown = probes(slurp(dir_ / "shutdown_probes.txt"));
  EXPECT_EQ(shutdown["/healthz"].first, 200);
  EXPECT_EQ(shutdown["/readyz"].first, 503);
  EXPECT_THAT(shutdown["/readyz"].second, HasSubstr("shutting_down"));
}

TEST_F(DemoRun, ServesStatsHealthMetricsAndGuardsPatternDeletes) {
  const std::string stats = slurp(dir_ / "stats.json");
  EXPECT_EQ(JsonCheck::validate(stats), "") << stats;
  for (const char* f : {"\"hits\"", "\"misses\"", "\"hit_rate\"", "\"avg_latency_ms\"",
                        "\"circuit_breaker\":{\"state\"", "\"get_or_load\""}) {
    EXPECT_THAT(stats, HasSubstr(f));
  }
  const std::string health = slurp(dir_ / "health.json");
  EXPECT_EQ(JsonCheck::validate(health), "") << health;
  EXPECT_THAT(health, HasSubstr("\"status\""));
  EXPECT_EQ(slurp(dir_ / "purge_unconfirmed.txt"), "400");
  EXPECT_THAT(slurp(dir_ / "purge_confirmed.json"), HasSubstr("\"deleted\":"));
  const std::string promtool = "promtool check metrics < " + (dir_ / "metrics.txt").string() +
                               " > " + (dir_ / "promtool.txt").string() + " 2>&1";
  EXPECT_EQ(std::system(promtool.c_str()), 0) << slurp(dir_ / "promtool.txt");
  EXPECT_THAT(slurp(dir_ / "metrics.txt"), HasSubstr("rcache_hits_total"));
}

// No Redis at all (nothing listens on the port): the service is live and ready, degraded, and
// answers from the API; only shutting down makes it unready.
TEST(Demo, WithoutRedisTheServiceIsLiveAndReadyAndCacheHealthIsNever503) {
  const char* bin = std::getenv("DEMO_BIN");
  ASSERT_NE(bin, nullptr) << "DEMO_BIN not set";
  const std::string cmd = "REDIS_URL=redis://127.0.0.1:1 " + std::string(bin) + " --serve 4 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  int port = 0;
  while (port == 0 && std::fgets(buf, sizeof buf, p) != nullptr) {
    out += buf;
    std::cmatch m;
    if (std::regex_search(buf, m, std::regex(R"(service: http://127\.0\.0\.1:(\d+)/)"))) {
      port = std::stoi(m[1]);
    }
  }
  ASSERT_NE(port, 0) << out;
  const auto live = http_get(port, "/healthz");
  EXPECT_EQ(live.status, 200);
  const auto ready = http_get(port, "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_THAT(ready.body, HasSubstr("\"status\":\"degraded\""));
  const auto health = http_get(port, "/cache/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(JsonCheck::validate(health.body), "") << health.body;
  EXPECT_THAT(health.body, HasSubstr("\"status\":\"degraded\""));
  const auto record = http_get(port, "/records/rec7", 3000);
  EXPECT_EQ(record.status, 200);
  EXPECT_THAT(record.body, HasSubstr("Customer rec7"));
  // At the end of its time it shuts down: /readyz turns 503 while /healthz stays 200.
  bool draining = false;
  while (!draining && std::fgets(buf, sizeof buf, p) != nullptr) {
    out += buf;
    draining = std::string(buf).find("shutting down") != std::string::npos;
  }
  EXPECT_TRUE(draining) << out;
  if (draining) {
    EXPECT_EQ(http_get(port, "/readyz").status, 503);
    EXPECT_EQ(http_get(port, "/healthz").status, 200);
  }
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = ::pclose(p);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  std::printf("%s", out.c_str());
}

// --cluster --short: a private cluster of 3 masters with a replica each; phase 2 kills one master,
// its replica is promoted and the calls on its slots are served again; only its keys are shed
// meanwhile; restarted, the killed node rejoins as a replica. About 14 s.
TEST(DemoCluster, OneMasterFailsOverAndOnlyItsKeysAreAffected) {
  const char* bin = std::getenv("DEMO_BIN");
  ASSERT_NE(bin, nullptr) << "DEMO_BIN not set";
  const auto dir = std::filesystem::temp_directory_path() /
                   ("rcache-demo-cluster-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string cmd =
      std::string(bin) + " --cluster --short --svg " + (dir / "timeline.svg").string() + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = ::pclose(p);
  std::printf("%s", out.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "demo failed";

  // The cluster started, and its layout was printed: 3 masters, each with a replica.
  EXPECT_THAT(out, HasSubstr("redis: a private Redis Cluster on 127.0.0.1, 3 masters with one "
                             "replica each, ready in"));
  const std::regex layout(
      R"(slots +\d+- *\d+  master 127\.0\.0\.1:\d+ \(pid \d+\)  replica 127\.0\.0\.1:\d+ \(pid \d+\))");
  EXPECT_EQ(
      std::distance(std::sregex_iterator(out.begin(), out.end(), layout), std::sregex_iterator()),
      3);
  // One master killed, its replica promoted (asked of the node), its slots served again.
  EXPECT_THAT(out, HasSubstr(">>> kill -9 master 127.0.0.1:"));
  EXPECT_THAT(out, HasSubstr(">>> promoted: 127.0.0.1:"));
  EXPECT_THAT(out, HasSubstr(">>> served again: a GET on its slots"));
  EXPECT_THAT(out, HasSubstr(">>> recovered: the load's calls on its slots answered from Redis"));
  EXPECT_THAT(out, HasSubstr(">>> rejoined: 127.0.0.1:"));
  std::map<std::string, double> result;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(RESULT (.*))")));
  const std::string fields = m[1];
  const std::regex kv(R"((\w+)=([0-9.]+))");
  for (auto it = std::sregex_iterator(fields.begin(), fields.end(), kv);
       it != std::sregex_iterator(); ++it) {
    result[(*it)[1]] = std::stod((*it)[2]);
  }
  EXPECT_EQ(result["cluster"], 1);
  ASSERT_EQ(result.count("promoted_after_s"), 1u) << "not promoted";
  EXPECT_GT(result["promoted_after_s"], 0.5);  // cluster-node-timeout is 1 s
  EXPECT_LT(result["promoted_after_s"], 10);
  ASSERT_EQ(result.count("served_again_after_promotion_s"), 1u) << "not served again";
  EXPECT_LT(result["served_again_after_promotion_s"], 5);
  EXPECT_EQ(result.count("load_from_redis_after_promotion_s"), 1u) << "the load did not recover";
  EXPECT_EQ(result.count("rejoined_after_s"), 1u) << "the killed node did not rejoin";

  // The main table: a master down for part of phase 2 only.
  const std::regex row(
      R"(^(steady|failover|after restart) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+) +[0-9.]+ +[0-9.]+ +)"
      R"([0-9.]+ +[0-9.]+% +\d+ +\d+ +(up|part)$)");
  // The table by keys: phase, keys, requests, answered, answered/s, from cache, from API, 429,
  // shed, errors, p99.
  const std::regex by_keys(
      R"(^(steady|failover|after restart) +(killed master|other masters) +(\d+) +(\d+) +[0-9.]+ +)"
      R"((\d+) +(\d+) +(\d+) +(\d+) +(\d+) +[0-9.]+$)");
  std::map<std::string, std::string> redis_column;
  struct Keys {
    long requests = 0, answered = 0, cache = 0, api = 0, too_many = 0, shed = 0, errors = 0;
  };
  std::map<std::string, Keys> keys;
  for (const auto& line : lines_of(out)) {
    if (std::regex_match(line, m, row)) {
      redis_column[m[1]] = m[7];
      EXPECT_EQ(std::stol(m[4]) + std::stol(m[5]) + std::stol(m[6]), std::stol(m[3])) << line;
    } else if (std::regex_match(line, m, by_keys)) {
      Keys k{std::stol(m[3]), std::stol(m[4]), std::stol(m[5]), std::stol(m[6]),
             std::stol(m[7]), std::stol(m[8]), std::stol(m[9])};
      EXPECT_EQ(k.answered + k.too_many + k.errors, k.requests) << line;
      EXPECT_EQ(k.cache + k.api, k.answered) << line;
      EXPECT_LE(k.shed, k.too_many) << line;
      keys[std::string(m[1]) + "/" + std::string(m[2])] = k;
    }
  }
  EXPECT_EQ(redis_column["steady"], "up");
  EXPECT_EQ(redis_column["failover"], "part");
  EXPECT_EQ(redis_column["after restart"], "up");
  ASSERT_EQ(keys.size(), 6u) << "the table by keys";
  // Only the killed master's keys were turned away by the outage load cap, and only in phase 2;
  // the other masters' keys went on from Redis.
  EXPECT_GT(keys["failover/killed master"].shed, 0);
  for (const char* phase : {"steady", "failover", "after restart"}) {
    SCOPED_TRACE(phase);
    EXPECT_EQ(keys[std::string(phase) + "/other masters"].shed, 0);
    EXPECT_EQ(keys[std::string(phase) + "/other masters"].errors, 0);
    EXPECT_GT(keys[std::string(phase) + "/other masters"].cache, 0);
  }
  EXPECT_EQ(keys["steady/killed master"].shed, 0);
  EXPECT_EQ(keys["after restart/killed master"].shed, 0);
  // The promoted replica had the data: the killed master's keys come from the cache again.
  EXPECT_GT(keys["after restart/killed master"].cache, keys["after restart/killed master"].api);

  // The timeline: well-formed, with the killed master's keys as a line of their own and the
  // failover's moments marked.
  const auto svg_path = dir / "timeline.svg";
  const char* py = std::getenv("PYTHON3");
  const std::string check =
      std::string(py != nullptr && *py != '\0' ? py : "python3") +
      " -c 'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])' " + svg_path.string() +
      " > " + (dir / "xml.txt").string() + " 2>&1";
  EXPECT_EQ(std::system(check.c_str()), 0) << "not well-formed XML: " << slurp(dir / "xml.txt");
  const std::string svg = slurp(svg_path);
  EXPECT_THAT(svg, HasSubstr("id=\"series-hit-rate-group\""));
  EXPECT_THAT(svg, HasSubstr("master down"));
  EXPECT_THAT(svg, HasSubstr("replica promoted (t="));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rcache::test
