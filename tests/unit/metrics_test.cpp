// The lock-free recorder: exact totals, and rolling-window percentiles within the documented 3.2 %.
#include "metrics/metrics.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>
#include <vector>

namespace rcache::detail {
namespace {

using std::chrono::nanoseconds;
using Clock = std::chrono::steady_clock;

TEST(MetricsRecorder, TotalsAreExactAcrossThreads) {
  auto m = std::make_unique<Metrics>();
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        m->record(Op::get, i % 4 == 0 ? ResultKind::miss : ResultKind::hit, Errc{},
                  nanoseconds(100'000), Clock::now());
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(m->requests(Op::get, ResultKind::hit), 30000u);
  EXPECT_EQ(m->requests(Op::get, ResultKind::miss), 10000u);
  const auto b = m->latency_buckets(Op::get);
  EXPECT_EQ(b.back(), 40000u);
  EXPECT_EQ(b[0], 0u);      // le 50 us
  EXPECT_EQ(b[1], 40000u);  // le 100 us: 100 us exactly is inside (Prometheus buckets are <=)
}

TEST(MetricsRecorder, WindowPercentilesMatchExactOnesWithinThreePercent) {
  auto m = std::make_unique<Metrics>();
  std::mt19937_64 rng(5);
  std::lognormal_distribution<double> d(std::log(300'000.0), 0.8);
  std::vector<double> sample;
  const auto now = Clock::now();
  for (int i = 0; i < 50000; ++i) {
    const double ns = d(rng);
    sample.push_back(static_cast<double>(static_cast<std::uint64_t>(ns)));
    m->record(Op::set, ResultKind::ok, Errc{}, nanoseconds(static_cast<std::int64_t>(ns)), now);
  }
  std::sort(sample.begin(), sample.end());
  const LogHistogram w = m->window(now);
  ASSERT_EQ(w.total, 50000u);
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const double exact = sample[static_cast<std::size_t>(q * (sample.size() - 1))];
    EXPECT_NEAR(w.quantile(q) / exact, 1.0, 0.032) << "q=" << q;
  }
}

TEST(MetricsRecorder, OldWindowSlotsAreNotCounted) {
  auto m = std::make_unique<Metrics>();
  const auto t0 = Clock::now();
  m->record(Op::get, ResultKind::hit, Errc{}, nanoseconds(1000), t0);
  const auto later = t0 + std::chrono::seconds(Metrics::kSlots * Metrics::kSlotSeconds + 1);
  EXPECT_EQ(m->window(t0).total, 1u);
  EXPECT_EQ(m->window(later).total, 0u);
  EXPECT_EQ(m->requests(Op::get, ResultKind::hit), 1u);  // totals are forever
}

// A call refused without touching Redis is a call and an error, but not a latency sample: its
// 0.3 us would drag the quantiles down exactly while Redis is in trouble.
TEST(MetricsRecorder, RefusedCallsAreCountedButKeptOutOfTheLatencyHistogram) {
  auto m = std::make_unique<Metrics>();
  const auto now = Clock::now();
  m->record(Op::get, ResultKind::hit, Errc{}, nanoseconds(200'000), now);
  for (const Errc refusal : {Errc::circuit_open, Errc::disabled, Errc::rejected}) {
    m->record(Op::get, ResultKind::error, refusal, nanoseconds(300), now);
  }
  m->record(Op::get, ResultKind::error, Errc::timeout, nanoseconds(50'000'000), now);
  EXPECT_EQ(m->requests(Op::get, ResultKind::error), 4u);
  EXPECT_EQ(m->errors(Op::get, Errc::circuit_open), 1u);
  EXPECT_EQ(m->latency_buckets(Op::get).back(), 2u);  // the hit and the timeout
  EXPECT_EQ(m->window(now).total, 2u);
  EXPECT_NEAR(m->latency_sum_seconds(Op::get), 0.0502, 1e-9);
}

TEST(MetricsRecorder, RetriesAreCountedByOpAndInternalTrafficCountsAsGetOrLoad) {
  auto m = std::make_unique<Metrics>();
  m->retried(Op::set);
  m->retried(Op::set);
  m->retried(Op::internal);
  EXPECT_EQ(m->retries(Op::set), 2u);
  EXPECT_EQ(m->retries(Op::get_or_load), 1u);
  EXPECT_EQ(m->retries(Op::get), 0u);
}

TEST(MetricsRecorder, LoaderDurationsLandInTheirBucketsAndSum) {
  auto m = std::make_unique<Metrics>();
  m->loader_ran(std::chrono::milliseconds(3));    // <= 5 ms
  m->loader_ran(std::chrono::milliseconds(150));  // <= 250 ms
  m->loader_ran(std::chrono::seconds(20));        // +Inf only
  const auto b = m->loader_buckets();
  ASSERT_EQ(b.size(), kLoaderBounds.size() + 1);
  EXPECT_EQ(b[1], 0u);   // <= 2.5 ms
  EXPECT_EQ(b[2], 1u);   // <= 5 ms
  EXPECT_EQ(b[6], 1u);   // <= 100 ms
  EXPECT_EQ(b[7], 2u);   // <= 250 ms
  EXPECT_EQ(b[12], 2u);  // <= 10 s
  EXPECT_EQ(b.back(), 3u);
  EXPECT_NEAR(m->loader_sum_seconds(), 20.153, 1e-6);
  m->load_result(LoadSource::loader);
  m->load_result(LoadSource::loader);
  m->load_result(LoadSource::error);
  EXPECT_EQ(m->load_results(LoadSource::loader), 2u);
  EXPECT_EQ(m->load_results(LoadSource::error), 1u);
  EXPECT_EQ(m->load_results(LoadSource::cache), 0u);
  EXPECT_EQ(load_source_name(LoadSource::near_cache_stale), "near_cache_stale");
}

}  // namespace
}  // namespace rcache::detail
