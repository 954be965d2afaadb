// Observability: exact counts in the exposition, promtool, a real Prometheus scrape, JSON.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/exposer.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "comma_locale.hpp"
#include "fixtures.hpp"
#include "http_get.hpp"
#include "json_check.hpp"
#include "rcache/prometheus.hpp"

extern char** environ;

namespace rcache::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

// "name{labels}" -> value, from the text exposition. The label client="<client>" is dropped
// (so "rcache_up" for rcache_up{client="rcache"}); other clients' series keep theirs.
std::map<std::string, double> parse_exposition(const std::string& text,
                                               const std::string& client = "rcache") {
  const std::string only = "{client=\"" + client + "\"}";
  const std::string first = "client=\"" + client + "\",";
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto sp = line.rfind(' ');
    std::string key = line.substr(0, sp);
    if (auto p = key.find(only); p != std::string::npos) {
      key.erase(p, only.size());
    } else if (auto q = key.find(first); q != std::string::npos) {
      key.erase(q, first.size());
    }
    out[key] = std::stod(line.substr(sp + 1));
  }
  return out;
}

// promtool's verdict on an exposition: "" when it accepts it, else its report.
std::string promtool_check(const std::string& text) {
  char tmpl[] = "/tmp/rcache-promtool-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  std::ofstream(dir + "/metrics.txt") << text;
  const std::string cmd =
      "promtool check metrics < " + dir + "/metrics.txt > " + dir + "/out.txt 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream out(dir + "/out.txt");
  std::string report((std::istreambuf_iterator<char>(out)), {});
  std::filesystem::remove_all(dir);
  return rc == 0 ? "" : "promtool check metrics failed: " + report;
}

class Metrics : public RedisTest {
 protected:
  // 100 sets, 60 gets that hit, 40 that miss, 5 gets refused by a forced-open breaker.
  void scripted_workload(Client& c) {
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(c.set("k" + std::to_string(i), "v").ok());
    for (int i = 0; i < 60; ++i) ASSERT_TRUE(c.get("k" + std::to_string(i))->has_value());
    for (int i = 0; i < 40; ++i) ASSERT_FALSE(c.get("missing" + std::to_string(i))->has_value());
    c.force_breaker_open();
    for (int i = 0; i < 5; ++i) ASSERT_EQ(c.get("k1").error().code, Errc::circuit_open);
    c.reset_breaker();
  }
};

TEST_F(Metrics, ScriptedWorkloadShowsExactlyThoseCountsInTheExposition) {
  scripted_workload(client());
  const auto m = parse_exposition(metrics_text(client()));
  EXPECT_EQ(m.at("rcache_requests_total{op=\"set\",result=\"ok\"}"), 100);
  EXPECT_EQ(m.at("rcache_requests_total{op=\"get\",result=\"hit\"}"), 60);
  EXPECT_EQ(m.at("rcache_requests_total{op=\"get\",result=\"miss\"}"), 40);
  EXPECT_EQ(m.at("rcache_requests_total{op=\"get\",result=\"error\"}"), 5);
  EXPECT_EQ(m.at("rcache_hits_total"), 60);
  EXPECT_EQ(m.at("rcache_misses_total"), 40);
  EXPECT_EQ(m.at("rcache_errors_total{op=\"get\",reason=\"circuit_open\"}"), 5);
  EXPECT_EQ(m.at("rcache_rejected_total{reason=\"circuit_open\"}"), 5);
  // The 5 refused calls are errors, not latency samples.
  EXPECT_EQ(m.at("rcache_request_duration_seconds_count{op=\"get\"}"), 100);
  EXPECT_EQ(m.at("rcache_request_duration_seconds_bucket{op=\"set\",le=\"+Inf\"}"), 100);
  EXPECT_EQ(m.at("rcache_circuit_transitions_total{from=\"closed\",to=\"forced_open\"}"), 1);
  EXPECT_EQ(m.at("rcache_circuit_state{state=\"closed\"}"), 1);
  EXPECT_EQ(m.at("rcache_circuit_state{state=\"forced_open\"}"), 0);
  EXPECT_EQ(m.at("rcache_up"), 1);
  // Present at zero before anything happened.
  EXPECT_EQ(m.at("rcache_requests_total{op=\"del\",result=\"ok\"}"), 0);
  EXPECT_EQ(m.at("rcache_request_duration_seconds_count{op=\"mget\"}"), 0);
  EXPECT_EQ(m.at("rcache_retries_total{op=\"get\"}"), 0);
  EXPECT_EQ(m.at("rcache_get_or_load_total{source=\"loader\"}"), 0);
  EXPECT_EQ(m.at("rcache_loader_duration_seconds_count"), 0);
  EXPECT_EQ(m.at("rcache_loader_errors_total"), 0);
  EXPECT_EQ(m.at("rcache_connections{state=\"ready\"}"), 4);
  // No key ever appears in a label.
  EXPECT_EQ(metrics_text(client()).find("missing1"), std::string::npos);

  Stats s = client().stats();
  EXPECT_EQ(s.hits, 60u);
  EXPECT_EQ(s.misses, 40u);
  EXPECT_DOUBLE_EQ(s.hit_rate, 0.6);
  EXPECT_EQ(s.requests, 205u);
  EXPECT_EQ(s.errors, 5u);
  EXPECT_EQ(s.rejected_circuit_open, 5u);
  EXPECT_EQ(s.latency.samples, 200u);
  EXPECT_GT(s.latency.p50_ms, 0);
  EXPECT_LE(s.latency.p50_ms, s.latency.p99_ms);
}

