// Records (hashes), batches, scripts, SCAN iteration and per-call deadlines against a real
// redis-server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "fixtures.hpp"
#include "rcache/patterns.hpp"
#include "rcache/rcache.hpp"
#include "tcp_proxy.hpp"

namespace rcache::test {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;
using Pairs = Client::Pairs;

std::string json_like(std::size_t n) {
  std::string s;
  for (int i = 0; s.size() < n; ++i) {
    s += "{\"id\":" + std::to_string(i) + ",\"name\":\"item\",\"tags\":[\"a\",\"b\"]},";
  }
  s.resize(n);
  return s;
}

std::uint64_t op_calls(const Client& c, std::string_view op) {
  for (const auto& o : c.stats().ops) {
    if (o.op == op) return o.calls;
  }
  return 0;
}

// ---- records ----

using Records = RedisTest;

TEST_F(Records, FieldsRoundTripThroughTheEnvelope) {
  const std::string big = json_like(10000);
  auto added = client().hset("user:7", Pairs{{"name", "ada"}, {"bio", big}, {"visits", "3"}});
  ASSERT_TRUE(added.ok()) << added.error().to_string();
  EXPECT_EQ(*added, 3);
  // A large field is stored compressed, exactly as a large string value would be.
  const std::string raw = server_->command({"HGET", "user:7", "bio"});
  EXPECT_EQ(raw.substr(0, 4), std::string("\xFFRCZ", 4));
  EXPECT_LT(raw.size(), big.size() / 2);
  EXPECT_EQ(server_->command({"HGET", "user:7", "name"}), "ada");  // small ones as they are

  EXPECT_EQ(client().hget("user:7", "bio").value(), std::optional<std::string>(big));
  EXPECT_EQ(client().hget("user:7", "nope").value(), std::nullopt);
  EXPECT_EQ(client().hget("no-such-record", "name").value(), std::nullopt);
  auto some = client().hmget("user:7", {"name", "nope", "bio"});
  ASSERT_TRUE(some.ok()) << some.error().to_string();
  ASSERT_EQ(some->size(), 3u);
  EXPECT_EQ((*some)[0], std::optional<std::string>("ada"));
  EXPECT_EQ((*some)[1], std::nullopt);
  EXPECT_EQ((*some)[2], std::optional<std::string>(big));
  auto all = client().hgetall("user:7");
  ASSERT_TRUE(all.ok());
  std::map<std::string, std::string> m(all->begin(), all->end());
  EXPECT_EQ(m,
            (std::map<std::string, std::string>{{"name", "ada"}, {"bio", big}, {"visits", "3"}}));
  EXPECT_TRUE(client().hgetall("no-such-record").value().empty());

  EXPECT_EQ(client().hincrby("user:7", "visits", 4).value(), 7);
  EXPECT_FALSE(client().hset("user:7", "name", "grace").value());  // updated, not new
  EXPECT_TRUE(client().hset("user:7", "mail", "g@x").value());
  EXPECT_EQ(client().hdel("user:7", {"mail", "nope"}).value(), 1);
  EXPECT_EQ(client().hget("user:7", "name").value(), std::optional<std::string>("grace"));
  // The async forms take the same path.
  EXPECT_EQ(client().hget_async("user:7", "visits").get().value(), std::optional<std::string>("7"));
  EXPECT_EQ(client().hgetall_async("user:7").get().value().size(), 3u);
}

TEST_F(Records, KeyPrefixArgumentsAndWrongTypes) {
  Config c = config_for(*server_);
  c.key_prefix = "t1:";
  auto tenant = make_client(c);
  ASSERT_NE(tenant, nullptr);
  ASSERT_TRUE(tenant->hset("r", "f", "v").ok());
  EXPECT_EQ(server_->command({"HGET", "t1:r", "f"}), "v");
  // Arguments are checked before anything is sent.
  auto none = tenant->hset("r", Pairs{});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, Errc::invalid_argument);
  EXPECT_THAT(none.error().message, HasSubstr("HSET"));
  EXPECT_EQ(tenant->hmget("r", {}).error().code, Errc::invalid_argument);
  EXPECT_EQ(tenant->update_record("r", {{"f", "v"}}, RecordOptions{-5ms, true}).error().code,
            Errc::invalid_argument);
  // A string key is no record: the server's WRONGTYPE, as Errc::server.
  ASSERT_TRUE(tenant->set("s", "x").ok());
  auto wrong = tenant->hget("s", "f");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, Errc::server);
  EXPECT_THAT(wrong.error().message, HasSubstr("WRONGTYPE"));
  // A corrupt stored field is named, never returned.
  server_->command(
      {"HSET", "t1:r", "bad", std::string("\xFFRCZ\x01\x01\0\0", 8) + "garbage!!!!!!!"});
  auto corrupt = tenant->hget("r", "bad");
  ASSERT_FALSE(corrupt.ok());
  EXPECT_EQ(corrupt.error().code, Errc::corrupt_value);
  EXPECT_EQ(tenant->hgetall("r").error().code, Errc::corrupt_value);
}

