// How often keys were asked for lately, approximately: a count-min sketch of 4-bit counters
// (4 per key), halved every 10 x width additions so that old popularity fades. The near cache's
// admission filter (W-TinyLFU) compares a new entry's estimate with its victim's.
//
// Blocked layout (as Caffeine's): a key's 4 counters lie in one 64-byte block, one per 16-byte
// quarter, so an add or an estimate touches one cache line and mixes the hash once; the hit path
// pays for one likely cache miss, not four.
//
// Error: an estimate is never below the true count since the last halving (capped at 15) and
// is above it only by collisions, which `width` counters per quarter keep rare for a few times
// `width` distinct keys.
//
// Thread safety: none; the near cache calls it under its shard lock.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace rcache::detail {

class FrequencySketch {
 public:
  static constexpr int kMax = 15;

  // About `width` counters for each of the 4 (rounded up to a power of two, at least 16).
  explicit FrequencySketch(std::size_t width)
      : blocks_(std::bit_ceil(std::max<std::size_t>(width, 16)) / 16),
        counts_(blocks_ * kBlock, 0),
        halve_after_(10 * blocks_ * 16) {}

  // One more request for the key whose hash is `h`.
  void add(std::size_t h) noexcept {
    const std::uint64_t x = mix(h);
    std::uint8_t* block = &counts_[(x & (blocks_ - 1)) * kBlock];
    for (std::size_t i = 0; i < 4; ++i) {
      std::uint8_t& c = block[offset(x, i)];
      if (c < kMax) ++c;
    }
    if (++added_ >= halve_after_) halve();
  }

  int estimate(std::size_t h) const noexcept {
    const std::uint64_t x = mix(h);
    const std::uint8_t* block = &counts_[(x & (blocks_ - 1)) * kBlock];
    int m = kMax;
    for (std::size_t i = 0; i < 4; ++i) m = std::min<int>(m, block[offset(x, i)]);
    return m;
  }

  // Counters per quarter of the blocks: what the constructor's width became.
  std::size_t width() const noexcept { return blocks_ * 16; }

 private:
  static constexpr std::size_t kBlock = 64;

  // splitmix64's finaliser: the block from the low bits, the four counters from the high ones.
  static std::uint64_t mix(std::size_t h) noexcept {
    std::uint64_t x = static_cast<std::uint64_t>(h) + 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }
  static std::size_t offset(std::uint64_t x, std::size_t i) noexcept {
    return i * 16 + static_cast<std::size_t>((x >> (40 + 4 * i)) & 15);
  }

  void halve() noexcept {
    for (auto& c : counts_) c = static_cast<std::uint8_t>(c >> 1);
    added_ /= 2;
  }

  std::size_t blocks_;
  std::vector<std::uint8_t> counts_;
  std::size_t halve_after_;
  std::size_t added_ = 0;
};

}  // namespace rcache::detail
