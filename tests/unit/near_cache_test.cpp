// NearCache: lifetimes, guarded fills against overtaking invalidations and own writes, epochs
// (coherence lost and regained), outage copies, flushes, the byte bound, and a model check of
// the invariant under threads. Pure logic on a ManualClock.
#include "resilience/near_cache.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <random>
#include <thread>

#include "cache/load_gate.hpp"

namespace rcache::detail {
namespace {

using namespace std::chrono_literals;

NearCacheOptions small(std::size_t bytes = 1 << 20) {
  NearCacheOptions o;
  o.max_bytes = bytes;
  o.shards = 4;
  o.max_ttl = 10s;
  o.max_stale = 60s;
  return o;
}

// A fill as the client does it: begin before the read, end with the reply.
bool fill(NearCache& c, std::string_view key, std::string_view value,
          std::chrono::milliseconds ttl = -1ms) {
  const auto t = c.begin_fill(key);
  return c.end_fill(key, t, value, ttl);
}

TEST(NearCache, NothingIsStoredOrServedUntilCoherent) {
  ManualClock clock;
  NearCache c(small(), clock);
  EXPECT_FALSE(c.coherent());
  EXPECT_FALSE(c.begin_fill("k").active);
  EXPECT_FALSE(fill(c, "k", "v"));
  EXPECT_FALSE(c.get("k").has_value());
  c.coherence_gained();
  EXPECT_TRUE(fill(c, "k", "v"));
  EXPECT_EQ(c.get("k"), "v");
  EXPECT_EQ(c.counts().hits, 1u);
  EXPECT_EQ(c.counts().fills, 1u);
}

TEST(NearCache, AnEntryIsFreshNoLongerThanItsTtlInRedisCappedByMaxTtl) {
  ManualClock clock;
  NearCache c(small(), clock);
  c.coherence_gained();
  ASSERT_TRUE(fill(c, "short", "v", 1000ms));
  ASSERT_TRUE(fill(c, "none", "v", -1ms));  // no TTL in Redis: max_ttl (10 s)
  clock.advance(999ms);
  EXPECT_TRUE(c.get("short").has_value());
  clock.advance(1ms);
  EXPECT_FALSE(c.get("short").has_value());
  EXPECT_TRUE(c.get("none").has_value());
  clock.advance(9s);
  EXPECT_FALSE(c.get("none").has_value());
  // A key expiring in Redis right now, or absent, is not kept.
  EXPECT_FALSE(fill(c, "zero", "v", 0ms));
  const auto t = c.begin_fill("absent");
  EXPECT_FALSE(c.end_fill("absent", t, std::nullopt, -1ms));
  EXPECT_FALSE(c.get("absent").has_value());
}

TEST(NearCache, AnInvalidationThatOvertakesTheReplyRefusesTheFill) {
  ManualClock clock;
  NearCache c(small(), clock);
  c.coherence_gained();
  const auto t = c.begin_fill("k");  // GET sent
  c.invalidate("k");                 // another client's write, announced before the reply
  EXPECT_FALSE(c.end_fill("k", t, "old", -1ms));
  EXPECT_FALSE(c.get("k").has_value());
  EXPECT_EQ(c.counts().fills_refused, 1u);
  // One that comes after the reply removes the entry.
  ASSERT_TRUE(fill(c, "k", "new"));
  c.invalidate("k");
  EXPECT_FALSE(c.get("k").has_value());
  EXPECT_EQ(c.counts().invalidations, 2u);
}

TEST(NearCache, OnlyFillsThatBeganBeforeAnInvalidationAreRefused) {
  ManualClock clock;
  NearCache c(small(), clock);
  c.coherence_gained();
  const auto before = c.begin_fill("k");
  c.invalidate("k");
  const auto after = c.begin_fill("k");
  EXPECT_FALSE(c.end_fill("k", before, "v1", -1ms));
  EXPECT_TRUE(c.end_fill("k", after, "v2", -1ms));
  EXPECT_EQ(c.get("k"), "v2");
  // Another key's invalidation does not touch this one's fills.
  const auto t = c.begin_fill("a");
  c.invalidate("b");
  EXPECT_TRUE(c.end_fill("a", t, "va", -1ms));
  // An abandoned fill (the read failed) leaves nothing behind.
  const auto gone = c.begin_fill("x");
  c.abandon_fill("x", gone);
  EXPECT_FALSE(c.get("x").has_value());
}

TEST(NearCache, AReadThatBeganBeforeOurOwnWriteCannotPutTheOlderValueBack) {
  ManualClock clock;
  NearCache c(small(), clock);
  c.coherence_gained();
  ASSERT_TRUE(fill(c, "k", "v1"));
  const auto read = c.begin_fill("k");  // a GET that Redis answers with v1...
  c.invalidate("k");                    // ...then our SET k v2 is acknowledged
  EXPECT_FALSE(c.end_fill("k", read, "v1", -1ms));
  EXPECT_FALSE(c.get("k").has_value());  // read-your-writes: the next read goes to Redis
}

TEST(NearCache, LosingCoherenceMakesEveryEntryStaleOnlyAndRefusesFillsInFlight) {
  ManualClock clock;
  NearCache c(small(), clock);
  c.coherence_gained();
  ASSERT_TRUE(fill(c, "k", "v", 1000ms));
  const auto in_flight = c.begin_fill("f");
  c.coherence_lost();
  EXPECT_FALSE(c.get("k").has_value());  // not fresh any more, even within its TTL
  EXPECT_FALSE(c.end_fill("f", in_flight, "v", -1ms));
  auto o = c.get_during_outage("k");
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->value, "v");
  EXPECT_TRUE(o->stale);
  // Served to outage calls until max_stale (60 s) past its freshness (1 s), then gone.
  clock.advance(60s + 999ms);
  EXPECT_TRUE(c.get_during_outage("k").has_value());
  clock.advance(1ms);
  EXPECT_FALSE(c.get_during_outage("k").has_value());
  EXPECT_EQ(c.counts().entries, 0u);
  EXPECT_EQ(c.counts().flushes_lost, 1u);
  c.coherence_lost();  // already lost: not counted twice
  EXPECT_EQ(c.counts().flushes_lost, 1u);
}

TEST(NearCache, RegainingCoherenceDropsWhatEarlierEpochsHeld) {
  ManualClock clock;
  NearCache c(small(), clock);
  c.coherence_gained();
  ASSERT_TRUE(fill(c, "k", "v"));
  const auto across = c.begin_fill("f");
  c.coherence_lost();
  ASSERT_TRUE(c.store_outage_load("loaded", "L", 5s));
  c.coherence_gained();
  // Anything may have changed meanwhile: nothing from before is served, fresh or stale.
  EXPECT_FALSE(c.get("k").has_value());
  EXPECT_FALSE(c.get_during_outage("k").has_value());
  EXPECT_FALSE(c.get_during_outage("loaded").has_value());
  EXPECT_FALSE(c.end_fill("f", across, "v", -1ms));  // began two epochs ago
  EXPECT_EQ(c.counts().entries, 0u);
  EXPECT_TRUE(fill(c, "k", "v2"));
  EXPECT_EQ(c.get("k"), "v2");
}

TEST(NearCache, AValueLoadedDuringAnOutageIsServedForItsTtlThenAsStale) {
  ManualClock clock;
  NearCache c(small(), clock);
  EXPECT_TRUE(c.store_outage_load("k", "L", 2s));  // never coherent: an outage from the start
  EXPECT_FALSE(c.get("k").has_value());            // get() serves coherent copies only
  auto o = c.get_during_outage("k");
  ASSERT_TRUE(o.has_value());
  EXPECT_FALSE(o->stale);
  clock.advance(2s);
  o = c.get_during_outage("k");
  ASSERT_TRUE(o.has_value());
  EXPECT_TRUE(o->stale);
  EXPECT_EQ(c.counts().stale_served, 1u);
  // The TTL is capped by max_ttl; while coherent, outage loads are refused.
  EXPECT_TRUE(c.store_outage_load("long", "L", 1h));
  clock.advance(10s);
  EXPECT_TRUE(c.get_during_outage("long")->stale);
  c.coherence_gained();
  EXPECT_FALSE(c.store_outage_load("k2", "L", 2s));
}

// A load that ran while this client wrote the key (during an outage) is not kept: the write
// must not be hidden behind the loader's older view.
TEST(NearCache, AnOutageLoadOvertakenByAnOwnWriteIsNotKept) {
  ManualClock clock;
  NearCache c(small(), clock);
  const auto load = c.begin_outage_load("k");  // the loader starts
  c.invalidate("k");                           // set("k", ...) by this client meanwhile
  EXPECT_FALSE(c.end_outage_load("k", load, "loaded", 5s));
  EXPECT_FALSE(c.get_during_outage("k").has_value());
  // One that ran undisturbed is kept; one that began before tracking came back is not.
  const auto ok = c.begin_outage_load("k");
  EXPECT_TRUE(c.end_outage_load("k", ok, "loaded", 5s));
  const auto across = c.begin_outage_load("x");
  c.coherence_gained();
  EXPECT_FALSE(c.end_outage_load("x", across, "loaded", 5s));
  // An abandoned one (the loader failed) leaves nothing pending.
  c.coherence_lost();
  const auto failed = c.begin_outage_load("y");
  c.abandon_fill("y", failed);
  EXPECT_TRUE(c.store_outage_load("y", "v", 5s));
}

// With tracking refused (never coherent), a copy loaded in an outage must not survive Redis
// answering for that key: it would otherwise come back in the next outage.
TEST(NearCache, ARedisAnswerWhileNotCoherentDropsTheOutageCopy) {
  ManualClock clock;
  NearCache c(small(), clock);
  ASSERT_TRUE(c.store_outage_load("k", "loaded", 60s));
  ASSERT_TRUE(c.store_outage_load("gone", "loaded", 60s));
  const auto t = c.begin_fill("k");  // inactive: not coherent
  EXPECT_FALSE(t.active);
  EXPECT_FALSE(c.end_fill("k", t, "from redis", -1ms));
  EXPECT_FALSE(c.get_during_outage("k").has_value());
  EXPECT_FALSE(c.end_fill("gone", c.begin_fill("gone"), std::nullopt, -1ms));  // absent there
  EXPECT_FALSE(c.get_during_outage("gone").has_value());
}

TEST(NearCache, FlushAllDropsEverythingAndRefusesFillsThatReadBeforeIt) {
  ManualClock clock;
  NearCache c(small(), clock);
  c.coherence_gained();
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(fill(c, "k" + std::to_string(i), "v"));
  const auto t = c.begin_fill("f");
  c.invalidate_all();
  EXPECT_EQ(c.counts().entries, 0u);
  EXPECT_EQ(c.counts().bytes, 0u);
  EXPECT_FALSE(c.get_during_outage("k1").has_value());
  EXPECT_FALSE(c.end_fill("f", t, "v", -1ms));
  EXPECT_EQ(c.counts().flushes_flushall, 1u);
  EXPECT_TRUE(c.coherent());
  EXPECT_TRUE(fill(c, "k1", "v"));
}

TEST(NearCache, BytesStayWithinTheBoundAndAKeyReadAfterEveryWriteStays) {
  ManualClock clock;
  NearCacheOptions o = small(64 * 1024);
  o.shards = 1;
  NearCache c(o, clock);
  c.coherence_gained();
  const std::string value(1000, 'x');
  ASSERT_TRUE(fill(c, "hot", value));
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(fill(c, "k" + std::to_string(i), value));
    ASSERT_TRUE(c.get("hot").has_value()) << i;
    ASSERT_LE(c.counts().bytes, c.max_bytes());
  }
  const auto n = c.counts();
  EXPECT_GT(n.evictions, 900u);
  EXPECT_EQ(n.entries, 64 * 1024 / (1000 + 2 + NearCache::kEntryOverhead));
  EXPECT_TRUE(c.get("k999").has_value());  // the newest is in the window
}