TEST_F(Records, UpdateRenewsTheTtlAndLeavesOtherFieldsAlone) {
  ASSERT_TRUE(client().update_record("conv:1", {{"a", "1"}, {"b", "2"}}, {60s, true}).value());
  EXPECT_GT(std::stoll(server_->command({"PTTL", "conv:1"})), 50000);
  server_->command({"PEXPIRE", "conv:1", "3000"});
  ASSERT_TRUE(client().update_record("conv:1", {{"b", "20"}, {"c", "30"}}, {60s, true}).value());
  EXPECT_GT(std::stoll(server_->command({"PTTL", "conv:1"})), 50000);  // renewed
  auto all = client().hgetall("conv:1").value();
  std::map<std::string, std::string> m(all.begin(), all.end());
  EXPECT_EQ(m, (std::map<std::string, std::string>{{"a", "1"}, {"b", "20"}, {"c", "30"}}));

  // ttl 0 leaves the TTL as it is.
  server_->command({"PEXPIRE", "conv:1", "30000"});
  ASSERT_TRUE(client().update_record("conv:1", {{"d", "4"}}, {0ms, true}).value());
  const long long left = std::stoll(server_->command({"PTTL", "conv:1"}));
  EXPECT_GT(left, 20000);
  EXPECT_LE(left, 30000);
  // Only renewing: no fields, the record exists.
  ASSERT_TRUE(client().update_record("conv:1", {}, {90s, false}).value());
  EXPECT_GT(std::stoll(server_->command({"PTTL", "conv:1"})), 80000);

  // create = false: a missing record stays missing.
  EXPECT_FALSE(client().update_record("conv:2", {{"a", "1"}}, {60s, false}).value());
  EXPECT_EQ(server_->command({"EXISTS", "conv:2"}), "0");
  EXPECT_FALSE(client().update_record("conv:2", {}, {60s, true}).value());  // nothing to create
  EXPECT_EQ(server_->command({"EXISTS", "conv:2"}), "0");
  // A large value and many fields (more than one HSET chunk in the script).
  Pairs many;
  for (int i = 0; i < 1500; ++i) many.emplace_back("f" + std::to_string(i), std::to_string(i));
  many.emplace_back("big", json_like(50000));
  ASSERT_TRUE(client().update_record("conv:3", many, {60s, true}).value());
  EXPECT_EQ(server_->command({"HLEN", "conv:3"}), "1501");
  EXPECT_EQ(client().hget("conv:3", "f1499").value(), std::optional<std::string>("1499"));
  EXPECT_EQ(client().hget("conv:3", "big").value(), std::optional<std::string>(json_like(50000)));
  EXPECT_EQ(op_calls(client(), "update"), 7u);
}

