// The near cache against a real redis-server: local hits, invalidation by another client's
// writes (and its delay), own writes read back at once, the invalidation connection killed,
// FLUSHALL, Redis killed (stale copies up to max_stale), a refused CLIENT TRACKING, and a model
// check under 8 threads with an outside writer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>
#include <vector>

#include "fixtures.hpp"

namespace rcache::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using Steady = std::chrono::steady_clock;

Config near_config(const RedisServer& s) {
  Config c = config_for(s);
  c.near_cache_bytes = 8u << 20;
  c.log_level = std::getenv("RCACHE_TEST_LOG") ? LogLevel::debug : LogLevel::off;
  return c;
}

// For the outage tests: calls to a dead Redis fail within 300 ms.
Config outage_config(const RedisServer& s) {
  Config c = near_config(s);
  c.command_timeout = 200ms;
  c.deadline = 300ms;
  return c;
}

bool coherent(Client& c);

// A client whose near cache is coherent (tracking set up), or nullptr.
std::unique_ptr<Client> coherent_client(const Config& c) {
  auto client = make_client(c);
  if (client == nullptr || !eventually(5s, [&] { return coherent(*client); })) return nullptr;
  return client;
}

// Another client of the same Redis (a service instance, redis-cli).
using Writer = RedisConnection;

bool coherent(Client& c) {
  return c.stats().near_cache.coherent;
}

// This client's own writes come back as invalidations too (BCAST announces every write), a
// little later: waits until `n` invalidations (own forgets included) were applied, so that a
// test's next reads are not dropped by one still on its way.
bool invalidations_reached(Client& c, std::uint64_t n) {
  return eventually(2s, [&] { return c.stats().near_cache.invalidations >= n; });
}

std::optional<std::string> read(Client& c, const std::string& k) {
  auto r = c.get(k);
  return r.ok() ? *r : std::optional<std::string>("<error " + r.error().to_string() + ">");
}

TEST(NearCache, HitsAreLocalAndAnotherClientsWriteInvalidatesThem) {
  auto server = RedisServer::start();
  ASSERT_NE(server, nullptr);
  Writer w(server->port());
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w.run({"SET", "k", "v0"}), "OK");  // before tracking starts: no late invalidation
  auto client = make_client(near_config(*server));
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(eventually(5s, [&] { return coherent(*client); }));

  EXPECT_EQ(read(*client, "k"), "v0");  // a miss: read from Redis and kept
  const auto before = client->stats().near_cache;
  for (int i = 0; i < 100; ++i) ASSERT_EQ(read(*client, "k"), "v0");
  const auto after = client->stats().near_cache;
  EXPECT_EQ(after.hits - before.hits, 100u);  // served locally: no round trip
  EXPECT_EQ(after.fills, 1u);
  auto sourced = client->get_with_source("k");
  ASSERT_TRUE(sourced.ok());
  EXPECT_EQ(sourced->source, Read::Source::near_cache);
  EXPECT_EQ(sourced->value, "v0");
  auto fresh = client->get_with_source("absent");
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->source, Read::Source::redis);
  EXPECT_EQ(fresh->value, std::nullopt);

  // 1,000 writes by another client: each is seen, and the delay from the write's reply to the
  // first read of the new value is measured.
  std::vector<double> delays_us;
  for (int i = 1; i <= 1000; ++i) {
    const std::string v = "v" + std::to_string(i);
    ASSERT_EQ(w.run({"SET", "k", v}), "OK");
    const auto acked = Steady::now();
    bool seen = false;
    for (int spin = 0; spin < 2'000'000 && !seen; ++spin) {
      seen = read(*client, "k") == v;
      if (!seen && Steady::now() - acked > 5s) break;
    }
    ASSERT_TRUE(seen) << "write " << i << " never seen";
    delays_us.push_back(std::chrono::duration<double, std::micro>(Steady::now() - acked).count());
  }
  std::sort(delays_us.begin(), delays_us.end());
  std::printf(
      "[ figures  ] near cache: another client's write to the first read of the new "
      "value, 1000 writes: p50 %.0f us, p99 %.0f us, max %.0f us\n",
      delays_us[500], delays_us[990], delays_us.back());
  EXPECT_GE(client->stats().near_cache.invalidations, 1000u);
}