// W-TinyLFU's point: a burst of keys read once (a scan, a batch job) does not push out the keys
// that are read again and again; under LRU the hot keys would all be gone here.
TEST(NearCache, AScanOfKeysReadOnceDoesNotPushOutTheHotOnes) {
  ManualClock clock;
  NearCacheOptions o = small(64 * 1024);
  o.shards = 1;
  NearCache c(o, clock);
  c.coherence_gained();
  const std::string value(500, 'x');
  std::vector<std::string> hot;
  for (int i = 0; i < 20; ++i) hot.push_back("hot" + std::to_string(i));
  for (int round = 0; round < 8; ++round) {
    for (const auto& k : hot) {
      if (!c.get(k)) ASSERT_TRUE(fill(c, k, value));
    }
  }
  for (int i = 0; i < 2000; ++i) {  // 2000 x ~630 B: twenty times the cache
    const std::string k = "scan" + std::to_string(i);
    ASSERT_FALSE(c.get(k).has_value());
    fill(c, k, value);
    ASSERT_LE(c.counts().bytes, c.max_bytes());
  }
  int kept = 0;
  for (const auto& k : hot) kept += c.get(k).has_value() ? 1 : 0;
  EXPECT_EQ(kept, 20);
}

// ...and a key that becomes popular gets in: asked for more often than the entry it would
// replace, it is admitted when it leaves the window.
TEST(NearCache, AKeyAskedForMoreOftenThanTheVictimIsAdmitted) {
  ManualClock clock;
  NearCacheOptions o = small(64 * 1024);
  o.shards = 1;
  NearCache c(o, clock);
  c.coherence_gained();
  const std::string value(500, 'x');
  for (int i = 0; i < 200; ++i) {  // fills the cache with keys asked for once
    const std::string k = "old" + std::to_string(i);
    (void)c.get(k);
    fill(c, k, value);
  }
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(c.get("rising").has_value());
  ASSERT_TRUE(fill(c, "rising", value));
  for (int i = 0; i < 5; ++i) fill(c, "next" + std::to_string(i), value);  // out of the window
  EXPECT_TRUE(c.get("rising").has_value());
  EXPECT_LE(c.counts().bytes, c.max_bytes());
}