// Concurrent updates of different fields: every field ends with its last value, and no reader
// ever sees the record without a TTL (fields and TTL are written in one step).
TEST_F(Records, ConcurrentUpdatesKeepEveryFieldAndNeverLoseTheTtl) {
  constexpr int kThreads = 8;
  constexpr int kUpdates = 150;
  std::atomic<bool> stop{false};
  std::atomic<int> without_ttl{0};
  std::atomic<int> probes{0};
  std::thread reader([&] {
    RedisConnection c(server_->port());
    for (int i = 0; i < 100000 && !stop.load(); ++i) {
      if (c.run({"PTTL", "thread:9"}) == "-1") ++without_ttl;
      ++probes;
    }
  });
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kUpdates; ++i) {
        auto r = client().update_record(
            "thread:9", {{"w" + std::to_string(t), std::to_string(i)}, {"last", std::to_string(t)}},
            {30s, true});
        if (!r.ok() || !*r) ++failures;
      }
    });
  }
  for (auto& w : writers) w.join();
  stop = true;
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(without_ttl.load(), 0) << "of " << probes.load() << " probes";
  auto all = client().hgetall("thread:9").value();
  std::map<std::string, std::string> m(all.begin(), all.end());
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(m["w" + std::to_string(t)], "149") << t;
  EXPECT_EQ(m.size(), static_cast<std::size_t>(kThreads + 1));
}

// ---- scripts ----

using Scripts = RedisTest;

TEST(ScriptSha, IsTheSha1OfTheSource) {
  EXPECT_EQ(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(Script("return 1").sha1(), sha1_hex("return 1"));
}

TEST_F(Scripts, EvalshaLoadsOnNoscriptAndAfterScriptFlush) {
  const Script bump("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  // A fresh server does not know it: EVALSHA -> NOSCRIPT -> EVAL, one call for the caller.
  auto r = client().eval(bump, {"n"}, {"5"});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->integer, 5);
  EXPECT_EQ(server_->command({"SCRIPT", "EXISTS", bump.sha1()}), "1");
  EXPECT_EQ(client().eval(bump, {"n"}, {"2"}).value().integer, 7);
  ASSERT_EQ(server_->command({"SCRIPT", "FLUSH"}), "OK");
  EXPECT_EQ(client().eval(bump, {"n"}, {"1"}).value().integer, 8);  // reloaded
  EXPECT_EQ(server_->command({"GET", "n"}), "8");  // ran once per call, never twice
  // The async forms, through a flush too.
  ASSERT_EQ(server_->command({"SCRIPT", "FLUSH"}), "OK");
  std::promise<Result<Reply>> p;
  client().eval_async(bump, {"n"}, {"10"},
                      [&p](Result<Reply> got) { p.set_value(std::move(got)); });
  EXPECT_EQ(p.get_future().get().value().integer, 18);
  EXPECT_EQ(client().eval_async(bump, {"n"}, {"1"}).get().value().integer, 19);
  EXPECT_EQ(op_calls(client(), "script"), 5u);  // one recorded call each, NOSCRIPT or not
}

TEST_F(Scripts, KeysArePrefixedAndErrorsAreNamed) {
  Config c = config_for(*server_);
  c.key_prefix = "app:";
  auto app = make_client(c);
  ASSERT_NE(app, nullptr);
  const Script both("redis.call('SET', KEYS[1], ARGV[1]); return {KEYS[1], ARGV[1]}");
  auto r = app->eval(both, {"k"}, {"v"});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->elements.size(), 2u);
  EXPECT_EQ(r->elements[0].str, "app:k");
  EXPECT_EQ(server_->command({"GET", "app:k"}), "v");
  auto bad = app->eval(Script("return redis.call('NOSUCHCOMMAND')"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::server);
  EXPECT_THAT(bad.error().message, HasSubstr("Unknown Redis command"));
  auto syntax = app->eval(Script("this is not lua"));
  ASSERT_FALSE(syntax.ok());
  EXPECT_EQ(syntax.error().code, Errc::server);
  // The rate limiter and the lock run on scripts too: after a flush they still work.
  server_->command({"SCRIPT", "FLUSH"});
  RateLimiter limiter(*app, 2, 10s);
  EXPECT_TRUE(limiter.acquire("api").value().allowed);
  EXPECT_TRUE(limiter.acquire("api").value().allowed);
  EXPECT_FALSE(limiter.acquire("api").value().allowed);
  auto held = try_lock(*app, "job", 5s).value();
  ASSERT_TRUE(held.has_value());
  server_->command({"SCRIPT", "FLUSH"});
  EXPECT_TRUE(extend(*app, *held, 10s).value());
  EXPECT_TRUE(unlock(*app, *held).value());
  EXPECT_EQ(server_->command({"EXISTS", "app:job"}), "0");
}

// ---- batches ----

using Batches = RedisTest;

TEST_F(Batches, MixedCommandsReturnEachReplyInOrder) {
  const std::string big = json_like(8000);
  Batch b;
  auto set = b.set("b:s", big, {60s});
  auto get = b.get("b:s");
  auto miss = b.get("b:none");
  auto incr = b.incrby("b:n", 5);
  auto hset = b.hset("b:h", {{"f", "v"}, {"g", big}});
  auto hget = b.hget("b:h", "g");
  auto all = b.hgetall("b:h");
  auto ttl = b.ttl("b:s");
  auto exists = b.exists("b:n");
  auto expire = b.expire("b:n", 30s);
  auto hincr = b.hincrby("b:h", "count", 2);
  auto hdel = b.hdel("b:h", {"f"});
  auto ping = b.command({"PING"});
  auto del = b.del("b:n");
  ASSERT_EQ(b.size(), 14u);
  auto r = client().exec(b);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->size(), 14u);
  EXPECT_TRUE(r->all_ok());
  EXPECT_TRUE(r->get(set).value());
  EXPECT_EQ(r->get(get).value(), std::optional<std::string>(big));  // decoded
  EXPECT_EQ(r->get(miss).value(), std::nullopt);
  EXPECT_EQ(r->get(incr).value(), 5);
  EXPECT_EQ(r->get(hset).value(), 2);
  EXPECT_EQ(r->get(hget).value(), std::optional<std::string>(big));
  EXPECT_EQ(r->get(all).value().size(), 2u);
  EXPECT_TRUE(r->get(ttl).value().exists);
  EXPECT_GT(r->get(ttl).value().remaining.count(), 50000);
  EXPECT_TRUE(r->get(exists).value());
  EXPECT_TRUE(r->get(expire).value());
  EXPECT_EQ(r->get(hincr).value(), 2);
  EXPECT_EQ(r->get(hdel).value(), 1);
  EXPECT_EQ(r->get(ping).value().str, "PONG");
  EXPECT_EQ(r->get(del).value(), 1);
  EXPECT_EQ(server_->command({"HGET", "b:h", "g"}).substr(0, 4), std::string("\xFFRCZ", 4));
  EXPECT_EQ(op_calls(client(), "batch"), 1u);  // one call for the metrics
  // A Ref of the wrong batch or out of range: a clear error, not a crash.
  EXPECT_EQ(r->get(Batch::Ref<bool>{99}).error().code, Errc::invalid_argument);
  EXPECT_EQ(r->get(Batch::Ref<bool>{get.index}).error().code, Errc::invalid_argument);
  // The async forms.
  Batch small;
  auto g = small.get("b:s");
  EXPECT_EQ(client().exec_async(small).get().value().get(g).value(),
            std::optional<std::string>(big));
  std::promise<Result<BatchReplies>> p;
  client().exec_async(small, [&p](Result<BatchReplies> x) { p.set_value(std::move(x)); });
  EXPECT_TRUE(p.get_future().get().value().all_ok());
}

