// Percentiles from log-linear buckets match exact percentiles within the documented 3.2 %.
#include "metrics/log_histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace rcache::detail {
namespace {

TEST(LogBuckets, EveryValueFallsInsideItsBucket) {
  std::mt19937_64 rng(3);
  for (int i = 0; i < 200000; ++i) {
    const std::uint64_t v = rng() >> (rng() % 64);
    const int b = LogBuckets::index(v);
    ASSERT_GE(b, 0);
    ASSERT_LT(b, LogBuckets::kCount);
    if (v < (std::uint64_t{1} << (LogBuckets::kMaxExp + 1))) {
      ASSERT_LE(LogBuckets::lower(b), v) << v;
      ASSERT_LT(v, LogBuckets::upper(b)) << v;
    }
  }
}

TEST(LogBuckets, BucketWidthIsAtMostOneSixteenthOfItsLowerBound) {
  for (int i = LogBuckets::kSub; i < LogBuckets::kCount; ++i) {
    const double lo = static_cast<double>(LogBuckets::lower(i));
    const double width = static_cast<double>(LogBuckets::upper(i)) - lo;
    ASSERT_LE(width / lo, 1.0 / 16 + 1e-12) << i;
  }
}

double exact(std::vector<std::uint64_t> v, double q) {
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
  return static_cast<double>(v[rank]);
}

TEST(LogHistogram, PercentilesOfAKnownSampleAreWithinThreePercent) {
  // A latency-like sample: lognormal around 200 us with a slow tail.
  std::mt19937_64 rng(11);
  std::lognormal_distribution<double> body(std::log(200'000.0), 0.6);
  std::vector<std::uint64_t> sample;
  LogHistogram h;
  for (int i = 0; i < 100000; ++i) {
    double ns = body(rng);
    if (i % 500 == 0) ns *= 50;  // 0.2 % very slow
    const auto v = static_cast<std::uint64_t>(ns);
    sample.push_back(v);
    h.add(v);
  }
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const double want = exact(sample, q);
    const double got = h.quantile(q);
    EXPECT_NEAR(got / want, 1.0, 0.032) << "q=" << q << " exact=" << want << " got=" << got;
  }
}

TEST(LogHistogram, EmptyIsZeroAndSingleValueIsItself) {
  LogHistogram h;
  EXPECT_EQ(h.quantile(0.5), 0.0);
  h.add(1'000'000);
  EXPECT_NEAR(h.quantile(0.99) / 1e6, 1.0, 0.032);
}

}  // namespace
}  // namespace rcache::detail
