// Cache-aside against a real server: single-flight, negative cache, bypass, jitter, XFetch,
// stale-if-error, sliding TTL.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <latch>
#include <mutex>
#include <thread>

#include "fixtures.hpp"
#include "rcache/typed.hpp"

namespace rcache::test {
namespace {

using namespace std::chrono_literals;
using Source = Loaded::Source;

class GetOrLoad : public RedisTest {};

TEST_F(GetOrLoad, HundredThreadsOnAMissingKeyShareOneLoaderCall) {
  std::atomic<int> calls{0};
  Loader slow = [&]() -> Result<std::optional<std::string>> {
    calls.fetch_add(1);
    std::this_thread::sleep_for(300ms);
    return std::optional<std::string>("loaded");
  };
  std::latch start(100);
  std::atomic<int> good{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 100; ++i) {
    ts.emplace_back([&] {
      start.arrive_and_wait();
      auto r = client().get_or_load("hot", 60s, slow);
      if (r.ok() && r->value == std::optional<std::string>("loaded")) good.fetch_add(1);
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(good.load(), 100);
  const Stats st = client().stats();
  EXPECT_EQ(st.loader_calls, 1u);
  EXPECT_GT(st.singleflight_shared, 0u);  // callers that arrived during the load waited for it
  EXPECT_EQ(client().get("hot").value(), std::optional<std::string>("loaded"));
}

// A caller whose own read missed just before another caller's load was written, and that reaches
// single-flight only after that load finished, must find the value instead of loading again.
TEST_F(GetOrLoad, SixtyFourCallersOfAFastLoaderLoadEachKeyExactlyOnce) {
  constexpr int kThreads = 64;
  constexpr int kRounds = 20;
  std::vector<int> loads_per_key;
  for (int round = 0; round < kRounds; ++round) {
    const std::string key = "fast" + std::to_string(round);
    const auto load_time = std::chrono::milliseconds(round % 3);  // 0..2 ms
    std::atomic<int> loads{0};
    Loader fast = [&]() -> Result<std::optional<std::string>> {
      loads.fetch_add(1);
      std::this_thread::sleep_for(load_time);
      return std::optional<std::string>("v-" + key);
    };
    std::latch start(kThreads);
    std::atomic<int> good{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < kThreads; ++i) {
      ts.emplace_back([&] {
        start.arrive_and_wait();
        auto r = client().get_or_load(key, 60s, fast);
        if (r.ok() && r->value == std::optional<std::string>("v-" + key)) good.fetch_add(1);
      });
    }
    for (auto& t : ts) t.join();
    EXPECT_EQ(good.load(), kThreads) << key;
    loads_per_key.push_back(loads.load());
  }
  std::string shown;
  for (int n : loads_per_key) shown += std::to_string(n) + " ";
  std::printf("[ figures  ] loader calls per key (64 callers, 0-2 ms loader): %s\n", shown.c_str());
  EXPECT_THAT(loads_per_key, ::testing::Each(1));
}

// The follower bound is the client's deadline, counted from the start of each get_or_load call;
// the leader's load is not cut short and still fills the cache.
TEST_F(GetOrLoad, FollowersOfAHungLoaderTimeOutAtTheirDeadlineAndTheLoadStillFillsTheCache) {
  Config c = config_for(*server_);
  c.deadline = 250ms;
  auto cl = make_client(c);
  ASSERT_NE(cl, nullptr);
  std::atomic<int> loads{0};
  Loader hung = [&]() -> Result<std::optional<std::string>> {
    loads.fetch_add(1);
    std::this_thread::sleep_for(2s);
    return std::optional<std::string>("late");
  };
  constexpr int kCallers = 5;
  std::latch start(kCallers);
  std::vector<Result<Loaded>> results(kCallers, Error{});
  std::vector<std::chrono::milliseconds> took(kCallers);
  std::vector<std::thread> ts;
  for (int i = 0; i < kCallers; ++i) {
    ts.emplace_back([&, i] {
      start.arrive_and_wait();
      const auto t0 = std::chrono::steady_clock::now();
      results[i] = cl->get_or_load("hung", 60s, hung);
      took[i] = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - t0);
    });
  }
  for (auto& t : ts) t.join();
  int timed_out = 0;
  std::chrono::milliseconds slowest_follower{0};
  for (int i = 0; i < kCallers; ++i) {
    if (results[i].ok()) {
      EXPECT_EQ(results[i]->source, Source::loader);
      EXPECT_EQ(results[i]->value, std::optional<std::string>("late"));
      EXPECT_GE(took[i], 2s);  // the leader is not bounded: its loader runs to the end
      continue;
    }
    ++timed_out;
    EXPECT_EQ(results[i].error().code, Errc::timeout);
    EXPECT_THAT(results[i].error().message, ::testing::HasSubstr("get_or_load"));
    EXPECT_THAT(results[i].error().message, ::testing::HasSubstr("'hung'"));
    EXPECT_THAT(results[i].error().message, ::testing::HasSubstr("another caller"));
    EXPECT_LT(took[i], c.deadline + 500ms);
    slowest_follower = std::max(slowest_follower, took[i]);
  }
  std::printf(
      "[ figures  ] followers of a 2 s load, deadline 250 ms: %d timed out, slowest %lld ms\n",
      timed_out, static_cast<long long>(slowest_follower.count()));
  EXPECT_EQ(timed_out, kCallers - 1);
  EXPECT_EQ(loads.load(), 1);
  EXPECT_EQ(cl->get("hung").value(), std::optional<std::string>("late"));
}

// A loader slower than the deadline: wait_for_load lets followers share its result.
TEST_F(GetOrLoad, WaitForLoadLetsFollowersShareALoadLongerThanTheDeadline) {
  Config c = config_for(*server_);
  c.deadline = 100ms;
  auto cl = make_client(c);
  ASSERT_NE(cl, nullptr);
  std::atomic<int> loads{0};
  Loader slow = [&]() -> Result<std::optional<std::string>> {
    loads.fetch_add(1);
    std::this_thread::sleep_for(400ms);
    return std::optional<std::string>("slow");
  };
  LoadOptions o;
  o.ttl = 60s;
  o.wait_for_load = 5s;
  constexpr int kCallers = 4;
  std::latch start(kCallers);
  std::vector<Result<Loaded>> results(kCallers, Error{});
  std::vector<std::thread> ts;
  for (int i = 0; i < kCallers; ++i) {
    ts.emplace_back([&, i] {
      start.arrive_and_wait();
      results[i] = cl->get_or_load("slow", o, slow);
    });
  }
  for (auto& t : ts) t.join();
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->value, std::optional<std::string>("slow"));
  }
  EXPECT_EQ(loads.load(), 1);
  LoadOptions bad;
  bad.wait_for_load = -1ms;
  auto r = cl->get_or_load("slow", bad, slow);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, ::testing::HasSubstr("wait_for_load"));
}

TEST_F(GetOrLoad, SecondCallIsServedFromTheCache) {
  int calls = 0;
  Loader l = [&]() -> Result<std::optional<std::string>> {
    ++calls;
    return std::optional<std::string>("v" + std::to_string(calls));
  };
  auto a = client().get_or_load("k", 60s, l);
  auto b = client().get_or_load("k", 60s, l);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->source, Source::loader);
  EXPECT_EQ(b->source, Source::cache);
  EXPECT_EQ(b->value, std::optional<std::string>("v1"));
  EXPECT_EQ(calls, 1);
}

