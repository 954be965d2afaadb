// Redis Cluster against real processes (tests/support/cluster_set.hpp): routing by slot, hash
// tags, MOVED after a migration, ASK during one, multi-key calls across slots, delete_pattern
// over every master, and a master killed under load. The checks ask the nodes directly, never
// through the client under test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "cluster_set.hpp"
#include "fixtures.hpp"

namespace rcache::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

Config cluster_config(const ClusterSet& set) {
  Config c;
  c.cluster_nodes = set.seeds();
  c.command_timeout = kRelaxedTimeout;
  c.connect_timeout = kRelaxedTimeout;
  c.deadline = kRelaxedTimeout;
  c.log_level = LogLevel::off;
  return c;
}

// The value of `key` on the node that owns its slot, asked directly.
std::string on_owner(ClusterSet& set, const std::string& key) {
  RedisServer* owner = set.node_by_port(set.owner_of_slot(ClusterSet::slot_of(key)));
  return owner == nullptr ? std::string("(no owner)") : owner->command({"GET", key});
}

long long dbsize_of_masters(ClusterSet& set) {
  long long total = 0;
  for (int port : set.master_ports())
    total += std::stoll(set.node_by_port(port)->command({"DBSIZE"}));
  return total;
}

// One 3-master cluster for the tests that leave it as they found it.
class ClusterShared : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { set_ = ClusterSet::start().release(); }
  static void TearDownTestSuite() {
    delete set_;
    set_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(set_, nullptr);
    for (int port : set_->master_ports()) set_->node_by_port(port)->command({"FLUSHALL"});
  }
  static ClusterSet* set_;
};
ClusterSet* ClusterShared::set_ = nullptr;

// Slot migrations get a cluster of their own: right after a slot moves back and forth, the nodes'
// gossip can disagree about its owner for a moment, which other tests must not meet.
class ClusterMigration : public ClusterShared {
 protected:
  static void SetUpTestSuite() { set_ = ClusterSet::start().release(); }
  static void TearDownTestSuite() {
    delete set_;
    set_ = nullptr;
  }
};

TEST_F(ClusterShared, KeysOfEverySlotRangeGoToTheirMaster) {
  auto client = make_client(cluster_config(*set_));
  ASSERT_NE(client, nullptr);
  std::vector<int> slots = {0, 1, 5460, 5461, 5462, 10922, 10923, 10924, 16382, 16383};
  for (int s = 257; s < ClusterSet::kSlots - 1; s += 257) slots.push_back(s);
  for (int slot : slots) {
    const std::string key = ClusterSet::key_in_slot(slot, "route:");
    ASSERT_TRUE(client->set(key, "v" + std::to_string(slot)).ok()) << key;
  }
  for (int slot : slots) {
    const std::string key = ClusterSet::key_in_slot(slot, "route:");
    EXPECT_EQ(client->get(key).value(), std::optional<std::string>("v" + std::to_string(slot)));
    EXPECT_EQ(on_owner(*set_, key), "v" + std::to_string(slot)) << "slot " << slot;
  }
  EXPECT_EQ(dbsize_of_masters(*set_), static_cast<long long>(slots.size()));
}

TEST_F(ClusterShared, HashTagsAndATaggedPrefixPinKeysToOneMaster) {
  auto client = make_client(cluster_config(*set_));
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->set("{user42}.name", "ada").ok());
  ASSERT_TRUE(client->set("{user42}.mail", "ada@example.org").ok());
  const int owner = set_->owner_of_slot(ClusterSet::slot_of("user42"));
  EXPECT_EQ(set_->node_by_port(owner)->command({"GET", "{user42}.name"}), "ada");
  EXPECT_EQ(set_->node_by_port(owner)->command({"GET", "{user42}.mail"}), "ada@example.org");

  Config c = cluster_config(*set_);
  c.key_prefix = "{tenant7}:";
  auto tenant = make_client(c);
  ASSERT_NE(tenant, nullptr);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(tenant->set("k" + std::to_string(i), "x").ok());
  RedisServer* pinned = set_->node_by_port(set_->owner_of_slot(ClusterSet::slot_of("tenant7")));
  ASSERT_NE(pinned, nullptr);
  EXPECT_EQ(pinned->command({"GET", "{tenant7}:k49"}), "x");
  EXPECT_EQ(pinned->command(
                {"CLUSTER", "COUNTKEYSINSLOT", std::to_string(ClusterSet::slot_of("tenant7"))}),
            "50");
}