TEST_F(Metrics, BucketsAreCumulativeAndLatencyHistogramIsConsistent) {
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(client().ping().ok());
  const auto m = parse_exposition(metrics_text(client()));
  double prev = 0;
  for (const char* le : {"5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
                         "0.025", "0.05", "0.1", "0.25", "0.5", "1", "+Inf"}) {
    const auto key =
        std::string("rcache_request_duration_seconds_bucket{op=\"ping\",le=\"") + le + "\"}";
    ASSERT_TRUE(m.count(key)) << key;
    EXPECT_GE(m.at(key), prev) << key;
    prev = m.at(key);
  }
  EXPECT_EQ(prev, 50);
}

TEST_F(Metrics, PromtoolAcceptsTheExposition) {
  scripted_workload(client());
  EXPECT_EQ(promtool_check(metrics_text(client())), "");
}

TEST_F(Metrics, JsonSnapshotsAreValidJsonWithTheDocumentedFields) {
  scripted_workload(client());
  const std::string stats = client().stats().to_json();
  EXPECT_EQ(JsonCheck::validate(stats), "") << stats;
  for (const char* field :
       {"\"hits\":60", "\"misses\":40", "\"hit_rate\":0.6", "\"avg_latency_ms\"", "\"errors\":5",
        "\"circuit_breaker\":{\"state\":\"closed\"", "\"latency_ms\":{\"p50\"", "\"p999\"",
        "\"connections\"", "\"errors_by_kind\":{\"circuit_open\":5}"}) {
    EXPECT_THAT(stats, HasSubstr(field));
  }
  const std::string health = client().health().to_json();
  EXPECT_EQ(JsonCheck::validate(health), "") << health;
  EXPECT_THAT(health, HasSubstr("\"status\":\"ok\""));
  EXPECT_THAT(health, HasSubstr("\"ping_ms\""));
}

// Sentinel's counters exist only for a client that uses Sentinel, from the start (so that
// increase() sees the first failover), and count lookups that failed on every sentinel.
TEST_F(Metrics, SentinelCountersAppearForASentinelClientAndCountFailedLookups) {
  const auto plain = parse_exposition(metrics_text(client()));
  EXPECT_EQ(plain.count("rcache_master_switches_total"), 0u);
  EXPECT_EQ(plain.count("rcache_discovery_failures_total"), 0u);

  Config c;
  c.sentinels = {"127.0.0.1:" + std::to_string(free_port())};  // nobody listens
  c.sentinel_master = "mymaster";
  c.connect_timeout = 500ms;
  auto created = Client::create(c);  // degraded (disabled), not a failure
  ASSERT_TRUE(created.ok()) << created.error().to_string();
  Client& sc = **created;
  const auto m = parse_exposition(metrics_text(sc), sc.stats().client);  // "rcache_2"
  ASSERT_EQ(m.count("rcache_master_switches_total"), 1u);
  EXPECT_EQ(m.at("rcache_master_switches_total"), 0);
  ASSERT_EQ(m.count("rcache_discovery_failures_total"), 1u);
  EXPECT_GE(m.at("rcache_discovery_failures_total"), 1);
  EXPECT_EQ(sc.health().status, Health::Status::disabled);
}