// 1 GiB of values streamed through an 8 MiB near cache: the byte bound holds at every step.
TEST(NearCache, AGibibyteWriteStreamStaysWithinTheByteBound) {
  ManualClock clock;
  NearCacheOptions o = small(8u << 20);
  o.shards = 16;
  NearCache c(o, clock);
  c.coherence_gained();
  const std::string value(64 * 1024, 'v');
  std::size_t peak = 0;
  for (int i = 0; i < 16 * 1024; ++i) {  // 16 Ki x 64 KiB = 1 GiB
    fill(c, "k" + std::to_string(i), value);
    if (i % 256 == 0) peak = std::max(peak, c.counts().bytes);
  }
  const auto n = c.counts();
  EXPECT_LE(peak, c.max_bytes());
  EXPECT_LE(n.bytes, c.max_bytes());
  EXPECT_GT(n.entries, 16u);  // it does hold values: about 7 per 512 KiB shard
  EXPECT_GE(n.evictions, 16u * 1024 - n.entries - 16);
}

TEST(NearCache, AValueTooLargeForItsShareIsNotStoredAndRemovesTheOlderOne) {
  ManualClock clock;
  NearCacheOptions o = small(64 * 1024);
  o.shards = 4;  // 16 KiB each
  NearCache c(o, clock);
  c.coherence_gained();
  ASSERT_TRUE(fill(c, "k", "small"));
  EXPECT_FALSE(fill(c, "k", std::string(20 * 1024, 'x')));
  EXPECT_FALSE(c.get("k").has_value());  // never the older value
  EXPECT_EQ(c.counts().entries, 0u);
}

