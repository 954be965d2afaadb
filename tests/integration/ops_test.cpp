// Every operation against a real redis-server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include "fixtures.hpp"

namespace rcache::test {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

class Ops : public RedisTest {};

TEST_F(Ops, SetThenGetRoundTrips) {
  ASSERT_TRUE(client().set("greeting", "hello").value());
  auto v = client().get("greeting");
  ASSERT_TRUE(v.ok()) << v.error().to_string();
  ASSERT_TRUE(v->has_value());
  EXPECT_EQ(**v, "hello");
}

TEST_F(Ops, MissIsAnEmptyOptionalNotAnError) {
  auto v = client().get("never-written");
  ASSERT_TRUE(v.ok()) << v.error().to_string();
  EXPECT_FALSE(v->has_value());
}

TEST_F(Ops, BinaryKeysAndValuesRoundTrip) {
  const std::string key("k\0e\r\ny\xff", 7);
  const std::string value = random_bytes(4096, 7) + std::string("\0\0\r\n", 4);
  ASSERT_TRUE(client().set(key, value).ok());
  auto v = client().get(key);
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(v->has_value());
  EXPECT_EQ(**v, value);
}

TEST_F(Ops, EmptyValueIsStoredAndIsNotAMiss) {
  ASSERT_TRUE(client().set("empty", "").ok());
  auto v = client().get("empty");
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(v->has_value());
  EXPECT_EQ(**v, "");
}

TEST_F(Ops, OneMebibyteValueRoundTrips) {
  const std::string value = random_bytes(1 << 20, 11);
  ASSERT_TRUE(client().set("big", value).ok());
  auto v = client().get("big");
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(v->has_value());
  EXPECT_EQ(v->value().size(), value.size());
  EXPECT_TRUE(**v == value);
}

TEST_F(Ops, TtlIsHonoured) {
  ASSERT_TRUE(client().set("short", "x", 300ms).ok());
  auto t = client().ttl("short");
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->exists);
  EXPECT_FALSE(t->persistent);
  EXPECT_GT(t->remaining.count(), 0);
  EXPECT_LE(t->remaining.count(), 300);
  // Bounded wait for expiry (Redis expires lazily on access, so GET sees it at once).
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    std::this_thread::sleep_for(20ms);
    auto v = client().get("short");
    ASSERT_TRUE(v.ok());
    gone = !v->has_value();
  }
  EXPECT_TRUE(gone);
}

TEST_F(Ops, SetIfAbsentAndIfPresent) {
  using C = SetOptions::Condition;
  EXPECT_FALSE(client().set("cond", "1", SetOptions{0ms, C::if_present}).value());
  EXPECT_TRUE(client().set("cond", "1", SetOptions{0ms, C::if_absent}).value());
  EXPECT_FALSE(client().set("cond", "2", SetOptions{0ms, C::if_absent}).value());
  EXPECT_EQ(client().get("cond").value(), std::optional<std::string>("1"));
  EXPECT_TRUE(client().set("cond", "3", SetOptions{5s, C::if_present}).value());
  EXPECT_EQ(client().get("cond").value(), std::optional<std::string>("3"));
  EXPECT_TRUE(client().ttl("cond")->remaining.count() > 0);
}

TEST_F(Ops, DelUnlinkAndExistsCountKeys) {
  ASSERT_TRUE(client().mset({{"a", "1"}, {"b", "2"}, {"c", "3"}}).ok());
  EXPECT_EQ(client().exists(std::vector<std::string>{"a", "b", "c", "zz"}).value(), 3);
  EXPECT_TRUE(client().exists("a").value());
  EXPECT_EQ(client().del("a").value(), 1);
  EXPECT_EQ(client().del("a").value(), 0);
  EXPECT_FALSE(client().exists("a").value());
  EXPECT_EQ(client().unlink(std::vector<std::string>{"b", "c", "nope"}).value(), 2);
  EXPECT_EQ(client().exists(std::vector<std::string>{"b", "c"}).value(), 0);
}

TEST_F(Ops, ExpireAndTtlStates) {
  EXPECT_FALSE(client().ttl("missing")->exists);
  ASSERT_TRUE(client().set("forever", "v").ok());
  auto t = client().ttl("forever");
  EXPECT_TRUE(t->exists);
  EXPECT_TRUE(t->persistent);
  EXPECT_TRUE(client().expire("forever", 10s).value());
  auto t2 = client().ttl("forever");
  EXPECT_FALSE(t2->persistent);
  EXPECT_GT(t2->remaining.count(), 9000);
  EXPECT_FALSE(client().expire("missing", 10s).value());
  auto bad = client().expire("forever", 0ms);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
}