// The near cache's families: present with the near cache on (and only then), exact counts,
// promtool-clean.
TEST_F(Metrics, NearCacheFamiliesCountWhatHappenedAndPassPromtool) {
  const auto plain = parse_exposition(metrics_text(client()));
  EXPECT_EQ(plain.count("rcache_near_cache_hits_total"), 0u);
  Config c = config_for(*server_);
  c.near_cache_bytes = 1u << 20;
  auto created = Client::create(c);
  ASSERT_TRUE(created.ok()) << created.error().to_string();
  Client& nc = **created;
  ASSERT_TRUE(eventually(5s, [&] { return nc.stats().near_cache.coherent; }));
  ASSERT_TRUE(nc.set("nk", "v").ok());
  // The write comes back as an invalidation too; let it arrive before counting.
  ASSERT_TRUE(eventually(2s, [&] { return nc.stats().near_cache.invalidations >= 2; }));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(nc.get("nk").ok());  // 1 miss + fill, 9 hits
  const std::string text = metrics_text(nc);
  const auto m = parse_exposition(text, nc.stats().client);
  EXPECT_EQ(m.at("rcache_near_cache_hits_total"), 9);
  EXPECT_EQ(m.at("rcache_near_cache_fills_total"), 1);
  EXPECT_EQ(m.at("rcache_near_cache_entries"), 1);
  EXPECT_EQ(m.at("rcache_near_cache_coherent"), 1);
  EXPECT_EQ(m.at("rcache_near_cache_flushes_total{reason=\"tracking_lost\"}"), 0);
  EXPECT_GT(m.at("rcache_near_cache_bytes"), 0);
  EXPECT_EQ(promtool_check(text), "");
}

TEST(JsonCheckSelfTest, RejectsBrokenJson) {
  EXPECT_EQ(JsonCheck::validate(R"({"a":[1,2.5e3,"x\n",true,null]})"), "");
  EXPECT_NE(JsonCheck::validate(R"({"a":1,})"), "");
  EXPECT_NE(JsonCheck::validate("{\"a\":\"\x01\"}"), "");
  EXPECT_NE(JsonCheck::validate(R"({"a":01})"), "");
}

TEST(Exposer, BindFailureIsAClearErrorNotAnException) {
  Config c;
  c.port = free_port();
  c.log_level = LogLevel::off;
  auto client = make_client(c);
  auto first = start_exposer(*client, "127.0.0.1:0");
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  const int port = (*first)->port();
  ASSERT_GT(port, 0);
  auto clash = start_exposer(*client, "127.0.0.1:" + std::to_string(port));
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().code, Errc::invalid_argument);
  EXPECT_THAT(clash.error().message, HasSubstr("127.0.0.1:" + std::to_string(port)));
  auto garbage = start_exposer(*client, "not an address");
  EXPECT_FALSE(garbage.ok());
}

TEST_F(Metrics, ConfiguredAddressStartsAnExposerOwnedByTheClient) {
  Config c = config_for(*server_);
  const int port = free_port();
  c.metrics_address = "127.0.0.1:" + std::to_string(port);
  auto owned = make_client(c);
  ASSERT_NE(owned, nullptr);
  ASSERT_TRUE(owned->set("a", "1").ok());
  ASSERT_TRUE(owned->get("a")->has_value());
  auto r = http_get(port, "/metrics");
  EXPECT_EQ(r.status, 200);
  // The fixture's client is "rcache": this one, created beside it with the same name, is
  // "rcache_2".
  EXPECT_THAT(r.body, HasSubstr("rcache_hits_total{client=\"rcache_2\"} 1"));
  // An address another process holds: create() fails cleanly.
  auto other = start_exposer(*owned, "127.0.0.1:0");
  ASSERT_TRUE(other.ok());
  c.metrics_address = "127.0.0.1:" + std::to_string((*other)->port());
  auto clash = Client::create(c);
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().code, Errc::invalid_argument);
  EXPECT_THAT(clash.error().message, HasSubstr(c.metrics_address));
}