TEST(NearCache, OwnWritesAreReadBackAtOnce) {
  auto server = RedisServer::start();
  ASSERT_NE(server, nullptr);
  auto client = make_client(near_config(*server));
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(eventually(5s, [&] { return coherent(*client); }));
  for (int i = 0; i < 200; ++i) {
    const std::string v = std::to_string(i);
    ASSERT_TRUE(client->set("k", v).ok());
    ASSERT_EQ(read(*client, "k"), v) << i;
    ASSERT_EQ(read(*client, "k"), v) << i;  // kept: a hit of the value just written
  }
  ASSERT_TRUE(client->del("k").ok());
  EXPECT_EQ(read(*client, "k"), std::nullopt);
  ASSERT_TRUE(client->mset({{"a", "1"}, {"b", "2"}}).ok());
  EXPECT_EQ(read(*client, "a"), "1");
  ASSERT_TRUE(client->mset({{"a", "3"}, {"b", "4"}}).ok());
  EXPECT_EQ(read(*client, "a"), "3");
  EXPECT_EQ(read(*client, "b"), "4");
  ASSERT_TRUE(client->set("n", "1").ok());
  EXPECT_EQ(read(*client, "n"), "1");
  ASSERT_TRUE(client->incrby("n", 5).ok());
  EXPECT_EQ(read(*client, "n"), "6");
  ASSERT_TRUE(client->unlink(std::vector<std::string>{"n"}).ok());
  EXPECT_EQ(read(*client, "n"), std::nullopt);
  // delete_pattern: the deleted keys' copies are gone when it returns.
  ASSERT_TRUE(client->mset({{"p:1", "x"}, {"p:2", "y"}}).ok());
  EXPECT_EQ(read(*client, "p:1"), "x");
  EXPECT_EQ(read(*client, "p:2"), "y");
  ASSERT_TRUE(client->delete_pattern("p:*").ok());
  EXPECT_EQ(read(*client, "p:1"), std::nullopt);
  EXPECT_EQ(read(*client, "p:2"), std::nullopt);
  // get_renew (GETEX) shortens the TTL: the copy must not outlive it.
  ASSERT_TRUE(client->set("r", "v").ok());
  EXPECT_EQ(read(*client, "r"), "v");
  ASSERT_TRUE(client->get_renew("r", 200ms).ok());
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(read(*client, "r"), std::nullopt);
  // The async forms too.
  ASSERT_TRUE(client->set_async("k", "async", SetOptions{}).get().ok());
  EXPECT_EQ(read(*client, "k"), "async");
  ASSERT_TRUE(client->del_async(std::vector<std::string>{"k"}).get().ok());
  EXPECT_EQ(client->get_async("k").get().value(), std::nullopt);
}

TEST(NearCache, AnEntryNeverOutlivesItsTtlInRedis) {
  auto server = RedisServer::start();
  ASSERT_NE(server, nullptr);
  auto client = make_client(near_config(*server));
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(eventually(5s, [&] { return coherent(*client); }));
  ASSERT_TRUE(client->set("short", "v", 300ms).ok());
  EXPECT_EQ(read(*client, "short"), "v");
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(read(*client, "short"), std::nullopt);  // expired in Redis: not served locally
  // EXPIRE by this client shortens the copy's life as well.
  ASSERT_TRUE(client->set("k", "v").ok());
  EXPECT_EQ(read(*client, "k"), "v");
  ASSERT_TRUE(client->expire("k", 200ms).ok());
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(read(*client, "k"), std::nullopt);
}