TEST_F(GetOrLoad, LoaderErrorsAreReturnedAndNotCached) {
  auto bad = client().get_or_load("k", 60s, []() -> Result<std::optional<std::string>> {
    return Error{Errc::server, "upstream 503"};
  });
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "upstream 503");
  auto thrown = client().get_or_load(
      "k", 60s, []() -> Result<std::optional<std::string>> { throw std::runtime_error("boom"); });
  ASSERT_FALSE(thrown.ok());
  EXPECT_THAT(thrown.error().message, ::testing::HasSubstr("boom"));
  EXPECT_FALSE(client().get("k")->has_value());
  auto good = client().get_or_load("k", 60s, []() -> Result<std::optional<std::string>> {
    return std::optional<std::string>("fine");
  });
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good->source, Source::loader);
}

TEST_F(GetOrLoad, NotFoundIsCachedOnlyWithTheNegativeCache) {
  int calls = 0;
  Loader none = [&]() -> Result<std::optional<std::string>> {
    ++calls;
    return std::optional<std::string>{};
  };
  LoadOptions o;
  o.ttl = 60s;
  (void)client().get_or_load("absent", o, none);
  (void)client().get_or_load("absent", o, none);
  EXPECT_EQ(calls, 2);
  o.negative_cache = true;
  o.negative_ttl = 5s;
  auto first = client().get_or_load("absent2", o, none);
  auto second = client().get_or_load("absent2", o, none);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->source, Source::negative_cache);
  EXPECT_FALSE(second->value.has_value());
  EXPECT_EQ(calls, 3);
  auto t = client().ttl("absent2");
  EXPECT_TRUE(t->exists);
  EXPECT_LE(t->remaining.count(), 5500);
}