TEST_F(Ops, IncrbyCountsAndRejectsNonIntegers) {
  EXPECT_EQ(client().incrby("counter", 5).value(), 5);
  EXPECT_EQ(client().incrby("counter", -7).value(), -2);
  ASSERT_TRUE(client().set("text", "abc").ok());
  auto r = client().incrby("text", 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::server);
  EXPECT_THAT(r.error().message, HasSubstr("not an integer"));
}

TEST_F(Ops, MgetReturnsValuesAndMissesInOrder) {
  ASSERT_TRUE(client().mset({{"m1", "one"}, {"m3", std::string("t\0ree", 5)}}).ok());
  auto v = client().mget({"m1", "m2", "m3"});
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->size(), 3u);
  EXPECT_EQ((*v)[0], std::optional<std::string>("one"));
  EXPECT_EQ((*v)[1], std::nullopt);
  EXPECT_EQ((*v)[2], std::optional<std::string>(std::string("t\0ree", 5)));
}

TEST_F(Ops, MsetWithTtlSetsEveryKeyWithExpiry) {
  ASSERT_TRUE(client().mset({{"x1", "a"}, {"x2", "b"}, {"x3", "c"}}, 20s).ok());
  for (const char* k : {"x1", "x2", "x3"}) {
    auto t = client().ttl(k);
    ASSERT_TRUE(t.ok());
    EXPECT_TRUE(t->exists) << k;
    EXPECT_FALSE(t->persistent) << k;
    EXPECT_GT(t->remaining.count(), 19000) << k;
  }
  EXPECT_EQ(client().get("x2").value(), std::optional<std::string>("b"));
}

TEST_F(Ops, PingMeasuresRoundTrip) {
  auto p = client().ping();
  ASSERT_TRUE(p.ok()) << p.error().to_string();
  EXPECT_GE(p->count(), 0);
}

TEST_F(Ops, RawCommandReturnsReplyTree) {
  ASSERT_TRUE(client().command({"RPUSH", "list", "a", "b"}).ok());
  auto r = client().command({"LRANGE", "list", "0", "-1"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->kind, Reply::Kind::array);
  ASSERT_EQ(r->elements.size(), 2u);
  EXPECT_EQ(r->elements[1].str, "b");
  auto err = client().command({"NOSUCHCOMMAND"});
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.error().code, Errc::server);
  EXPECT_THAT(err.error().message, HasSubstr("unknown command"));
  EXPECT_EQ(client().command({}).error().code, Errc::invalid_argument);
}

TEST_F(Ops, WrongTypeIsAServerErrorWithItsText) {
  ASSERT_TRUE(client().command({"RPUSH", "alist", "x"}).ok());
  auto r = client().get("alist");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::server);
  EXPECT_THAT(r.error().message, HasSubstr("WRONGTYPE"));
}

TEST_F(Ops, KeyPrefixAppliesToEveryKey) {
  Config c = config_for(*server_);
  c.key_prefix = "app:";
  auto prefixed = make_client(c);
  ASSERT_TRUE(prefixed->set("k", "v").ok());
  ASSERT_TRUE(prefixed->mset({{"m", "1"}}).ok());
  EXPECT_EQ(client().get("app:k").value(), std::optional<std::string>("v"));
  EXPECT_EQ(client().get("app:m").value(), std::optional<std::string>("1"));
  EXPECT_FALSE(client().get("k")->has_value());
  EXPECT_EQ(prefixed->get("k").value(), std::optional<std::string>("v"));
  EXPECT_EQ(prefixed->exists(std::vector<std::string>{"k", "m"}).value(), 2);
}

TEST_F(Ops, OversizedValueIsRefusedAndStoredValueKept) {
  Config c = config_for(*server_);
  c.max_value_size = 1024;
  auto small = make_client(c);
  ASSERT_TRUE(small->set("keep", "original").ok());
  auto r = small->set("keep", std::string(2048, 'x'));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::too_large);
  EXPECT_THAT(r.error().message, HasSubstr("2048 bytes"));
  EXPECT_THAT(r.error().message, HasSubstr("'keep'"));
  EXPECT_EQ(small->get("keep").value(), std::optional<std::string>("original"));
  auto m = small->mset({{"keep", std::string(4096, 'y')}});
  EXPECT_EQ(m.error().code, Errc::too_large);
  EXPECT_EQ(small->get("keep").value(), std::optional<std::string>("original"));
}