TEST(NearCache, KillingTheInvalidationConnectionStopsLocalHitsUntilTrackingIsBack) {
  auto server = RedisServer::start();
  ASSERT_NE(server, nullptr);
  Config c = near_config(*server);
  c.reconnect_backoff_min = 300ms;  // a gap long enough to write into
  c.reconnect_backoff_max = 300ms;
  auto client = coherent_client(c);
  ASSERT_NE(client, nullptr) << "no client, or tracking never came up";
  Writer w(server->port());
  ASSERT_EQ(w.run({"SET", "k", "old"}), "OK");
  EXPECT_EQ(read(*client, "k"), "old");
  EXPECT_EQ(read(*client, "k"), "old");

  // The tracking connection is the only one subscribed (TYPE pubsub).
  EXPECT_NE(w.run({"CLIENT", "KILL", "TYPE", "pubsub"}), "0");
  ASSERT_TRUE(eventually(2s, [&] { return !coherent(*client); }));
  // Written while nobody listens for invalidations: the copy must not be served.
  ASSERT_EQ(w.run({"SET", "k", "new"}), "OK");
  EXPECT_EQ(read(*client, "k"), "new");
  ASSERT_TRUE(eventually(5s, [&] { return coherent(*client); }));
  EXPECT_EQ(read(*client, "k"), "new");
  const auto n = client->stats().near_cache;
  EXPECT_GE(n.flushes_lost, 1u);
  // Tracking works again on the new connection.
  ASSERT_EQ(w.run({"SET", "k", "newer"}), "OK");
  EXPECT_TRUE(eventually(2s, [&] { return read(*client, "k") == "newer"; }));
}

TEST(NearCache, FlushAllDropsEveryEntry) {
  auto server = RedisServer::start();
  ASSERT_NE(server, nullptr);
  auto client = make_client(near_config(*server));
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(eventually(5s, [&] { return coherent(*client); }));
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(client->set("k" + std::to_string(i), "v").ok());
  ASSERT_TRUE(invalidations_reached(*client, 100));  // 50 forgets + 50 from Redis
  for (int i = 0; i < 50; ++i) ASSERT_EQ(read(*client, "k" + std::to_string(i)), "v");
  EXPECT_EQ(client->stats().near_cache.entries, 50u);
  Writer w(server->port());
  ASSERT_EQ(w.run({"FLUSHALL"}), "OK");
  ASSERT_TRUE(eventually(2s, [&] { return client->stats().near_cache.entries == 0; }));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(read(*client, "k" + std::to_string(i)), std::nullopt);
  EXPECT_EQ(client->stats().near_cache.flushes_flushall, 1u);
}