TEST_F(GetOrLoad, RedisDownMeansTheLoaderIsCalledDirectlyAndMarkedBypassed) {
  Config c = config_for(*server_);
  c.command_timeout = 200ms;
  c.deadline = 250ms;
  c.log_level = LogLevel::off;
  auto cl = make_client(c);
  server_->kill9();
  auto r = cl->get_or_load("k", 60s, []() -> Result<std::optional<std::string>> {
    return std::optional<std::string>("direct");
  });
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->bypassed);
  EXPECT_EQ(r->value, std::optional<std::string>("direct"));
}

TEST_F(GetOrLoad, TtlsAreJitteredWithinTenPercent) {
  LoadOptions o;
  o.ttl = 10s;
  std::int64_t lo = 1 << 30, hi = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string k = "j" + std::to_string(i);
    ASSERT_TRUE(
        client()
            .get_or_load(
                k, o,
                [] { return Result<std::optional<std::string>>(std::optional<std::string>("x")); })
            .ok());
    const auto t = client().ttl(k)->remaining.count();
    lo = std::min(lo, t);
    hi = std::max(hi, t);
  }
  EXPECT_GE(lo, 8900);
  EXPECT_LE(hi, 11000);
  EXPECT_GT(hi - lo, 1000) << "keys loaded together would expire together";
}

TEST_F(GetOrLoad, HotKeyIsRefreshedEarlyWithoutStampedeOrMiss) {
  LoadOptions o;
  o.ttl = 1000ms;
  o.ttl_jitter = 0;
  o.early_refresh = true;
  std::atomic<int> loads{0};
  Loader l = [&]() -> Result<std::optional<std::string>> {
    loads.fetch_add(1);
    std::this_thread::sleep_for(50ms);
    return std::optional<std::string>("fresh");
  };
  ASSERT_TRUE(client().get_or_load("hotkey", o, l).ok());  // initial load
  std::atomic<int> misses{0}, refreshed{0}, errors{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      const auto end = std::chrono::steady_clock::now() + 3500ms;
      while (std::chrono::steady_clock::now() < end) {
        auto r = client().get_or_load("hotkey", o, l);
        if (!r.ok()) {
          errors.fetch_add(1);
        } else if (r->source == Source::loader) {
          misses.fetch_add(1);
        } else if (r->source == Source::refreshed) {
          refreshed.fetch_add(1);
        }
        std::this_thread::sleep_for(1ms);
      }
    });
  }
  for (auto& t : ts) t.join();
  std::printf(
      "[ figures  ] 3.5 s of a 1 s-TTL hot key: %d loader calls, %d early refreshes, "
      "%d misses\n",
      loads.load(), refreshed.load(), misses.load());
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(misses.load(), 0) << "the key expired under load instead of being refreshed";
  EXPECT_GE(refreshed.load(), 3);
  EXPECT_LE(loads.load() - 1, 2 * 4) << "more than a couple of loads per expiry period";
}

