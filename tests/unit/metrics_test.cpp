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

}  // namespace
}  // namespace rcache::detail