TEST_F(ClusterShared, MultiKeyCallsAcrossSlotsAreSplitAndPutBackInOrder) {
  auto client = make_client(cluster_config(*set_));
  ASSERT_NE(client, nullptr);
  Client::Pairs pairs;
  std::vector<std::string> keys;
  for (int i = 0; i < 300; ++i) {
    pairs.emplace_back("multi:" + std::to_string(i), "value-" + std::to_string(i));
    keys.push_back("multi:" + std::to_string(i));
  }
  ASSERT_TRUE(client->mset(pairs).ok());
  keys.insert(keys.begin() + 150, "multi:absent");
  auto values = client->mget(keys);
  ASSERT_TRUE(values.ok()) << values.error().to_string();
  ASSERT_EQ(values->size(), keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (keys[i] == "multi:absent") {
      EXPECT_FALSE((*values)[i].has_value());
    } else {
      EXPECT_EQ((*values)[i], std::optional<std::string>("value-" + keys[i].substr(6))) << keys[i];
    }
  }
  EXPECT_EQ(client->exists(keys).value(), 300);
  for (int i : {0, 77, 299})
    EXPECT_EQ(on_owner(*set_, "multi:" + std::to_string(i)), "value-" + std::to_string(i));

  // mset with a TTL: one transaction per slot, every key with its TTL on its own master.
  Client::Pairs ttl_pairs;
  for (int i = 0; i < 40; ++i) ttl_pairs.emplace_back("ttl:" + std::to_string(i), "t");
  ASSERT_TRUE(client->mset(ttl_pairs, 60s).ok());
  for (int i : {0, 13, 39}) {
    const std::string key = "ttl:" + std::to_string(i);
    RedisServer* owner = set_->node_by_port(set_->owner_of_slot(ClusterSet::slot_of(key)));
    const long long pttl = std::stoll(owner->command({"PTTL", key}));
    EXPECT_GT(pttl, 50'000) << key;
    EXPECT_LE(pttl, 60'000) << key;
  }
  auto removed = client->del(keys);
  ASSERT_TRUE(removed.ok()) << removed.error().to_string();
  EXPECT_EQ(*removed, 300);
  EXPECT_EQ(dbsize_of_masters(*set_), 40);
  // The async form takes the same path.
  auto f = client->mget_async(std::vector<std::string>{"ttl:1", "ttl:2", "nope"});
  auto got = f.get();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)[0], std::optional<std::string>("t"));
  EXPECT_FALSE((*got)[2].has_value());
}

TEST_F(ClusterMigration, AMovedSlotIsFollowedAndLearned) {
  auto client = make_client(cluster_config(*set_));
  ASSERT_NE(client, nullptr);
  const std::string key = "moving:{m1}";
  const int slot = ClusterSet::slot_of(key);
  ASSERT_TRUE(client->set(key, "before").ok());
  const int from = set_->owner_of_slot(slot);
  int to = 0;
  for (int p : set_->master_ports()) {
    if (p != from) to = p;
  }
  ASSERT_TRUE(set_->move_slot(slot, to));
  // The client's map still names `from`: the first call meets MOVED and goes on at once.
  EXPECT_EQ(client->get(key).value(), std::optional<std::string>("before"));
  ASSERT_TRUE(client->set(key, "after").ok());
  EXPECT_EQ(set_->node_by_port(to)->command({"GET", key}), "after");
  EXPECT_EQ(client->get(key).value(), std::optional<std::string>("after"));
  ASSERT_TRUE(set_->move_slot(slot, from));  // as it was, for the other tests
  EXPECT_EQ(client->get(key).value(), std::optional<std::string>("after"));
}