// An early refresh whose loader fails keeps serving the cached value, still within its TTL: not
// the older stale copy, and not as a stale answer.
TEST_F(GetOrLoad, AFailedEarlyRefreshServesTheCachedValueNotTheStaleCopy) {
  LoadOptions o;
  o.ttl = 2000ms;
  o.ttl_jitter = 0;
  o.early_refresh = true;
  o.stale_if_error = true;
  // A slow first load makes a refresh likely on every read (XFetch weighs the load time).
  ASSERT_TRUE(client()
                  .get_or_load("er", o,
                               [] {
                                 std::this_thread::sleep_for(1500ms);
                                 return Result<std::optional<std::string>>(
                                     std::optional<std::string>("cached"));
                               })
                  .ok());
  std::atomic<int> attempts{0};
  const Stats before = client().stats();
  const auto end = std::chrono::steady_clock::now() + 500ms;  // well inside the 2 s TTL
  while (std::chrono::steady_clock::now() < end) {
    auto r = client().get_or_load("er", o, [&]() -> Result<std::optional<std::string>> {
      attempts.fetch_add(1);
      return Error{Errc::server, "upstream down"};
    });
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    ASSERT_EQ(r->source, Source::cache);
    ASSERT_EQ(r->value, std::optional<std::string>("cached"));
    if (attempts.load() > 0) break;
  }
  EXPECT_GE(attempts.load(), 1) << "no early refresh was tried in 0.5 s";
  const Stats after = client().stats();
  EXPECT_EQ(after.stale_served, before.stale_served);
  EXPECT_EQ(after.early_refreshes, before.early_refreshes);
}

TEST_F(GetOrLoad, StaleCopyIsServedWhenTheLoaderFails) {
  LoadOptions o;
  o.ttl = 60s;
  o.stale_if_error = true;
  ASSERT_TRUE(
      client()
          .get_or_load(
              "s", o,
              [] { return Result<std::optional<std::string>>(std::optional<std::string>("old")); })
          .ok());
  ASSERT_EQ(client().del("s").value(), 1);  // as if it had expired
  auto r = client().get_or_load("s", o, []() -> Result<std::optional<std::string>> {
    return Error{Errc::server, "upstream down"};
  });
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->source, Source::stale);
  EXPECT_EQ(r->value, std::optional<std::string>("old"));
}

// The hit rate is the user's: get_or_load counts once (hit when served from Redis, miss when it
// called the loader); its internal reads and writes (GET, stale copy, SET) are not user calls.
TEST_F(GetOrLoad, InternalReadsAndWritesAreNotCountedAsUserHitsMissesOrCalls) {
  LoadOptions o;
  o.ttl = 60s;
  o.stale_if_error = true;
  o.negative_cache = true;
  Loader value = []() -> Result<std::optional<std::string>> {
    return std::optional<std::string>("v");
  };
  Loader none = []() -> Result<std::optional<std::string>> { return std::optional<std::string>(); };
  ASSERT_TRUE(client().get_or_load("a", o, value).ok());  // miss: loads, writes value + stale copy
  ASSERT_TRUE(client().get_or_load("a", o, value).ok());  // hit
  ASSERT_TRUE(client().get_or_load("a", o, value).ok());  // hit
  ASSERT_TRUE(client().get_or_load("n", o, none).ok());   // miss: writes the negative marker
  ASSERT_TRUE(client().get_or_load("n", o, none).ok());   // hit (cached "not found")
  ASSERT_TRUE(client().get("a").ok());                    // a user GET hit
  ASSERT_TRUE(client().get("zz").ok());                   // a user GET miss
  const Stats st = client().stats();
  EXPECT_EQ(st.hits, 4u);    // 3 get_or_load + 1 get
  EXPECT_EQ(st.misses, 3u);  // 2 get_or_load + 1 get
  std::uint64_t gets = 0, sets = 0, loads = 0;
  for (const auto& op : st.ops) {
    if (op.op == "get") gets = op.calls;
    if (op.op == "set") sets = op.calls;
    if (op.op == "get_or_load") loads = op.calls;
  }
  EXPECT_EQ(gets, 2u) << "get_or_load's own GETs must not show up as user gets";
  EXPECT_EQ(sets, 0u) << "get_or_load's writes must not show up as user sets";
  EXPECT_EQ(loads, 5u);
  EXPECT_EQ(st.requests, 7u);
  EXPECT_EQ(st.loader_calls, 2u);
}