TEST_F(Batches, ACommandsErrorIsItsOwnNotTheBatchs) {
  ASSERT_TRUE(client().set("b:text", "not a number").ok());
  Batch b;
  auto before = b.set("b:1", "one");
  auto bad = b.incrby("b:text", 1);
  auto wrongtype = b.hget("b:text", "f");
  auto after = b.set("b:2", "two");
  auto r = client().exec(b);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_FALSE(r->all_ok());
  EXPECT_TRUE(r->get(before).value());
  ASSERT_FALSE(r->get(bad).ok());
  EXPECT_EQ(r->get(bad).error().code, Errc::server);
  EXPECT_THAT(r->get(bad).error().message, HasSubstr("not an integer"));
  EXPECT_THAT(r->get(wrongtype).error().message, HasSubstr("WRONGTYPE"));
  EXPECT_TRUE(r->get(after).value());
  EXPECT_EQ(server_->command({"GET", "b:2"}), "two");
}

TEST_F(Batches, AtomicIsAllOrNothingWhenACommandIsRefusedWhileQueued) {
  Batch tx = Batch::atomic();
  tx.set("tx:a", "1");
  tx.command({"SET", "tx:b"});  // wrong number of arguments: refused while queueing
  tx.set("tx:c", "3");
  auto r = client().exec(tx);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::server);
  EXPECT_THAT(r.error().message, HasSubstr("nothing was applied"));
  EXPECT_THAT(r.error().message, HasSubstr("#1"));
  EXPECT_EQ(server_->command({"EXISTS", "tx:a", "tx:c"}), "0");
  // The connection is usable afterwards (no transaction left open on it).
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(client().set("tx:after", "x").ok());
  EXPECT_EQ(client().get("tx:a").value(), std::nullopt);
}