TEST(NearCache, WithRedisKilledHotKeysAreServedUpToMaxStaleThenNot) {
  auto server = RedisServer::start();
  ASSERT_NE(server, nullptr);
  Config c = outage_config(*server);
  c.near_cache_ttl = 500ms;
  c.max_stale = 2000ms;
  auto client = coherent_client(c);
  ASSERT_NE(client, nullptr) << "no client, or tracking never came up";
  ASSERT_TRUE(client->set("hot", "h").ok());
  EXPECT_EQ(read(*client, "hot"), "h");
  server->kill9();
  // Answered from the copy, through the outage, until max_stale past its freshness.
  const auto killed = Steady::now();
  int served = 0;
  while (Steady::now() - killed < 1500ms) {
    auto r = client->get("hot");
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    ASSERT_EQ(*r, "h");
    ++served;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_GT(client->stats().near_cache.stale_served, 0u);
  EXPECT_FALSE(coherent(*client));
  auto sourced = client->get_with_source("hot");
  ASSERT_TRUE(sourced.ok());
  EXPECT_EQ(sourced->source, Read::Source::near_cache_stale);  // says so
  EXPECT_EQ(sourced->value, "h");
  std::this_thread::sleep_for(1500ms);  // past 500 ms + 2000 ms
  auto late = client->get("hot");
  EXPECT_FALSE(late.ok()) << "served " << (late.ok() && *late ? **late : "nil")
                          << " beyond max_stale";
  // A key never read before has no copy: the outage's error.
  EXPECT_FALSE(client->get("cold").ok());
  // Redis back (empty: no persistence): nothing from before is served as if Redis had it.
  ASSERT_TRUE(server->restart());
  ASSERT_TRUE(eventually(5s, [&] { return client->set("other", "x").ok(); }));
  ASSERT_TRUE(eventually(5s, [&] { return coherent(*client); }));
  EXPECT_EQ(read(*client, "hot"), std::nullopt);
  std::printf("[ figures  ] near cache with Redis killed: %d reads served from the copy\n", served);
}

// The per-call opt-out: ReadOptions{.near_cache = false} and LoadOptions::near_cache = false
// are answered by Redis (or the loader) only, warm or in an outage, and what they read still
// refreshes the copy for the other calls.
TEST(NearCache, APerCallOptOutIsAnsweredByRedisOnly) {
  auto server = RedisServer::start();
  ASSERT_NE(server, nullptr);
  Config c = outage_config(*server);
  auto client = coherent_client(c);
  ASSERT_NE(client, nullptr) << "no client, or tracking never came up";
  ASSERT_TRUE(client->set("k", "v").ok());
  ASSERT_TRUE(client->set("loaded", "from redis").ok());
  ASSERT_TRUE(invalidations_reached(*client, 2));
  EXPECT_EQ(read(*client, "k"), "v");  // kept
  const ReadOptions redis_only{false};

  const auto hits = client->stats().near_cache.hits;
  auto r = client->get_with_source("k", redis_only);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->source, Read::Source::redis);
  EXPECT_EQ(r->value, "v");
  auto plain = client->get("k", redis_only);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain, "v");
  EXPECT_EQ(client->stats().near_cache.hits, hits) << "the opt-out read a copy";
  // The default still uses the copy.
  auto sourced = client->get_with_source("k");
  ASSERT_TRUE(sourced.ok());
  EXPECT_EQ(sourced->source, Read::Source::near_cache);
  // An opt-out read fills the copy for the others.
  ASSERT_TRUE(client->get("fresh", redis_only).ok());
  ASSERT_TRUE(client->set("fresh", "f").ok());
  ASSERT_TRUE(eventually(2s, [&] { return client->get("fresh", redis_only).value() == "f"; }));
  auto filled = client->get_with_source("fresh");
  ASSERT_TRUE(filled.ok());
  EXPECT_EQ(filled->source, Read::Source::near_cache);

  LoadOptions no_near;
  no_near.near_cache = false;
  int loads = 0;
  auto loader = [&]() -> Result<std::optional<std::string>> {
    ++loads;
    return std::optional<std::string>("from the loader");
  };
  auto warm = client->get_or_load("gl", LoadOptions{}, loader);
  ASSERT_TRUE(warm.ok());
  EXPECT_EQ(loads, 1);
  auto again = client->get_or_load("gl", no_near, loader);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->source, Loaded::Source::cache);  // Redis, not the near cache

  server->kill9();
  auto copy = client->get_with_source("k");
  ASSERT_TRUE(copy.ok()) << copy.error().to_string();
  EXPECT_EQ(copy->value, "v");
  auto refused = client->get_with_source("k", redis_only);
  ASSERT_FALSE(refused.ok()) << "an outage must not be answered from the copy";
  EXPECT_FALSE(client->get("k", redis_only).ok());
  auto outage = client->get_or_load("gl", no_near, loader);
  ASSERT_TRUE(outage.ok()) << outage.error().to_string();
  EXPECT_EQ(outage->source, Loaded::Source::loader);
  EXPECT_EQ(loads, 2);
}