TEST_F(GetOrLoad, BadOptionsAreRefused) {
  LoadOptions o;
  o.ttl = 0ms;
  auto r =
      client().get_or_load("k", o, [] { return Result<std::optional<std::string>>(std::nullopt); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
}

TEST_F(GetOrLoad, GetRenewSlidesTheTtl) {
  ASSERT_TRUE(client().set("session", std::string(5000, 'x'), 1s).ok());
  auto v = client().get_renew("session", 30s);
  ASSERT_TRUE(v.ok()) << v.error().to_string();
  EXPECT_EQ(v->value().size(), 5000u);  // compressed on the wire, decoded here
  EXPECT_GT(client().ttl("session")->remaining.count(), 29000);
  EXPECT_FALSE(client().get_renew("nothing", 1s)->has_value());
}

// get_or_load's "not found" entry is a miss for every other read path, not a corrupt value.
TEST_F(GetOrLoad, NegativeCacheEntryReadsAsAMissThroughGetMgetGetRenewAndGetAs) {
  LoadOptions o;
  o.negative_cache = true;
  Loader none = []() -> Result<std::optional<std::string>> { return std::optional<std::string>(); };
  ASSERT_TRUE(client().get_or_load("gone", o, none).ok());
  ASSERT_TRUE(client().set("here", "v").ok());

  auto g = client().get("gone");
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_FALSE(g->has_value());
  auto m = client().mget({"here", "gone"});
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  ASSERT_EQ(m->size(), 2u);
  EXPECT_EQ((*m)[0], std::optional<std::string>("v"));
  EXPECT_FALSE((*m)[1].has_value());
  auto r = client().get_renew("gone", 60s);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_FALSE(r->has_value());
  auto t = get_as<std::string>(client(), "gone");
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  EXPECT_FALSE(t->has_value());
  EXPECT_EQ(client().stats().negative_reads, 4u);
}

// ---- get_or_load_async ----

// An asynchronous loader finished later by another thread (as an HTTP client's callback would).
struct DeferredLoads {
  std::mutex mu;
  std::vector<LoadDone> pending;
  std::atomic<int> calls{0};
  AsyncLoader loader() {
    return [this](LoadDone done) {
      calls.fetch_add(1);
      std::lock_guard lock(mu);
      pending.push_back(std::move(done));
    };
  }
  // Completes every pending load with `value` (bounded wait for the first one to arrive).
  bool complete_all(const std::optional<std::string>& value) {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard lock(mu);
        if (!pending.empty()) {
          for (auto& d : pending) d(value);
          pending.clear();
          return true;
        }
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
};

TEST_F(GetOrLoad, AsyncCallersOfAMissingKeyShareOneLoadWithTheBlockingOnes) {
  DeferredLoads loads;
  LoadOptions o;
  o.ttl = 60s;
  std::vector<std::future<Result<Loaded>>> futures;
  for (int i = 0; i < 50; ++i) {
    futures.push_back(client().get_or_load_async("ak", o, loads.loader()));
  }
  // Once an async caller leads the flight (its loader was called), a blocking caller joins it.
  for (int i = 0; i < 500 && loads.calls.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(loads.calls.load(), 1);
  auto blocking = std::async(std::launch::async, [&] {
    return client().get_or_load("ak", o, [&]() -> Result<std::optional<std::string>> {
      loads.calls.fetch_add(1);
      return std::optional<std::string>("from-the-blocking-loader");
    });
  });
  std::this_thread::sleep_for(100ms);  // let every caller join before the load ends
  ASSERT_TRUE(loads.complete_all("loaded-async"));
  int loaded = 0;
  int shared = 0;
  for (auto& f : futures) {
    auto r = f.get();
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->value, std::optional<std::string>("loaded-async"));
    (r->source == Source::loader ? loaded : shared) += 1;
  }
  auto b = blocking.get();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->value, std::optional<std::string>("loaded-async"));
  EXPECT_EQ(loads.calls.load(), 1);  // one load for all 51 callers
  EXPECT_EQ(loaded + shared, 50);
  EXPECT_EQ(client().get("ak").value(), std::optional<std::string>("loaded-async"));
  EXPECT_GT(client().stats().singleflight_shared, 0u);
  // Now cached: no load, source cache, through the callback form.
  std::promise<Result<Loaded>> p;
  client().get_or_load_async("ak", o, loads.loader(),
                             [&p](Result<Loaded> r) { p.set_value(std::move(r)); });
  auto again = p.get_future().get();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->source, Source::cache);
  EXPECT_EQ(loads.calls.load(), 1);
}

TEST_F(GetOrLoad, AsyncLoaderErrorsThrowsAndDroppedCallbacksAreErrorsNotHangs) {
  LoadOptions o;
  o.ttl = 60s;
  auto failed = client()
                    .get_or_load_async("e1", o,
                                       [](LoadDone done) {
                                         std::thread([done] {
                                           done(Error{Errc::server, "upstream 503"});
                                         }).detach();
                                       })
                    .get();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().message, "upstream 503");
  EXPECT_EQ(client().get("e1").value(), std::nullopt);  // errors are not cached
  auto threw =
      client().get_or_load_async("e2", o, [](LoadDone) { throw std::runtime_error("bad"); }).get();
  ASSERT_FALSE(threw.ok());
  EXPECT_THAT(threw.error().message, ::testing::HasSubstr("loader threw: bad"));
  auto dropped = client().get_or_load_async("e3", o, [](LoadDone) {}).get();
  ASSERT_FALSE(dropped.ok());
  EXPECT_THAT(dropped.error().message, ::testing::HasSubstr("dropped its done callback"));
  // Called twice: the second call is ignored.
  auto twice = client()
                   .get_or_load_async("e4", o,
                                      [](LoadDone done) {
                                        done(std::optional<std::string>("first"));
                                        done(std::optional<std::string>("second"));
                                      })
                   .get();
  EXPECT_EQ(twice.value().value, std::optional<std::string>("first"));
  EXPECT_EQ(client().get("e4").value(), std::optional<std::string>("first"));
  // The flights ended: the keys load again.
  EXPECT_EQ(
      client()
          .get_or_load_async("e3", o, [](LoadDone done) { done(std::optional<std::string>("ok")); })
          .get()
          .value()
          .value,
      std::optional<std::string>("ok"));
}