// Clients that name the same metrics_address share one exposer: one family per metric, a series
// per client, promtool-clean; it serves as long as one of them lives.
TEST_F(Metrics, ClientsNamingOneAddressShareItsExposerAndPassPromtool) {
  const int port = free_port();
  Config c = config_for(*server_);
  c.metrics_address = "127.0.0.1:" + std::to_string(port);
  c.client_name = "api";
  auto api = make_client(c);
  c.client_name = "sessions";
  auto sessions = make_client(c);
  ASSERT_NE(api, nullptr);
  ASSERT_NE(sessions, nullptr);
  ASSERT_TRUE(api->set("a", "1").ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(api->get("a")->has_value());
  ASSERT_FALSE(sessions->get("nothing")->has_value());
  auto r = http_get(port, "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(promtool_check(r.body), "");
  const auto m = parse_exposition(r.body, "api");
  EXPECT_EQ(m.at("rcache_hits_total"), 3);
  EXPECT_EQ(m.at("rcache_misses_total{client=\"sessions\"}"), 1);
  EXPECT_EQ(m.at("rcache_hits_total{client=\"sessions\"}"), 0);
  std::size_t help_lines = 0;
  for (std::size_t p = 0; (p = r.body.find("# HELP rcache_hits_total ", p)) != std::string::npos;
       ++p) {
    ++help_lines;
  }
  EXPECT_EQ(help_lines, 1u);

  api.reset();  // the exposer stays for the other client
  r = http_get(port, "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(r.body, Not(HasSubstr("client=\"api\"")));
  EXPECT_THAT(r.body, HasSubstr("rcache_misses_total{client=\"sessions\"} 1"));
  sessions.reset();  // the last one: the port is free again
  auto again = start_exposer(client(), "127.0.0.1:" + std::to_string(port));
  EXPECT_TRUE(again.ok()) << again.error().to_string();
}

