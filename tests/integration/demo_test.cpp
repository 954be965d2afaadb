// The main job in short mode: its table, its recovery line, and its HTTP endpoints.
// DEMO_BIN names the demo_service binary (set by meson).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include "json_check.hpp"

namespace rcache::test {
namespace {

using ::testing::HasSubstr;

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

TEST(Demo, ShortRunServesAZipfLoadSurvivesARedisKillAndRecovers) {
  const char* bin = std::getenv("DEMO_BIN");
  ASSERT_NE(bin, nullptr) << "DEMO_BIN not set";
  const auto dir =
      std::filesystem::temp_directory_path() / ("rcache-demo-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string cmd = std::string(bin) + " --short --dump " + dir.string() + " 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = ::pclose(p);
  std::printf("%s", out.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "demo failed";

  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      out, m,
      std::regex(
          R"(RESULT phase1_hit_rate=([0-9.]+) phase1_errors=(\d+) phase2_errors=(\d+) phase2_429=(\d+))")));
  EXPECT_GE(std::stod(m[1]), 0.15) << "hit rate under the floor for a Zipf load (uncached: 0)";
  EXPECT_EQ(std::stol(m[2]), 0) << "failed requests in the steady phase";
  EXPECT_EQ(std::stol(m[3]), 0) << "failed requests (other than 429s) with redis killed";
  // Through the outage the near cache keeps the service answering, and the API protected: at
  // most one upstream call per distinct id requested (loads are capped under its limit).
  std::smatch o;
  ASSERT_TRUE(std::regex_search(
      out, o,
      std::regex(
          R"(outage_answered_per_s=([0-9.]+) warm_answered_per_s=([0-9.]+) outage_upstream=(\d+) outage_distinct_ids=(\d+) outage_stale=(\d+))")));
  EXPECT_GE(std::stod(o[1]), 0.9 * std::stod(o[2])) << "answered/s during the outage";
  EXPECT_LE(std::stol(o[3]), std::stol(o[4])) << "upstream calls beyond one per id requested";
  EXPECT_GT(std::stol(o[5]), 0) << "no stale answers from the near cache during the outage";
  EXPECT_THAT(out, HasSubstr(">>> kill -9 redis-server"));
  EXPECT_THAT(out, HasSubstr(">>> recovered: cache hits resumed"));
  EXPECT_THAT(out, HasSubstr("direct"));

  const std::string stats = slurp(dir / "stats.json");
  EXPECT_EQ(JsonCheck::validate(stats), "") << stats;
  for (const char* f : {"\"hits\"", "\"misses\"", "\"hit_rate\"", "\"avg_latency_ms\"",
                        "\"circuit_breaker\":{\"state\"", "\"get_or_load\""}) {
    EXPECT_THAT(stats, HasSubstr(f));
  }
  const std::string health = slurp(dir / "health.json");
  EXPECT_EQ(JsonCheck::validate(health), "") << health;
  EXPECT_THAT(health, HasSubstr("\"status\""));
  EXPECT_EQ(slurp(dir / "purge_unconfirmed.txt"), "400");
  EXPECT_THAT(slurp(dir / "purge_confirmed.json"), HasSubstr("\"deleted\":"));
  const std::string promtool = "promtool check metrics < " + (dir / "metrics.txt").string() +
                               " > " + (dir / "promtool.txt").string() + " 2>&1";
  EXPECT_EQ(std::system(promtool.c_str()), 0) << slurp(dir / "promtool.txt");
  EXPECT_THAT(slurp(dir / "metrics.txt"), HasSubstr("rcache_hits_total"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rcache::test
