// The stats and health snapshots as JSON under a comma-decimal locale: numbers keep their '.',
// the documents stay valid JSON (snprintf would write "hit_rate":0,333333).
#include "base/json.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "comma_locale.hpp"
#include "json_check.hpp"
#include "rcache/stats.hpp"
#include "rcache/status.hpp"

namespace rcache::test {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(JsonUnderACommaLocale, NumbersKeepTheirDecimalPointAndTheDocumentsParse) {
  const CommaLocale de;
  ASSERT_EQ(de.error(), "");
  Stats s;
  s.hits = 1;
  s.misses = 2;
  s.hit_rate = 1.0 / 3.0;
  s.latency.p50_ms = 0.25;
  s.latency.p99_ms = 1.5;
  s.latency.avg_ms = 0.125;
  s.compression_ratio = 0.42;
  s.loader_seconds = 2.5;
  s.ops.push_back(OpStats{});
  s.ops.back().op = "get";
  s.get_or_load_sources = {{"cache", 3}, {"loader", 1}};
  const std::string stats = s.to_json();
  EXPECT_EQ(JsonCheck::validate(stats), "") << stats;
  EXPECT_THAT(stats, HasSubstr("\"hit_rate\":0.333333"));
  EXPECT_THAT(stats, HasSubstr("\"p50\":0.25"));
  EXPECT_THAT(stats, HasSubstr("\"ratio\":0.42"));
  EXPECT_THAT(stats, HasSubstr("\"seconds\":2.5"));
  EXPECT_THAT(stats, Not(ContainsRegex("[0-9],[0-9]")));

  Health h;
  h.ping = std::chrono::microseconds(1250);
  h.reason = "ok";
  const std::string health = h.to_json();
  EXPECT_EQ(JsonCheck::validate(health), "") << health;
  EXPECT_THAT(health, HasSubstr("\"ping_ms\":1.25"));
}

TEST(JsonNumbers, NonFiniteValuesAreNullAndLargeOnesStayNumbers) {
  std::string out;
  detail::append_json_number(out, std::numeric_limits<double>::quiet_NaN());
  out += ",";
  detail::append_json_number(out, std::numeric_limits<double>::infinity());
  out += ",";
  detail::append_json_number(out, 1.5e300);
  EXPECT_EQ(out, "null,null,1.5e+300");
}

}  // namespace
}  // namespace rcache::test