TEST_F(Batches, AtomicRunsEveryCommandWhenOneFailsWhileRunning) {
  ASSERT_TRUE(client().set("tx:text", "abc").ok());
  Batch tx = Batch::atomic();
  auto a = tx.set("tx:a", "1");
  auto bad = tx.incrby("tx:text", 1);  // fails at EXEC time: Redis has no rollback
  auto c = tx.hset("tx:h", {{"f", "v"}});
  auto r = client().exec(tx);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->get(a).value());
  EXPECT_EQ(r->get(bad).error().code, Errc::server);
  EXPECT_EQ(r->get(c).value(), 1);
  EXPECT_EQ(server_->command({"GET", "tx:a"}), "1");
}

TEST_F(Batches, AtomicBatchesOfManyThreadsNeverInterleave) {
  // Each transaction moves one unit from x to y: any reader inside a transaction sees x + y = 0.
  constexpr int kThreads = 6;
  std::vector<std::thread> ts;
  std::atomic<int> broken{0};
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        Batch tx = Batch::atomic();
        tx.incrby("tx:x", -1);
        tx.incrby("tx:y", 1);
        auto x = tx.get("tx:x");
        auto y = tx.get("tx:y");
        auto r = client().exec(tx);
        if (!r.ok()) {
          ++broken;
          continue;
        }
        if (std::stoll(**r->get(x)) + std::stoll(**r->get(y)) != 0) ++broken;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(broken.load(), 0);
  EXPECT_EQ(server_->command({"GET", "tx:y"}), std::to_string(kThreads * 100));
}

TEST_F(Batches, ArgumentErrorsAreNamedAndNothingIsSent) {
  EXPECT_EQ(client().exec(Batch{}).error().code, Errc::invalid_argument);
  Batch b;
  b.set("ok", "1");
  b.command({"SUBSCRIBE", "ch"});  // would change the shared connection
  auto r = client().exec(b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_THAT(r.error().message, HasSubstr("batch command #1"));
  EXPECT_THAT(r.error().message, HasSubstr("rcache::Subscriber"));  // the alternative, named
  auto multi = client().command({"MULTI"});
  ASSERT_FALSE(multi.ok());
  EXPECT_THAT(multi.error().message, HasSubstr("Batch::atomic()"));
  Batch e;
  e.expire("k", 0ms);
  auto zero = client().exec(e);
  ASSERT_FALSE(zero.ok());
  EXPECT_THAT(zero.error().message, HasSubstr("batch command #0 (PEXPIRE)"));
  Batch h;
  h.hset("h", {});
  EXPECT_EQ(client().exec(h).error().code, Errc::invalid_argument);
  EXPECT_EQ(server_->command({"EXISTS", "ok"}), "0");
}

// A batch is one call for the retry rules: sent and unanswered, it is retried only when every
// command in it is idempotent. The proxy forwards commands but drops the replies.
TEST(BatchRetries, OnlyIdempotentBatchesAreRetriedOnceSent) {
  auto server = RedisServer::start();
  ASSERT_NE(server, nullptr);
  TcpProxy proxy(server->port());
  Config c;
  c.port = proxy.port();
  c.command_timeout = 300ms;
  c.deadline = 3000ms;
  c.retry.max_attempts = 3;
  c.breaker.enabled = false;
  auto client = make_client(c);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->ping().ok());
  proxy.set_mode(TcpProxy::Mode::blackhole);
  Batch counting;
  counting.incrby("r:n", 1);
  counting.get("r:n");
  auto r = client->exec(counting);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(server->command({"GET", "r:n"}), "1");  // ran once: never sent again
  Batch plain;
  plain.set("r:s", "x");
  plain.get("r:s");
  auto p = client->exec(plain);
  ASSERT_FALSE(p.ok());
  std::uint64_t retries = 0;
  for (const auto& o : client->stats().ops) {
    if (o.op == "batch") retries = o.retries;
  }
  EXPECT_GE(retries, 1u);  // the idempotent batch was tried again
  proxy.set_mode(TcpProxy::Mode::pass);
}