// The invariant under threads: a writer changes a key's version in "Redis", then delivers the
// invalidation; readers that find a copy must never see a version older than the last one whose
// invalidation was delivered before their read began. Fills read "Redis" between begin and end.
TEST(NearCache, ModelCheckNoReadOlderThanADeliveredInvalidation) {
  ManualClock clock;
  NearCache c(small(), clock);
  c.coherence_gained();
  constexpr int kKeys = 2;
  std::array<std::atomic<int>, kKeys> redis{}, delivered{};
  std::atomic<bool> stop{false};
  std::atomic<long> violations{0}, hits{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937 rng(static_cast<unsigned>(r));
      for (int i = 0; i < 50'000; ++i) {
        const int k = static_cast<int>(rng() % kKeys);
        const std::string key = "k" + std::to_string(k);
        const int floor = delivered[k].load();
        if (auto v = c.get(key)) {
          ++hits;
          if (std::stoi(*v) < floor) ++violations;
          continue;
        }
        const auto t = c.begin_fill(key);
        const int now = redis[k].load();  // the GET
        std::this_thread::yield();        // its reply travels back: let the writer in
        c.end_fill(key, t, std::to_string(now), -1ms);
      }
    });
  }
  std::thread writer([&] {
    std::mt19937 rng(99);
    for (int i = 0; i < 1'000'000 && !stop; ++i) {
      const int k = static_cast<int>(rng() % kKeys);
      const int v = redis[k].fetch_add(1) + 1;  // SET acknowledged
      c.invalidate("k" + std::to_string(k));    // its invalidation delivered
      delivered[k].store(v);
      std::this_thread::yield();
      if (i % 20'000 == 19'999) {  // the invalidation connection drops and comes back
        c.coherence_lost();
        c.coherence_gained();
      }
    }
  });
  for (auto& t : readers) t.join();
  stop = true;
  writer.join();
  EXPECT_EQ(violations.load(), 0) << hits.load() << " hits, " << c.counts().fills << " fills";
  EXPECT_GT(hits.load(), 0);
}

}  // namespace
}  // namespace rcache::detail