// The all-clients collectable on an exposer the application owns: every live Client, created
// before or after the registration, told apart by client_name (a repeated name gets a suffix).
TEST_F(Metrics, OneCollectableShowsEveryLiveClientOnTheApplicationsExposer) {
  prometheus::Exposer exposer("127.0.0.1:0", 1);
  const auto all = make_collectable();  // the exposer holds it weakly: keep it
  exposer.RegisterCollectable(all);
  const int port = exposer.GetListeningPorts().front();
  Config c = config_for(*server_);
  c.client_name = "orders";
  auto orders = make_client(c);
  auto twin = make_client(c);  // same name
  ASSERT_NE(orders, nullptr);
  ASSERT_NE(twin, nullptr);
  ASSERT_TRUE(orders->set("o", "1").ok());
  ASSERT_TRUE(orders->get("o")->has_value());
  ASSERT_TRUE(twin->get("o")->has_value());
  ASSERT_TRUE(twin->get("o")->has_value());
  auto r = http_get(port, "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(promtool_check(r.body), "");
  const auto m = parse_exposition(r.body, "orders");
  EXPECT_EQ(m.at("rcache_hits_total"), 1);
  EXPECT_EQ(m.at("rcache_hits_total{client=\"orders_2\"}"), 2);
  EXPECT_EQ(m.count("rcache_hits_total{client=\"rcache\"}"), 1u);  // the fixture's client
  EXPECT_EQ(metrics_text(), r.body.substr(r.body.find("# HELP rcache_")));
  twin.reset();
  r = http_get(port, "/metrics");
  EXPECT_THAT(r.body, Not(HasSubstr("orders_2")));
  // A label is kept for the client's life: the first "orders" going away does not rename the
  // second (a renamed series would read as a counter reset), and a name taken as a suffix is
  // skipped.
  auto third = make_client(c);
  c.client_name = "orders_2";
  auto named_like_a_suffix = make_client(c);
  EXPECT_EQ(third->stats().client, "orders_2");
  EXPECT_EQ(named_like_a_suffix->stats().client, "orders_2_2");
  orders.reset();
  EXPECT_EQ(third->stats().client, "orders_2");
  c.client_name = "";
  auto unnamed = make_client(c);
  EXPECT_EQ(unnamed->stats().client, "rcache_2");  // the fixture's client is "rcache"
  EXPECT_EQ(promtool_check(metrics_text()), "");
}

// rcache_up says whether calls are being served by Redis: not while the breaker refuses them.
TEST_F(Metrics, UpIsZeroAndTheStateGaugeSaysWhyWhileTheBreakerRefusesCalls) {
  client().force_breaker_open();
  auto m = parse_exposition(metrics_text(client()));
  EXPECT_EQ(m.at("rcache_up"), 0);
  EXPECT_EQ(m.at("rcache_circuit_state{state=\"forced_open\"}"), 1);
  EXPECT_EQ(m.at("rcache_circuit_state{state=\"open\"}"), 0);
  EXPECT_EQ(m.at("rcache_circuit_state{state=\"closed\"}"), 0);
  EXPECT_GE(m.at("rcache_connections{state=\"ready\"}"), 1);  // connected all the same
  EXPECT_FALSE(client().stats().up);
  client().reset_breaker();
  m = parse_exposition(metrics_text(client()));
  EXPECT_EQ(m.at("rcache_up"), 1);
  EXPECT_EQ(m.at("rcache_circuit_state{state=\"closed\"}"), 1);
}

// get_or_load says where each result came from, how long its loaders took and how often they
// failed; only the application's calls count as hits and misses.
TEST_F(Metrics, GetOrLoadOutcomesLoaderTimeAndErrorsAreCounted) {
  auto slow = [] {
    std::this_thread::sleep_for(20ms);
    return Result<std::optional<std::string>>(std::optional<std::string>("v"));
  };
  auto failing = [] { return Result<std::optional<std::string>>(Error{Errc::server, "api 500"}); };
  LoadOptions o;
  o.ttl = 60s;
  ASSERT_EQ(client().get_or_load("gl", o, slow)->source, Loaded::Source::loader);
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(client().get_or_load("gl", o, slow)->source, Loaded::Source::cache);
  }
  ASSERT_FALSE(client().get_or_load("broken", o, failing).ok());
  const auto m = parse_exposition(metrics_text(client()));
  EXPECT_EQ(m.at("rcache_get_or_load_total{source=\"loader\"}"), 1);
  EXPECT_EQ(m.at("rcache_get_or_load_total{source=\"cache\"}"), 4);
  EXPECT_EQ(m.at("rcache_get_or_load_total{source=\"error\"}"), 1);
  EXPECT_EQ(m.at("rcache_loader_calls_total"), 2);
  EXPECT_EQ(m.at("rcache_loader_errors_total"), 1);
  EXPECT_EQ(m.at("rcache_loader_duration_seconds_count"), 2);
  EXPECT_GE(m.at("rcache_loader_duration_seconds_sum"), 0.020);
  EXPECT_EQ(m.at("rcache_loader_duration_seconds_bucket{le=\"0.01\"}"), 1);  // the failing one
  // 4 hits, 1 miss (the load); get_or_load's own GETs and SETs are not application reads.
  EXPECT_EQ(m.at("rcache_hits_total"), 4);
  EXPECT_EQ(m.at("rcache_misses_total"), 1);
  EXPECT_EQ(m.at("rcache_requests_total{op=\"get\",result=\"miss\"}"), 0);
  EXPECT_EQ(m.at("rcache_requests_total{op=\"set\",result=\"ok\"}"), 0);
  const std::string json = client().stats().to_json();
  EXPECT_THAT(json, HasSubstr("\"get_or_load_sources\":{\"cache\":4,"));
  EXPECT_THAT(json, HasSubstr("\"loader_errors\":1"));
}

// The exposition and the JSON snapshots under a comma-decimal locale (C and C++ global): still
// '.' in every number, promtool-clean, valid JSON.
TEST_F(Metrics, ExpositionAndJsonAreUnchangedUnderACommaDecimalLocale) {
  scripted_workload(client());
  std::string text, stats, health;
  {
    const CommaLocale de;
    ASSERT_EQ(de.error(), "");
    text = metrics_text(client());
    stats = client().stats().to_json();
    health = client().health().to_json();
  }
  EXPECT_EQ(promtool_check(text), "");
  EXPECT_THAT(text, HasSubstr("le=\"0.00025\""));
  EXPECT_EQ(JsonCheck::validate(stats), "") << stats;
  EXPECT_EQ(JsonCheck::validate(health), "") << health;
  EXPECT_THAT(stats, HasSubstr("\"hit_rate\":0.6"));
}