TEST_F(ClusterMigration, AskDuringAMigrationReachesTheKeyWhereverItIs) {
  auto client = make_client(cluster_config(*set_));
  ASSERT_NE(client, nullptr);
  const std::string moved = "ask:{a1}:moved", stayed = "ask:{a1}:stayed";
  const int slot = ClusterSet::slot_of(moved);
  ASSERT_TRUE(client->set(moved, "m").ok());
  ASSERT_TRUE(client->set(stayed, "s").ok());
  const int from = set_->owner_of_slot(slot);
  int to = 0;
  for (int p : set_->master_ports()) {
    if (p != from) to = p;
  }
  ASSERT_TRUE(set_->begin_migration(slot, to));
  ASSERT_TRUE(set_->migrate_keys(slot, to, {moved}));
  // `moved` is on the importing node now: the source answers ASK, the client follows it.
  EXPECT_EQ(client->get(moved).value(), std::optional<std::string>("m"));
  EXPECT_EQ(client->get(stayed).value(), std::optional<std::string>("s"));
  ASSERT_TRUE(client->set(moved, "m2").ok());
  RedisConnection target(to);
  target.run({"ASKING"});
  EXPECT_EQ(target.run({"GET", moved}), "m2");
  // A new key of the slot during the migration: the source has no such key, so ASK too.
  ASSERT_TRUE(client->set("ask:{a1}:new", "n").ok());
  EXPECT_EQ(client->get("ask:{a1}:new").value(), std::optional<std::string>("n"));
  ASSERT_TRUE(set_->migrate_keys(slot, to, {stayed}));
  ASSERT_TRUE(set_->finish_migration(slot, to));
  EXPECT_EQ(client->get(stayed).value(), std::optional<std::string>("s"));
  EXPECT_EQ(client->get(moved).value(), std::optional<std::string>("m2"));
  ASSERT_TRUE(set_->move_slot(slot, from));
}

TEST_F(ClusterShared, DeletePatternRemovesExactlyTheMatchingKeysOnEveryMaster) {
  auto client = make_client(cluster_config(*set_));
  ASSERT_NE(client, nullptr);
  constexpr int kKeys = 100'000;
  for (int batch = 0; batch < kKeys / 1000; ++batch) {
    Client::Pairs pairs;
    for (int i = batch * 1000; i < (batch + 1) * 1000; ++i) {
      pairs.emplace_back((i % 2 == 0 ? "dp:even:" : "dp:odd:") + std::to_string(i), "x");
    }
    auto r = client->mset(pairs);
    ASSERT_TRUE(r.ok()) << batch << ": " << r.error().to_string();
  }
  ASSERT_EQ(dbsize_of_masters(*set_), kKeys);
  for (int port : set_->master_ports()) {  // every master holds some of them
    EXPECT_GT(std::stoll(set_->node_by_port(port)->command({"DBSIZE"})), kKeys / 5);
  }
  auto removed = client->delete_pattern("dp:even:*");
  ASSERT_TRUE(removed.ok()) << removed.error().to_string();
  EXPECT_EQ(*removed, static_cast<std::uint64_t>(kKeys / 2));
  EXPECT_EQ(dbsize_of_masters(*set_), kKeys / 2);
  EXPECT_EQ(on_owner(*set_, "dp:odd:99999"), "x");
  EXPECT_EQ(on_owner(*set_, "dp:even:99998"), "(nil)");
  EXPECT_EQ(client->delete_pattern("dp:even:*").value(), 0u);
}

TEST_F(ClusterShared, UrlSeedsKeylessCommandsHealthAndStatus) {
  std::string url = "redis+cluster://";
  const auto seeds = set_->seeds();
  url += seeds[0] + "," + seeds[1];
  auto cfg = Config::from_url(url);
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  EXPECT_EQ(cfg->cluster_nodes.size(), 2u);
  cfg->log_level = LogLevel::off;
  auto client = make_client(*cfg);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->set("url:k", "v").ok());
  EXPECT_TRUE(client->ping().ok());
  auto pong = client->command({"PING"});
  ASSERT_TRUE(pong.ok());
  EXPECT_EQ(pong->str, "PONG");
  auto got = client->command({"GET", "url:k"});  // the raw form is routed by its key too
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->str, "v");
  const Health h = client->health();
  EXPECT_EQ(h.status, Health::Status::ok) << h.reason;
  EXPECT_EQ(h.pool.via, "cluster");
  EXPECT_EQ(h.pool.ready, 3 * cfg->pool_size);
  EXPECT_FALSE(Config::from_url("redis+cluster://").ok());
  EXPECT_THAT(Config::from_url("redis+cluster://127.0.0.1:7000/3").error().message,
              HasSubstr("db"));
}