TEST_F(Ops, CallbackAndFutureFormsDeliverResults) {
  ASSERT_TRUE(client().set_async("f", "fv").get().ok());
  auto fut = client().get_async("f");
  auto v = fut.get();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, std::optional<std::string>("fv"));

  std::promise<Result<std::int64_t>> p;
  client().incrby_async("cb", 3, [&](Result<std::int64_t> r) { p.set_value(std::move(r)); });
  EXPECT_EQ(p.get_future().get().value(), 3);

  std::promise<std::thread::id> where;
  client().ping_async(
      [&](Result<std::chrono::microseconds>) { where.set_value(std::this_thread::get_id()); });
  EXPECT_NE(where.get_future().get(), std::this_thread::get_id());
}

TEST_F(Ops, ArgumentErrorsReachTheCallbackToo) {
  std::promise<Result<std::int64_t>> p;
  client().del_async({}, [&](Result<std::int64_t> r) { p.set_value(std::move(r)); });
  auto r = p.get_future().get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
}

TEST_F(Ops, BlockingCallInsideCallbackIsRefusedNotDeadlocked) {
  std::promise<Result<std::optional<std::string>>> inner;
  client().ping_async(
      [&](Result<std::chrono::microseconds>) { inner.set_value(client().get("x")); });
  auto r = inner.get_future().get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_THAT(r.error().message, HasSubstr("deadlock"));
}

TEST_F(Ops, ThrowingCallbackDoesNotTakeTheClientDown) {
  std::atomic<int> calls{0};
  for (int i = 0; i < 10; ++i) {
    client().ping_async([&](Result<std::chrono::microseconds>) {
      calls.fetch_add(1);
      throw std::runtime_error("user bug");
    });
  }
  // Every callback runs (bounded wait), and the client keeps working afterwards.
  for (int i = 0; i < 500 && calls.load() < 10; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(calls.load(), 10);
  EXPECT_TRUE(client().ping().ok());
  EXPECT_TRUE(client().set("after", "throw").ok());
}

TEST_F(Ops, SelectsTheConfiguredDatabase) {
  Config c = config_for(*server_);
  c.db = 3;
  auto db3 = make_client(c);
  ASSERT_TRUE(db3->set("where", "db3").ok());
  EXPECT_FALSE(client().get("where")->has_value());
  EXPECT_EQ(db3->get("where").value(), std::optional<std::string>("db3"));
  auto name = db3->command({"CLIENT", "GETNAME"});
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->str, "rcache");
}

TEST_F(Ops, DatabaseOutOfServerRangeGivesAClearError) {
  Config c = config_for(*server_);
  c.db = 999;
  auto bad = make_client(c);
  auto r = bad->get("x");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("SELECT"));
  EXPECT_THAT(r.error().message, HasSubstr("out of range"));
}

class UnixSocketOps : public RedisTest {
  RedisServer::Options server_options() override {
    RedisServer::Options o;
    o.unix_socket = true;
    return o;
  }
};

TEST_F(UnixSocketOps, WorksOverAUnixSocketUrl) {
  auto cfg = Config::from_url("unix://" + server_->socket_path() + "?db=2");
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  cfg->command_timeout = kRelaxedTimeout;
  auto c = make_client(*cfg);
  ASSERT_TRUE(c->set("sock", "ok").ok());
  EXPECT_EQ(c->get("sock").value(), std::optional<std::string>("ok"));
  EXPECT_FALSE(client().get("sock")->has_value());  // db 2, not 0
}

// command() on a shared pool: connection-state and reply-framing commands are refused before
// anything is sent, so they cannot leak into later calls on the same connection.
TEST_F(Ops, ConnectionStateCommandsAreRefusedAndLaterCallsAreUnaffected) {
  ASSERT_TRUE(client().set("where", "db0").ok());
  const std::vector<std::vector<std::string>> refused = {{"SELECT", "1"},
                                                         {"select", "1"},
                                                         {"MULTI"},
                                                         {"EXEC"},
                                                         {"DISCARD"},
                                                         {"WATCH", "k"},
                                                         {"SUBSCRIBE", "c"},
                                                         {"psubscribe", "c*"},
                                                         {"MONITOR"},
                                                         {"CLIENT", "REPLY", "SKIP"},
                                                         {"client", "reply", "off"},
                                                         {"HELLO", "3"},
                                                         {"AUTH", "x"},
                                                         {"RESET"},
                                                         {"QUIT"},
                                                         {"CLIENT", "SETNAME", "other"}};
  for (const auto& argv : refused) {
    auto r = client().command(argv);
    ASSERT_FALSE(r.ok()) << argv[0] << " must be refused";
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << r.error().to_string();
    EXPECT_THAT(r.error().message, ::testing::HasSubstr("shared pooled connection"));
  }
  EXPECT_THAT(client().command({"SELECT", "1"}).error().message,
              ::testing::HasSubstr("Config::db"));
  // Every pooled connection is still on db 0, answers in order, and SET means written.
  for (int i = 0; i < 50; ++i) {
    auto v = client().get("where");
    ASSERT_TRUE(v.ok());
    ASSERT_EQ(*v, std::optional<std::string>("db0"));
    ASSERT_TRUE(client().set("k" + std::to_string(i), "v").value());
    ASSERT_EQ(*client().get("k" + std::to_string(i)), std::optional<std::string>("v"));
  }
  // Harmless commands still go through.
  EXPECT_TRUE(client().command({"CLIENT", "ID"}).ok());
  EXPECT_TRUE(client().command({"DBSIZE"}).ok());
}

}  // namespace
}  // namespace rcache::test

