// Log-linear latency buckets: 16 linear sub-buckets per power of two of nanoseconds, so a bucket
// spans at most 1/16 of its lower bound and its midpoint is within ~3.1 % of any value in it.
// Covers 0 .. 2^36 ns (~69 s); larger values land in the last bucket.
//
// Thread safety: pure functions; LogHistogram (plain counts) is for one thread or a snapshot.
#pragma once

#include <array>
#include <cstdint>

namespace rcache::detail {

struct LogBuckets {
  static constexpr int kSubBits = 4;
  static constexpr int kSub = 1 << kSubBits;  // 16
  static constexpr int kMaxExp = 36;
  static constexpr int kCount = (kMaxExp - kSubBits + 1) * kSub + kSub;  // 544

  static int index(std::uint64_t ns) noexcept {
    if (ns < static_cast<std::uint64_t>(kSub)) return static_cast<int>(ns);  // exact below 16 ns
    const int msb = 63 - __builtin_clzll(ns);
    if (msb > kMaxExp) return kCount - 1;
    const int shift = msb - kSubBits;
    const int sub = static_cast<int>((ns >> shift) & (kSub - 1));
    return (shift + 1) * kSub + sub;
  }
  // [lower, upper) of a bucket, in ns.
  static std::uint64_t lower(int i) noexcept {
    if (i < kSub) return static_cast<std::uint64_t>(i);
    const int shift = i / kSub - 1;
    const int sub = i % kSub;
    return (static_cast<std::uint64_t>(kSub + sub)) << shift;
  }
  static std::uint64_t upper(int i) noexcept {
    if (i < kSub) return static_cast<std::uint64_t>(i) + 1;
    const int shift = i / kSub - 1;
    return lower(i) + (std::uint64_t{1} << shift);
  }
  static double mid(int i) noexcept {
    return (static_cast<double>(lower(i)) + static_cast<double>(upper(i))) / 2.0;
  }
};

struct LogHistogram {
  std::array<std::uint64_t, LogBuckets::kCount> counts{};
  std::uint64_t total = 0;

  void add(std::uint64_t ns, std::uint64_t n = 1) noexcept {
    counts[static_cast<std::size_t>(LogBuckets::index(ns))] += n;
    total += n;
  }
  // Value at quantile q in [0, 1] (bucket midpoint), in ns; 0 when empty.
  double quantile(double q) const noexcept {
    if (total == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total - 1)) + 1;
    std::uint64_t seen = 0;
    for (int i = 0; i < LogBuckets::kCount; ++i) {
      seen += counts[static_cast<std::size_t>(i)];
      if (seen >= rank) return LogBuckets::mid(i);
    }
    return LogBuckets::mid(LogBuckets::kCount - 1);
  }
};

}  // namespace rcache::detail