// ---- scan, count_pattern, delete_pattern's dry run ----

using Scans = RedisTest;

Result<void> fill(Client& c, const std::string& prefix, int n) {
  for (int batch = 0; batch < n / 1000; ++batch) {
    Client::Pairs pairs;
    for (int i = batch * 1000; i < (batch + 1) * 1000; ++i) {
      pairs.emplace_back(prefix + std::to_string(i), "v");
    }
    if (auto r = c.mset(pairs); !r) return r;
  }
  return {};
}

TEST_F(Scans, EveryKeyOnceOverAStaticKeyspaceOf100k) {
  Config c = config_for(*server_);
  c.key_prefix = "svc:";
  auto svc = make_client(c);
  ASSERT_NE(svc, nullptr);
  ASSERT_TRUE(fill(*svc, "k:", 100000).ok());
  ASSERT_TRUE(fill(*svc, "other:", 1000).ok());
  server_->command({"SET", "k:outside-the-prefix", "x"});
  std::set<std::string> seen;
  std::uint64_t visits = 0;
  auto keys = svc->scan({.match = "k:*", .count = 1000, .type = ""});
  for (const std::string& k : keys) {
    ++visits;
    seen.insert(k);
  }
  ASSERT_TRUE(keys.ok()) << keys.error().to_string();
  EXPECT_TRUE(keys.done());
  EXPECT_EQ(visits, 100000u);  // exactly once each
  EXPECT_EQ(seen.size(), 100000u);
  EXPECT_EQ(keys.visited(), 100000u);
  EXPECT_TRUE(seen.count("k:0") == 1 && seen.count("k:99999") == 1);  // prefix stripped
  EXPECT_EQ(svc->count_pattern("k:*").value(), 100000u);
  EXPECT_EQ(svc->count_pattern("other:*").value(), 1000u);
  EXPECT_EQ(svc->count_pattern("none:*").value(), 0u);
}

TEST_F(Scans, TypeFilterPagesAndDone) {
  ASSERT_TRUE(client().set("t:s", "x").ok());
  ASSERT_TRUE(client().hset("t:h", "f", "v").ok());
  std::vector<std::string> hashes;
  for (const auto& k : client().scan({.match = "t:*", .count = 0, .type = "hash"}))
    hashes.push_back(k);
  EXPECT_EQ(hashes, std::vector<std::string>{"t:h"});
  auto pages = client().scan({.match = "t:*", .count = 0, .type = ""});
  std::size_t total = 0;
  for (int i = 0; i < 1000; ++i) {
    auto page = pages.next_page();
    ASSERT_TRUE(page.ok());
    if (!page->has_value()) break;
    total += (*page)->size();
  }
  EXPECT_EQ(total, 2u);
  EXPECT_TRUE(pages.done());
  EXPECT_FALSE(pages.next_page().value().has_value());  // stays done
  EXPECT_EQ(op_calls(client(), "scan"), 2u);            // a page per call; none once done
}

TEST_F(Scans, AnErrorStopsTheScanAndSaysWhere) {
  ASSERT_TRUE(fill(client(), "e:", 5000).ok());
  Config c = config_for(*server_);
  c.command_timeout = 300ms;
  c.deadline = 600ms;
  auto client2 = make_client(c);
  ASSERT_NE(client2, nullptr);
  auto keys = client2->scan({.match = "e:*", .count = 100, .type = ""});
  std::uint64_t n = 0;
  for (const auto& k : keys) {
    (void)k;
    if (++n == 150) server_->kill9();
  }
  ASSERT_FALSE(keys.ok());
  EXPECT_THAT(keys.error().message, HasSubstr("scan stopped after"));
  EXPECT_TRUE(keys.done());
  EXPECT_FALSE(keys.next_page().ok());  // the same error again
}