TEST_F(GetOrLoad, AsyncFollowersTimeOutWhileTheLoadGoesOnAndStillFillsTheCache) {
  DeferredLoads loads;
  LoadOptions o;
  o.ttl = 60s;
  o.wait_for_load = 200ms;
  auto leader = client().get_or_load_async("slowk", o, loads.loader());
  std::this_thread::sleep_for(50ms);
  auto follower = client().get_or_load_async("slowk", o, loads.loader());
  auto f = follower.get();  // after ~200 ms, the load still running
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, Errc::timeout);
  ASSERT_TRUE(loads.complete_all("late"));
  EXPECT_EQ(leader.get().value().value, std::optional<std::string>("late"));
  EXPECT_EQ(client().get("slowk").value(), std::optional<std::string>("late"));
  EXPECT_EQ(loads.calls.load(), 1);
}

TEST_F(GetOrLoad, AsyncNegativeCacheStaleCopyAndOutageBypass) {
  LoadOptions o;
  o.ttl = 60s;
  o.negative_cache = true;
  auto none = [](LoadDone done) { done(std::optional<std::string>{}); };
  EXPECT_EQ(client().get_or_load_async("n1", o, none).get().value().source, Source::loader);
  EXPECT_EQ(client().get_or_load_async("n1", o, none).get().value().source, Source::negative_cache);
  LoadOptions s;
  s.ttl = 60s;
  s.stale_if_error = true;
  ASSERT_TRUE(
      client()
          .get_or_load_async("s1", s, [](LoadDone done) { done(std::optional<std::string>("v1")); })
          .get()
          .ok());
  ASSERT_TRUE(client().del("s1").ok());  // expired, say; the stale copy remains
  auto stale = client()
                   .get_or_load_async("s1", s,
                                      [](LoadDone done) {
                                        done(Error{Errc::server, "x"});
                                      })
                   .get();
  ASSERT_TRUE(stale.ok()) << stale.error().to_string();
  EXPECT_EQ(stale->source, Source::stale);
  EXPECT_EQ(stale->value, std::optional<std::string>("v1"));
  // Redis gone: the loader's value, marked bypassed, not cached.
  server_->kill9();
  auto bypassed =
      client()
          .get_or_load_async("b1", o, [](LoadDone done) { done(std::optional<std::string>("b")); })
          .get();
  ASSERT_TRUE(bypassed.ok()) << bypassed.error().to_string();
  EXPECT_TRUE(bypassed->bypassed);
  EXPECT_EQ(bypassed->value, std::optional<std::string>("b"));
  EXPECT_EQ(client().get_or_load_async("b2", LoadOptions{.ttl = 0ms}, none).get().error().code,
            Errc::invalid_argument);
}

}  // namespace
}  // namespace rcache::test