// mget() through the near cache: keys with a fresh copy are answered from it, the others in one
// MGET that fills them; invalidations apply per key; in an outage the copies answer only when
// every key has one.
TEST(NearCache, MgetUsesTheCopiesAndFillsTheRest) {
  auto server = RedisServer::start();
  ASSERT_NE(server, nullptr);
  Writer w(server->port());
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w.run({"SET", "a", "1"}), "OK");
  ASSERT_EQ(w.run({"SET", "b", "2"}), "OK");
  ASSERT_EQ(w.run({"SET", "c", "3"}), "OK");
  Config c = outage_config(*server);
  auto client = coherent_client(c);
  ASSERT_NE(client, nullptr) << "no client, or tracking never came up";
  using V = Client::Values;
  EXPECT_EQ(read(*client, "a"), "1");  // a has a copy; b, c do not

  auto before = client->stats().near_cache;
  auto r = client->mget({"b", "a", "missing", "c", "a"});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, (V{"2", "1", std::nullopt, "3", "1"}));
  auto after = client->stats().near_cache;
  EXPECT_EQ(after.hits - before.hits, 2u);    // a, twice
  EXPECT_EQ(after.fills - before.fills, 2u);  // b and c kept; "missing" has no value

  // All from copies now: no round trip.
  before = after;
  auto again = client->mget({"a", "b", "c"});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, (V{"1", "2", "3"}));
  EXPECT_EQ(client->stats().near_cache.hits - before.hits, 3u);
  auto async = client->mget_async({"c", "b"}).get();
  ASSERT_TRUE(async.ok());
  EXPECT_EQ(*async, (V{"3", "2"}));

  // Another client's write drops its key's copy only.
  ASSERT_EQ(w.run({"SET", "b", "two"}), "OK");
  ASSERT_TRUE(eventually(2s, [&] {
    auto v = client->mget({"a", "b", "c"});
    return v.ok() && *v == V{"1", "two", "3"};
  }));

  server->kill9();
  auto outage = client->mget({"c", "a"});
  ASSERT_TRUE(outage.ok()) << outage.error().to_string();
  EXPECT_EQ(*outage, (V{"3", "1"}));
  auto outage_async = client->mget_async({"a", "c"}).get();
  ASSERT_TRUE(outage_async.ok()) << outage_async.error().to_string();
  EXPECT_EQ(*outage_async, (V{"1", "3"}));
  // A key without a copy: no whole answer without Redis.
  auto partial = client->mget({"a", "never read"});
  EXPECT_FALSE(partial.ok());
}

TEST(NearCache, ARefusedClientTrackingLeavesReadsToRedisAndSaysWhy) {
  auto server = RedisServer::start();
  ASSERT_NE(server, nullptr);
  ASSERT_EQ(server->command(
                {"ACL", "SETUSER", "app", "on", ">pw", "~*", "&*", "+@all", "-client|tracking"}),
            "OK");
  Config c = near_config(*server);
  c.username = "app";
  c.password = "pw";
  std::vector<std::string> logged;
  std::mutex mu;
  c.log_level = LogLevel::error;
  c.log_sink = [&](LogLevel, std::string_view m) {
    std::lock_guard lock(mu);
    logged.emplace_back(m);
  };
  auto client = make_client(c);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(eventually(5s, [&] {
    std::lock_guard lock(mu);
    return !logged.empty();
  }));
  {
    std::lock_guard lock(mu);
    EXPECT_THAT(logged[0], HasSubstr("refused CLIENT TRACKING"));
  }
  EXPECT_FALSE(coherent(*client));
  ASSERT_TRUE(client->set("k", "v").ok());
  Writer w(server->port());
  EXPECT_EQ(read(*client, "k"), "v");
  ASSERT_EQ(server->command({"SET", "k", "other"}), "OK");
  EXPECT_EQ(read(*client, "k"), "other");  // nothing kept: every read goes to Redis
  EXPECT_EQ(client->stats().near_cache.hits, 0u);
}