TEST_F(Scans, DryRunDeletesNothingAndProgressCounts) {
  ASSERT_TRUE(fill(client(), "d:", 20000).ok());
  std::vector<std::uint64_t> seen;
  std::mutex mu;
  PatternOptions dry;
  dry.dry_run = true;
  dry.count = 500;
  dry.progress = [&](std::uint64_t n) {
    std::lock_guard lock(mu);
    seen.push_back(n);
  };
  EXPECT_EQ(client().delete_pattern("d:1*", dry).value(), 11111u);
  EXPECT_EQ(server_->command({"DBSIZE"}), "20000");
  {
    std::lock_guard lock(mu);
    ASSERT_GT(seen.size(), 2u);
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
    EXPECT_EQ(seen.back(), 11111u);
  }
  PatternOptions real;
  std::atomic<std::uint64_t> last{0};
  real.progress = [&](std::uint64_t n) { last = n; };
  EXPECT_EQ(client().delete_pattern("d:1*", real).value(), 11111u);
  EXPECT_EQ(last.load(), 11111u);
  EXPECT_EQ(server_->command({"DBSIZE"}), std::to_string(20000 - 11111));
  // A progress callback that throws does not stop or break the job.
  PatternOptions throwing;
  throwing.dry_run = true;
  throwing.progress = [](std::uint64_t) { throw std::runtime_error("boom"); };
  EXPECT_EQ(client().delete_pattern("d:*", throwing).value(), 20000u - 11111u);
}

// ---- per-call deadlines ----

using Deadlines = RedisTest;

TEST_F(Deadlines, AScopeBoundsEveryCallFormOfItsThreadAndClient) {
  Config c = config_for(*server_);  // 5 s command timeout and deadline
  auto other = make_client(c);
  ASSERT_NE(other, nullptr);
  c.breaker.enabled = false;  // every call below times out: the breaker would open otherwise
  client_ = make_client(c);
  ASSERT_NE(client_, nullptr);
  ASSERT_TRUE(client().set("dl", "v").ok());
  server_->pause();
  const auto t0 = std::chrono::steady_clock::now();
  {
    CallDeadline fast(client(), 200ms);
    auto g = client().get("dl");
    ASSERT_FALSE(g.ok());
    EXPECT_EQ(g.error().code, Errc::timeout);
    auto f = client().get_async("dl");  // the future form keeps the scope's deadline
    EXPECT_EQ(f.get().error().code, Errc::timeout);
    auto h = client().hget("r", "f");
    EXPECT_EQ(h.error().code, Errc::timeout);
    auto e = client().eval(Script("return 1"));
    EXPECT_EQ(e.error().code, Errc::timeout);
    Batch b;
    b.get("dl");
    EXPECT_EQ(client().exec(b).error().code, Errc::timeout);
    EXPECT_EQ(client().count_pattern("*").error().code, Errc::timeout);
    {
      CallDeadline faster(client(), 50ms);  // nested: the innermost wins
      EXPECT_EQ(client().get("dl").error().code, Errc::timeout);
    }
  }
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 4s) << "7 calls bounded by 200 ms each (generous margin)";
  // Another client on this thread keeps its Config::deadline: still waiting after 1 s.
  CallDeadline fast(client(), 100ms);
  auto slow = other->get_async("dl");
  EXPECT_EQ(slow.wait_for(1s), std::future_status::timeout);
  server_->resume();
  EXPECT_EQ(slow.get().value(), std::optional<std::string>("v"));
}

TEST_F(Deadlines, ANonPositiveDeadlineFailsAtOnceAndSendsNothing) {
  CallDeadline none(client(), 0ms);
  auto r = client().set("never", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::timeout);
  EXPECT_EQ(server_->command({"EXISTS", "never"}), "0");
}

}  // namespace
}  // namespace rcache::test
