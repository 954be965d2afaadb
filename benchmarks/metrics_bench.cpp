// Cost of recording one call's outcome: rcache's lock-free recorder beside prometheus-cpp's own
// Counter::Increment and Histogram::Observe (same 14 buckets), at 1 and 2 threads, same run.
#include <benchmark/benchmark.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <memory>

#include "metrics/metrics.hpp"

namespace {

using Clock = std::chrono::steady_clock;

rcache::detail::Metrics& recorder() {
  static auto* m = new rcache::detail::Metrics();
  return *m;
}

void BM_RcacheRecord(benchmark::State& state) {
  auto& m = recorder();
  const auto now = Clock::now();
  std::int64_t ns = 120'000 + state.thread_index() * 7;
  for (auto _ : state) {
    m.record(rcache::detail::Op::get, rcache::detail::ResultKind::hit, rcache::Errc{},
             std::chrono::nanoseconds(ns), now);
    ns = (ns * 13 + 7) % 2'000'000;  // vary the bucket
  }
}
BENCHMARK(BM_RcacheRecord)->Threads(1)->Threads(2)->UseRealTime();

struct Prom {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Counter* counter = nullptr;
  prometheus::Histogram* histogram = nullptr;
  Prom() {
    counter = &prometheus::BuildCounter().Name("bench_total").Register(*registry).Add({});
    prometheus::Histogram::BucketBoundaries b(rcache::detail::kPromBounds.begin(),
                                              rcache::detail::kPromBounds.end());
    histogram = &prometheus::BuildHistogram().Name("bench_seconds").Register(*registry).Add({}, b);
  }
};

Prom& prom() {
  static auto* p = new Prom();
  return *p;
}

void BM_PromCounterIncrement(benchmark::State& state) {
  auto& c = *prom().counter;
  for (auto _ : state) c.Increment();
}
BENCHMARK(BM_PromCounterIncrement)->Threads(1)->Threads(2)->UseRealTime();

void BM_PromHistogramObserve(benchmark::State& state) {
  auto& h = *prom().histogram;
  double v = 0.000120;
  for (auto _ : state) {
    h.Observe(v);
    v = v > 1.5 ? 0.000120 : v * 1.37;
  }
}
BENCHMARK(BM_PromHistogramObserve)->Threads(1)->Threads(2)->UseRealTime();

// What one call costs in prometheus-cpp terms: a counter for the result plus a histogram
// observation (the way a hand-written wrapper would record).
void BM_PromCounterPlusHistogram(benchmark::State& state) {
  auto& c = *prom().counter;
  auto& h = *prom().histogram;
  for (auto _ : state) {
    c.Increment();
    h.Observe(0.000120);
  }
}
BENCHMARK(BM_PromCounterPlusHistogram)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