// The invariant under load: 8 reader threads, one outside writer. No read may return a value
// older than one whose write was acknowledged more than `grace` (250 ms) before the read began
// (grace covers the invalidation's delivery; measured above in microseconds).
TEST(NearCache, ModelCheckEightReadersAndAnOutsideWriter) {
  auto server = RedisServer::start();
  ASSERT_NE(server, nullptr);
  auto client = make_client(near_config(*server));
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(eventually(5s, [&] { return coherent(*client); }));
  constexpr int kKeys = 4;
  constexpr int kWrites = 2000;
  constexpr auto kGrace = 250ms;  // generous: a loaded 2-core machine with sanitizers
  // acked[k][v]: when version v of key k was acknowledged (0: not yet).
  std::vector<std::vector<std::atomic<std::int64_t>>> acked(kKeys);
  for (auto& a : acked) a = std::vector<std::atomic<std::int64_t>>(kWrites + 2);  // all 0
  const auto t0 = Steady::now();
  auto since = [&] {
    return std::chrono::duration_cast<std::chrono::microseconds>(Steady::now() - t0).count() + 1;
  };
  Writer w(server->port());
  for (int k = 0; k < kKeys; ++k) {
    ASSERT_EQ(w.run({"SET", "m" + std::to_string(k), "0"}), "OK");
    acked[k][0] = since();
  }
  std::atomic<bool> stop{false};
  std::atomic<long> violations{0}, reads{0}, errors{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&, t] {
      for (long i = 0; i < 2'000'000 && !stop; ++i) {
        const int k = static_cast<int>((i + t) % kKeys);
        const std::int64_t began = since();
        auto r = client->get("m" + std::to_string(k));
        ++reads;
        if (!r.ok() || !*r) {
          ++errors;
          continue;
        }
        const int v = std::stoi(**r);
        const std::int64_t next = v + 1 <= kWrites ? acked[k][v + 1].load() : 0;
        if (next != 0 && next + std::chrono::microseconds(kGrace).count() < began) ++violations;
      }
    });
  }
  std::vector<int> version(kKeys, 0);
  for (int i = 1; i <= kWrites; ++i) {
    const int k = i % kKeys;
    const int v = ++version[static_cast<std::size_t>(k)];
    ASSERT_EQ(w.run({"SET", "m" + std::to_string(k), std::to_string(v)}), "OK");
    acked[k][v] = since();
    if (i % 4 == 0) std::this_thread::sleep_for(1ms);  // room for local hits between writes
  }
  stop = true;
  for (auto& t : readers) t.join();
  const auto n = client->stats().near_cache;
  std::printf(
      "[ figures  ] near cache model check: %ld reads (%llu local hits), %d outside "
      "writes, %ld violations, %ld errors\n",
      reads.load(), static_cast<unsigned long long>(n.hits), kWrites, violations.load(),
      errors.load());
  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(n.hits, 0u);
}

}  // namespace
}  // namespace rcache::test