namespace rcache::detail {
namespace {

TEST(FrequencySketch, NeverUnderestimatesUpToItsCapAndHalvesWithAge) {
  FrequencySketch f(1024);
  const std::hash<std::string> h;
  for (int k = 0; k < 64; ++k) {
    for (int n = 0; n <= k % 20; ++n) f.add(h("k" + std::to_string(k)));
  }
  for (int k = 0; k < 64; ++k) {
    const int truth = std::min(k % 20 + 1, FrequencySketch::kMax);
    EXPECT_GE(f.estimate(h("k" + std::to_string(k))), truth) << k;
  }
  EXPECT_EQ(f.estimate(h("never")) <= 2, true);  // collisions only
  // Ten times the width in additions halves every counter.
  FrequencySketch g(16);
  for (int i = 0; i < 8; ++i) g.add(h("x"));
  const int before = g.estimate(h("x"));
  for (int i = 0; i < 10 * 16 - 8; ++i) g.add(h("other" + std::to_string(i % 3)));
  EXPECT_EQ(g.estimate(h("x")), before / 2);
}

TEST(LoadGate, AdmitsTheRateWithBurstsUpToItAndRefusesTheRest) {
  ManualClock clock;
  LoadGate gate(5);
  int admitted = 0;
  for (int i = 0; i < 20; ++i) admitted += gate.admit(clock.now()) ? 1 : 0;
  EXPECT_EQ(admitted, 5);                         // the burst
  clock.advance(std::chrono::milliseconds(400));  // 2 tokens back
  admitted = 0;
  for (int i = 0; i < 20; ++i) admitted += gate.admit(clock.now()) ? 1 : 0;
  EXPECT_EQ(admitted, 2);
  clock.advance(std::chrono::seconds(100));  // never more than the burst
  admitted = 0;
  for (int i = 0; i < 20; ++i) admitted += gate.admit(clock.now()) ? 1 : 0;
  EXPECT_EQ(admitted, 5);

  LoadGate open(0);
  EXPECT_FALSE(open.capped());
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(open.admit(clock.now()));
  LoadGate slow(0.5);  // one load every 2 s, bursts of 1
  EXPECT_TRUE(slow.admit(clock.now()));
  EXPECT_FALSE(slow.admit(clock.now()));
  clock.advance(std::chrono::milliseconds(1990));
  EXPECT_FALSE(slow.admit(clock.now()));
  clock.advance(std::chrono::milliseconds(20));
  EXPECT_TRUE(slow.admit(clock.now()));
}

}  // namespace
}  // namespace rcache::detail