TEST(Cluster, NoReachableSeedIsAClearStartUpError) {
  Config c;
  c.cluster_nodes = {"127.0.0.1:" + std::to_string(free_port())};
  c.connect_timeout = 300ms;
  c.degraded_mode = DegradedMode::fail_fast;
  c.log_level = LogLevel::off;
  auto client = Client::create(c);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().code, Errc::connection) << client.error().to_string();
  c.degraded_mode = DegradedMode::disabled;
  auto disabled = Client::create(c);
  ASSERT_TRUE(disabled.ok());
  auto r = (*disabled)->get("k");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::disabled);
}

// A master killed under 8 threads of load: no wrong value ever, and calls on its slots work again
// soon after its replica is promoted.
TEST(ClusterFailover, KillingAMasterUnderLoadRecoversOnItsReplica) {
  ClusterSet::Options o;
  o.replicas_per_master = 1;
  auto set = ClusterSet::start(o);
  ASSERT_NE(set, nullptr);
  Config c = cluster_config(*set);
  c.deadline = 1s;
  c.command_timeout = 500ms;
  auto client = make_client(c);
  ASSERT_NE(client, nullptr);
  const int victim = set->port(0);
  // Keys of the victim's slots, one range per thread.
  constexpr int kThreads = 8;
  std::vector<std::string> keys;
  for (int i = 0; keys.size() < kThreads * 4; ++i) {
    std::string k = "fo:" + std::to_string(i);
    if (set->owner_of_slot(ClusterSet::slot_of(k)) == victim) keys.push_back(k);
  }
  std::atomic<bool> stop{false};
  std::atomic<long> wrong{0}, ok{0}, failed{0};
  std::atomic<long long> last_ok_ns{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::map<std::string, int> written;  // last value acknowledged per key
      for (long n = 1; !stop.load() && n < 10'000'000; ++n) {
        const std::string& key = keys[t * 4 + n % 4];
        const std::string value = key + "#" + std::to_string(n);
        if (client->set(key, value).ok()) written[key] = static_cast<int>(n);
        auto r = client->get(key);
        if (!r.ok()) {
          failed.fetch_add(1);
          continue;
        }
        ok.fetch_add(1);
        last_ok_ns.store(std::chrono::steady_clock::now().time_since_epoch().count());
        // A value of another key, or garbage, is wrong; an older value of this key may follow a
        // failover (Redis replicates asynchronously), a newer one may not exist.
        if (r->has_value()) {
          const std::string& v = **r;
          const auto hash = v.find('#');
          if (hash == std::string::npos || v.substr(0, hash) != key ||
              std::stol(v.substr(hash + 1)) > n) {
            wrong.fetch_add(1);
          }
        }
      }
    });
  }
  std::this_thread::sleep_for(500ms);
  const long before = ok.load();
  EXPECT_GT(before, 100);
  const auto killed = std::chrono::steady_clock::now();
  set->node(0).kill9();
  const int promoted = set->wait_failover(victim, 20s);
  const auto promoted_at = std::chrono::steady_clock::now();
  ASSERT_NE(promoted, 0);
  // Recovered: calls on the victim's slots succeed again.
  const long at_promotion = ok.load();
  auto recovered_at = promoted_at;
  while (ok.load() < at_promotion + 50 && std::chrono::steady_clock::now() < promoted_at + 10s) {
    std::this_thread::sleep_for(5ms);
  }
  recovered_at = std::chrono::steady_clock::now();
  stop = true;
  for (auto& th : threads) th.join();
  const auto ms = [](auto d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  std::printf(
      "failover: promoted %lld ms after kill -9, calls served again %lld ms after promotion\n",
      static_cast<long long>(ms(promoted_at - killed)),
      static_cast<long long>(ms(recovered_at - promoted_at)));
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GE(ok.load(), at_promotion + 50) << "calls did not recover within 10 s of the promotion";
  EXPECT_LT(recovered_at - promoted_at, 5s);
  EXPECT_GT(failed.load(), 0);  // the kill was felt (calls during the failover failed)
  // The new master has what the client wrote after the failover.
  ASSERT_TRUE(client->set(keys[0], "final").ok());
  EXPECT_EQ(set->node_by_port(promoted)->command({"GET", keys[0]}), "final");
}

}  // namespace
}  // namespace rcache::test