namespace rcache::test {
namespace {

// get_or_load with the near cache, through an outage: copies within their lifetime answer
// without a load, each key is loaded at most once per TTL, the cap holds, and past it a key
// without a copy gets a clear refusal.
// Every read, load and outage write guards its key while it runs; when the calls are done no
// guard may be left, whatever they ended with (the review: a "not found" loaded during an
// outage left its guard for good, one per key: memory without bound).
TEST(NearCache, NoGuardIsLeftBehindWhateverTheCallsEndedWith) {
  auto server = RedisServer::start();
  ASSERT_NE(server, nullptr);
  Config c = outage_config(*server);
  c.degraded_mode = DegradedMode::local;
  auto client = coherent_client(c);
  ASSERT_NE(client, nullptr) << "no client, or tracking never came up";
  auto not_found = [] { return Result<std::optional<std::string>>(std::nullopt); };
  auto found = [] { return Result<std::optional<std::string>>(std::optional<std::string>("v")); };
  for (int i = 0; i < 20; ++i) {
    const std::string k = "k" + std::to_string(i);
    (void)client->get(k);
    (void)client->mget({k, "other"});
    (void)client->get_or_load(k, LoadOptions{}, i % 2 == 0 ? not_found : found);
    (void)client->set(k, "x");
    (void)client->get_async(k).get();
  }
  EXPECT_EQ(client->stats().near_cache.pending_keys, 0u);
  server->kill9();
  ASSERT_TRUE(eventually(5s, [&] { return !coherent(*client); }));
  for (int i = 0; i < 20; ++i) {
    const std::string k = "outage" + std::to_string(i);
    (void)client->get_or_load(k, LoadOptions{}, i % 2 == 0 ? not_found : found);
    (void)client->get(k);
    (void)client->mget({k, "k1"});
    (void)client->set(k, "x", SetOptions{.condition = SetOptions::Condition::if_absent});
    (void)client->del(k);
    (void)client->get_async(k).get();
  }
  EXPECT_EQ(client->stats().near_cache.pending_keys, 0u);
}

TEST(NearCache, GetOrLoadThroughAnOutageLoadsEachKeyOncePerTtlWithinTheCap) {
  auto server = RedisServer::start();
  ASSERT_NE(server, nullptr);
  Config c = outage_config(*server);
  c.max_stale = 10s;
  c.outage_loads_per_second = 2;
  auto client = coherent_client(c);
  ASSERT_NE(client, nullptr) << "no client, or tracking never came up";
  std::map<std::string, int> calls;
  auto load = [&](const std::string& k) {
    return client->get_or_load(k, LoadOptions{.ttl = 800ms, .ttl_jitter = 0}, [&, k] {
      ++calls[k];
      return Result<std::optional<std::string>>(std::optional<std::string>("v-" + k));
    });
  };
  // Warm: loaded once, then read from Redis (and kept), then served by the near cache.
  ASSERT_EQ(load("a")->source, Loaded::Source::loader);
  ASSERT_TRUE(invalidations_reached(*client, 2));  // its write: the forget and Redis' message
  ASSERT_EQ(load("a")->source, Loaded::Source::cache);
  ASSERT_EQ(load("a")->source, Loaded::Source::near_cache);
  EXPECT_EQ(calls["a"], 1);

  server->kill9();
  // Until the tracker sees its connection close, the copy is still fresh (the invariant's
  // delivery time); after, it is a copy from before the outage.
  ASSERT_TRUE(eventually(5s, [&] { return !coherent(*client); }));
  // A copy from before the outage, within its lifetime: no load, marked stale.
  auto a = load("a");
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  EXPECT_EQ(a->source, Loaded::Source::near_cache_stale);
  EXPECT_EQ(a->value, "v-a");
  EXPECT_EQ(calls["a"], 1);
  // Keys never seen: loaded within the cap (2/s, bursts of 2), the rest refused with the reason.
  std::vector<std::string> loaded;
  int refused = 0;
  const auto began = Steady::now();
  for (int i = 0; i < 12; ++i) {
    const std::string k = "new" + std::to_string(i);
    auto r = load(k);
    if (r.ok()) {
      EXPECT_EQ(r->source, Loaded::Source::loader);
      EXPECT_TRUE(r->bypassed);
      loaded.push_back(k);
    } else {
      EXPECT_EQ(r.error().code, Errc::rejected);
      EXPECT_THAT(r.error().message, HasSubstr("outage load cap (2 loads/s"));
      ++refused;
    }
  }
  const double took = std::chrono::duration<double>(Steady::now() - began).count();
  ASSERT_GE(loaded.size(), 2u);
  EXPECT_LE(static_cast<double>(loaded.size()), 2 + 2 * took + 0.01) << took << " s";
  EXPECT_EQ(static_cast<int>(loaded.size()) + refused, 12);
  // What was loaded in the outage answers from the near cache for its TTL: no second load.
  for (const auto& k : loaded) {
    auto r = load(k);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->source, Loaded::Source::near_cache);
    EXPECT_EQ(calls[k], 1);
  }
  // Past the TTL (800 ms) a key is loaded again, once.
  std::this_thread::sleep_for(900ms);
  auto again = load("new0");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->source, Loaded::Source::loader);
  EXPECT_EQ(calls["new0"], 2);
  EXPECT_EQ(load("new0")->source, Loaded::Source::near_cache);
  EXPECT_EQ(calls["new0"], 2);
  const Stats st = client->stats();
  EXPECT_EQ(st.outage_loads_refused, static_cast<std::uint64_t>(refused));
}

}  // namespace
}  // namespace rcache::test
