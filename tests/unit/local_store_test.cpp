// The local degraded-mode store: LRU, TTL and the byte bound, with a manual clock.
#include "resilience/local_store.hpp"

#include <gtest/gtest.h>

namespace rcache::detail {
namespace {

using namespace std::chrono_literals;

TEST(LocalStore, SetGetEraseRoundTripBinarySafe) {
  ManualClock clock;
  LocalStore s(1 << 20, clock);
  const std::string key("k\0y", 3), value("v\0\xff", 3);
  EXPECT_TRUE(s.set(key, value, 0ms));
  EXPECT_EQ(s.get(key), std::optional<std::string>(value));
  EXPECT_TRUE(s.erase(key));
  EXPECT_FALSE(s.erase(key));
  EXPECT_EQ(s.get(key), std::nullopt);
  EXPECT_EQ(s.bytes(), 0u);
}

TEST(LocalStore, TtlExpiresEntries) {
  ManualClock clock;
  LocalStore s(1 << 20, clock);
  s.set("a", "1", 100ms);
  s.set("b", "2", 0ms);
  clock.advance(99ms);
  EXPECT_TRUE(s.get("a").has_value());
  clock.advance(1ms);
  EXPECT_FALSE(s.get("a").has_value());
  clock.advance(24h);
  EXPECT_TRUE(s.get("b").has_value());
}

TEST(LocalStore, NeverExceedsItsByteLimitAndEvictsLeastRecentlyUsed) {
  ManualClock clock;
  const std::size_t entry = 1 + 100 + LocalStore::kEntryOverhead;
  LocalStore s(entry * 10, clock);
  for (char c = 'a'; c < 'a' + 10; ++c)
    ASSERT_TRUE(s.set(std::string(1, c), std::string(100, c), 0ms));
  EXPECT_EQ(s.size(), 10u);
  EXPECT_TRUE(s.get("a").has_value());  // a is now most recent; b is the oldest
  ASSERT_TRUE(s.set("z", std::string(100, 'z'), 0ms));
  EXPECT_LE(s.bytes(), entry * 10);
  EXPECT_FALSE(s.get("b").has_value());
  EXPECT_TRUE(s.get("a").has_value());
  EXPECT_TRUE(s.get("z").has_value());
  EXPECT_EQ(s.evictions(), 1u);
}

TEST(LocalStore, ManyWritesStayBounded) {
  ManualClock clock;
  LocalStore s(64 * 1024, clock);
  for (int i = 0; i < 100000; ++i) {
    s.set("key" + std::to_string(i), std::string(static_cast<std::size_t>(i % 1000), 'x'), 0ms);
    ASSERT_LE(s.bytes(), 64u * 1024);
  }
}

TEST(LocalStore, ValueLargerThanTheWholeStoreIsRefusedAndOldValueDropped) {
  ManualClock clock;
  LocalStore s(1000, clock);
  ASSERT_TRUE(s.set("k", "small", 0ms));
  EXPECT_FALSE(s.set("k", std::string(2000, 'x'), 0ms));
  EXPECT_FALSE(s.get("k").has_value());  // never read back a value older than the last write
}

TEST(LocalStore, OverwriteReplacesAndAccountsOnce) {
  ManualClock clock;
  LocalStore s(1 << 20, clock);
  s.set("k", std::string(500, 'a'), 0ms);
  s.set("k", std::string(10, 'b'), 0ms);
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s.bytes(), 1 + 10 + LocalStore::kEntryOverhead);
  EXPECT_EQ(s.get("k"), std::optional<std::string>(std::string(10, 'b')));
  s.clear();
  EXPECT_EQ(s.size(), 0u);
  EXPECT_EQ(s.bytes(), 0u);
}

}  // namespace
}  // namespace rcache::detail