// Every metric the shipped dashboard and alerting rules use is one the library exposes (run on
// the exposition of a client with a near cache beside one that went through errors and a breaker
// transition, so that the families that appear on first use are there).
TEST_F(Metrics, MonitoringAssetsUseOnlyMetricsTheLibraryExposes) {
  scripted_workload(client());
  Config c = config_for(*server_);
  c.client_name = "sessions";
  c.near_cache_bytes = 1u << 20;
  auto near = make_client(c);
  ASSERT_NE(near, nullptr);
  char tmpl[] = "/tmp/rcache-monitoring-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  std::ofstream(dir + "/exposition.txt") << metrics_text();
  const std::string cmd = std::string("bash ") + RCACHE_SOURCE_ROOT +
                          "/scripts/check-monitoring.sh " + dir + "/exposition.txt > " + dir +
                          "/out.txt 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream out(dir + "/out.txt");
  const std::string report((std::istreambuf_iterator<char>(out)), {});
  std::filesystem::remove_all(dir);
  EXPECT_EQ(rc, 0) << report;
  EXPECT_THAT(report, HasSubstr("all checks passed"));
}

// A real Prometheus server scrapes an rcache exposer every second; its HTTP API must then report
// rcache_hits_total with the value we produced.
class PrometheusServer {
 public:
  explicit PrometheusServer(int target_port) {
    char tmpl[] = "/tmp/rcache-prometheus-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    port_ = free_port();
    std::ofstream(dir_ + "/prometheus.yml")
        << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        << "scrape_configs:\n  - job_name: rcache\n    static_configs:\n"
        << "      - targets: ['127.0.0.1:" << target_port << "']\n";
    std::vector<std::string> args = {"prometheus", "--config.file=" + dir_ + "/prometheus.yml",
                                     "--storage.tsdb.path=" + dir_ + "/data",
                                     "--web.listen-address=127.0.0.1:" + std::to_string(port_),
                                     "--log.level=warn"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    const std::string log = dir_ + "/prometheus.log";
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (posix_spawnp(&pid_, "prometheus", &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~PrometheusServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      for (int i = 0; i < 200 && ::waitpid(pid_, nullptr, WNOHANG) != pid_; ++i) {
        std::this_thread::sleep_for(25ms);
        if (i == 199) {
          ::kill(pid_, SIGKILL);
          ::waitpid(pid_, nullptr, 0);
        }
      }
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  bool started() const { return pid_ > 0; }
  int port() const { return port_; }

 private:
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

TEST_F(Metrics, RealPrometheusScrapesTheExposerAndReportsHits) {
  scripted_workload(client());
  auto exposer = start_exposer(client(), "127.0.0.1:0");
  ASSERT_TRUE(exposer.ok()) << exposer.error().to_string();
  PrometheusServer prom((*exposer)->port());
  ASSERT_TRUE(prom.started()) << "could not start prometheus";
  // Bounded: Prometheus starts, scrapes (1 s interval), and answers the query.
  std::string last;
  bool found = false;
  const auto end = std::chrono::steady_clock::now() + 60s;
  while (!found && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(250ms);
    auto r = http_get(prom.port(), "/api/v1/query?query=rcache_hits_total");
    if (r.status != 200) continue;
    last = r.body;
    found = r.body.find("\"rcache_hits_total\"") != std::string::npos &&
            r.body.find(",\"60\"]") != std::string::npos;
  }
  EXPECT_TRUE(found) << "last answer: " << last;
  EXPECT_EQ(JsonCheck::validate(last), "");
  auto up = http_get(prom.port(), "/api/v1/query?query=up%7Bjob%3D%22rcache%22%7D");
  EXPECT_THAT(up.body, HasSubstr(",\"1\"]")) << "target not up: " << up.body;
}

}  // namespace
}  // namespace rcache::test