namespace rcache::test {
namespace {

// The operation hook: one event per application call, with its op, key count, outcome, error
// and node; get_or_load's own traffic is not reported; a throwing hook changes nothing.
class OpHookTest : public RedisTest {
 protected:
  struct Seen {
    std::string op, outcome, node;
    std::uint32_t keys;
    Errc error;
    std::chrono::nanoseconds duration;
  };
  std::unique_ptr<Client> hooked(bool throwing = false) {
    Config c = config_for(*server_);
    c.op_hook = [this, throwing](const OpEvent& e) {
      {
        std::lock_guard l(mu_);
        seen_.push_back(Seen{std::string(e.op), std::string(e.outcome), std::string(e.node), e.keys,
                             e.error, e.duration});
      }
      if (throwing) throw std::runtime_error("tracer down");
    };
    return make_client(c);
  }
  std::vector<Seen> seen() {
    std::lock_guard l(mu_);
    return seen_;
  }
  std::mutex mu_;
  std::vector<Seen> seen_;
};

TEST_F(OpHookTest, EachApplicationCallIsOneEventWithWhatASpanNeeds) {
  auto c = hooked();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->set("a", "1").ok());
  ASSERT_TRUE(c->get("a")->has_value());
  ASSERT_FALSE(c->get("nope")->has_value());
  ASSERT_TRUE(c->mget({"a", "b", "c"}).ok());
  ASSERT_EQ(*c->del(std::vector<std::string>{"a", "b"}), 1);
  LoadOptions o;
  o.ttl = 60s;
  ASSERT_TRUE(c->get_or_load("gl", o, [] {
                 return Result<std::optional<std::string>>(std::optional<std::string>("v"));
               }).ok());
  c->force_breaker_open();
  ASSERT_FALSE(c->get("a").ok());
  c->reset_breaker();
  std::promise<void> done;
  c->get_async("a", [&](Result<std::optional<std::string>>) { done.set_value(); });
  ASSERT_EQ(done.get_future().wait_for(5s), std::future_status::ready);
  ASSERT_TRUE(eventually(2s, [&] { return seen().size() >= 8; }));

  const auto s = seen();
  ASSERT_EQ(s.size(), 8u);
  // ... the last one: the async call, reported from the loop thread.
  const std::vector<std::string> ops = {"set", "get",         "get", "mget",
                                        "del", "get_or_load", "get", "get"};
  for (std::size_t i = 0; i < ops.size(); ++i) EXPECT_EQ(s[i].op, ops[i]) << i;
  EXPECT_EQ(s[1].outcome, "hit");
  EXPECT_EQ(s[2].outcome, "miss");
  EXPECT_EQ(s[3].keys, 3u);
  EXPECT_EQ(s[4].keys, 2u);
  EXPECT_EQ(s[5].outcome, "miss");  // loaded: the loader ran
  EXPECT_EQ(s[6].outcome, "error");
  EXPECT_EQ(s[6].error, Errc::circuit_open);
  const std::string node = "127.0.0.1:" + std::to_string(server_->port());
  for (const auto& e : s) {
    EXPECT_EQ(e.node, node) << e.op;
    EXPECT_GT(e.duration.count(), 0) << e.op;
    if (e.outcome != "error") {
      EXPECT_EQ(e.error, Errc{}) << e.op;
    }
  }
}

TEST_F(OpHookTest, AThrowingHookChangesNoResult) {
  auto c = hooked(/*throwing=*/true);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->set("t", "1").ok());
  auto r = c->get("t");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(**r, "1");
  EXPECT_EQ(seen().size(), 2u);
}

}  // namespace
}  // namespace rcache::test
