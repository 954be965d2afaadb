// Sentinel against real processes: 1 master + 1 replica + 3 sentinels (tests/support/
// sentinel_set.hpp), down-after-milliseconds 1000.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "fake_server.hpp"
#include "fixtures.hpp"
#include "sentinel_set.hpp"
#include "test_pki.hpp"

namespace rcache::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

Config sentinel_config(const SentinelSet& set) {
  Config c;
  c.sentinels = set.sentinel_addresses();
  c.sentinel_master = set.master_name();
  c.command_timeout = kRelaxedTimeout;
  c.deadline = 2 * kRelaxedTimeout;
  c.log_level = LogLevel::off;
  return c;
}

TEST(Sentinel, RoundTripsThroughDiscoveryAndHealthNamesTheMaster) {
  auto set = SentinelSet::start();
  ASSERT_NE(set, nullptr);
  auto client = make_client(sentinel_config(*set));
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->set("where", "master").ok());
  EXPECT_EQ(client->get("where").value(), std::optional<std::string>("master"));
  // It went to the master the sentinels name (the replica has it only through replication).
  EXPECT_EQ(set->master().command({"GET", "where"}), "master");
  const PoolStatus p = client->pool_status();
  EXPECT_EQ(p.endpoint, "127.0.0.1:" + std::to_string(set->master().port()));
  EXPECT_THAT(p.via, HasSubstr("sentinel 127.0.0.1:"));
  const std::string health = client->health().to_json();
  EXPECT_THAT(health, HasSubstr("\"status\":\"ok\""));
  EXPECT_THAT(health, HasSubstr("\"via\":\"sentinel 127.0.0.1:"));
}

TEST(Sentinel, AWrongMasterNameIsAClearConfigurationError) {
  SentinelSet::Options one;
  one.sentinels = 1;
  auto set = SentinelSet::start(one);
  ASSERT_NE(set, nullptr);
  Config c = sentinel_config(*set);
  c.sentinel_master = "nosuchmaster";
  auto client = make_client(c);
  ASSERT_NE(client, nullptr);
  auto r = client->get("k");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_argument) << r.error().to_string();
  EXPECT_THAT(r.error().message, HasSubstr("monitors no master named 'nosuchmaster'"));

  c.degraded_mode = DegradedMode::fail_fast;
  auto refused = Client::create(c);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.error().message, HasSubstr("nosuchmaster"));
}

TEST(Sentinel, ADownSentinelIsSkippedAndAllDownKeepsTheKnownMaster) {
  auto set = SentinelSet::start();
  ASSERT_NE(set, nullptr);
  set->sentinel(0).kill9();  // the first one listed
  auto client = make_client(sentinel_config(*set));
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->set("k", "v").ok());
  EXPECT_THAT(client->pool_status().via,
              HasSubstr(std::to_string(set->sentinel(1).port()) + ""));  // 1 or 2 answered
  for (std::size_t i = 1; i < set->sentinel_count(); ++i) set->sentinel(i).kill9();
  // Calls keep working on the master it knows; health says the lookup is failing.
  bool degraded = false;
  for (int i = 0; i < 100 && !degraded; ++i) {
    ASSERT_TRUE(client->set("k", std::to_string(i)).ok());
    // The periodic refresh (5 s) or a failed pool connection finds every sentinel gone.
    const Health h = client->health();
    degraded = h.status == Health::Status::degraded &&
               h.reason.find("no sentinel gave the address") != std::string::npos;
    if (!degraded) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(degraded) << client->health().to_json();
  EXPECT_TRUE(client->get("k").ok());
  // Counted for metrics (rcache_discovery_failures_total); no failover happened.
  const Stats st = client->stats();
  EXPECT_GE(st.discovery_failures, 1u);
  EXPECT_EQ(st.master_switches, 0u);
  EXPECT_THAT(st.to_json(), HasSubstr("\"discovery_failures\":"));
}

// kill -9 of the master under 8 threads: calls succeed again once the replica is promoted; no
// thread ever reads a value it did not write last (or a still older one of its own).
TEST(Sentinel, KillNineOfTheMasterUnderLoadFollowsThePromotion) {
  auto set = SentinelSet::start();
  ASSERT_NE(set, nullptr);
  Config c = sentinel_config(*set);
  c.reconnect_backoff_max = 200ms;
  auto client = make_client(c);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->set("warm", "up").ok());
  const int old_port = set->master().port();

  std::atomic<bool> stop{false};
  std::atomic<long> ok{0}, failed{0}, wrong{0};
  std::atomic<std::int64_t> last_ok_ns{0};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> load;
  for (int t = 0; t < 8; ++t) {
    load.emplace_back([&, t] {
      const std::string key = "thread:" + std::to_string(t);
      long attempted = -1;
      for (long i = 0; !stop.load() && i < 10'000'000; ++i) {
        // A SET that failed may still have run (its reply lost with the connection): what counts
        // is what was sent, not what was acknowledged.
        attempted = i;
        (void)client->set(key, std::to_string(i));
        auto r = client->get(key);
        if (!r.ok()) {
          failed.fetch_add(1);
          continue;
        }
        ok.fetch_add(1);
        last_ok_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::steady_clock::now() - t0)
                         .count();
        // Only this thread writes its key: the value is one it sent, never a newer one. (A
        // failover may lose its last writes: older values are allowed.)
        if (r->has_value() && std::stol(**r) > attempted) wrong.fetch_add(1);
      }
    });
  }
  std::this_thread::sleep_for(300ms);
  const auto killed_at = std::chrono::steady_clock::now();
  set->master().kill9();
  const bool promoted = set->wait_failover(old_port, 20s);
  const auto promoted_at = std::chrono::steady_clock::now();
  // Back: a call succeeds after the kill.
  bool back = false;
  std::chrono::steady_clock::time_point back_at{};
  for (int i = 0; i < 400 && !back; ++i) {
    if (client->set("after", "failover").ok()) {
      back = true;
      back_at = std::chrono::steady_clock::now();
    } else {
      std::this_thread::sleep_for(50ms);
    }
  }
  std::this_thread::sleep_for(300ms);
  stop = true;
  for (auto& t : load) t.join();
  const auto ms = [](auto d) {
    return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  };
  std::printf(
      "[ figures  ] sentinel kill -9 of the master, 8 threads: promoted %ld ms after the kill, "
      "client serving %ld ms after the kill (%ld ms after the promotion); %ld ok, %ld failed, "
      "%ld wrong\n",
      ms(promoted_at - killed_at), ms(back_at - killed_at), ms(back_at - promoted_at), ok.load(),
      failed.load(), wrong.load());
  ASSERT_TRUE(promoted);
  ASSERT_TRUE(back);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LT(back_at - promoted_at, 5s);  // generous: a few hundred ms here
  EXPECT_EQ(client->pool_status().endpoint,
            "127.0.0.1:" + std::to_string(set->master_port_by_sentinels()));
  EXPECT_EQ(client->pool_status().master_switches, 1u);             // one failover, followed once
  EXPECT_EQ(set->replica().command({"GET", "after"}), "failover");  // the promoted replica

  // The old master comes back as it was (a master, empty: no persistence) and accepts writes
  // until Sentinel demotes it; none of this client's may land there.
  ASSERT_TRUE(set->master().restart());
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(client->set("post:" + std::to_string(i), "v").ok());
    std::this_thread::sleep_for(5ms);
  }
  const std::string role = set->master().command({"ROLE"});
  if (role.rfind("master", 0) == 0) {
    EXPECT_EQ(set->master().command({"DBSIZE"}), "0") << "a write landed on the old master";
  } else {
    std::printf("[ note     ] the old master was demoted before the check (role: %s)\n",
                role.substr(0, role.find('\n')).c_str());
  }
}

// A planned failover (SENTINEL FAILOVER): +switch-master moves the pool, calls keep working.
TEST(Sentinel, APlannedFailoverIsFollowedWithoutFailedCalls) {
  auto set = SentinelSet::start();
  ASSERT_NE(set, nullptr);
  Config c = sentinel_config(*set);
  c.deadline = 3s;  // a planned switch pauses writes briefly (the old master is demoted first)
  c.command_timeout = 1s;
  std::mutex mu;
  std::vector<std::string> warnings;
  c.log_level = LogLevel::warning;
  c.log_sink = [&](LogLevel l, std::string_view m) {
    std::lock_guard lock(mu);
    if (l >= LogLevel::warning) warnings.emplace_back(m);
  };
  auto client = make_client(c);
  ASSERT_NE(client, nullptr);
  const int old_port = set->master().port();
  ASSERT_TRUE(client->set("k", "0").ok());
  // Writes from before the switch until well after it.
  std::atomic<bool> stop{false};
  std::atomic<long> done{0}, failed{0};
  std::string first_failure;
  std::thread writer([&] {
    for (long i = 1; !stop.load() && i < 1'000'000; ++i) {
      auto r = client->set("k", std::to_string(i));
      if (!r.ok()) {
        if (failed.fetch_add(1) == 0) first_failure = r.error().to_string();
      } else {
        done = i;
      }
      std::this_thread::sleep_for(2ms);
    }
  });
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(set->sentinel(0).command({"SENTINEL", "FAILOVER", set->master_name()}), "OK");
  const bool switched = set->wait_failover(old_port, 20s);
  std::this_thread::sleep_for(1s);
  stop = true;
  writer.join();
  ASSERT_TRUE(switched);
  // A call caught by the switch itself may fail (the old master refuses writes once demoted,
  // before the new one is known); the pool must not stay on the old master.
  EXPECT_LE(failed.load(), 5) << "first failure: " << first_failure;
  const bool moved = eventually(5s, [&] {
    return client->pool_status().endpoint == "127.0.0.1:" + std::to_string(set->replica().port());
  });
  EXPECT_TRUE(moved) << client->pool_status().endpoint;
  EXPECT_EQ(set->replica().command({"GET", "k"}), std::to_string(done.load()));
  const Stats st = client->stats();
  std::printf(
      "[ figures  ] planned failover under writes: %ld ok, %ld failed, %llu breaker "
      "transitions, %llu retries\n",
      done.load(), failed.load(), static_cast<unsigned long long>(st.breaker_transitions),
      static_cast<unsigned long long>(st.retries));
  EXPECT_EQ(st.breaker_transitions, 0u);  // a failover the new master answers is not a trip
  std::lock_guard lock(mu);
  EXPECT_THAT(warnings, ::testing::Contains(
                            HasSubstr("master moved from 127.0.0.1:" + std::to_string(old_port))));
}

// Sentinels listed first that answer garbage, or an endless reply, are skipped within bounded
// memory; the real one answers.
TEST(Sentinel, HostileSentinelsAreSkippedWithinBoundedMemory) {
  SentinelSet::Options one;
  one.sentinels = 1;
  auto set = SentinelSet::start(one);
  ASSERT_NE(set, nullptr);
  FakeServer::Script garbage;
  garbage.greeting = "+OK\r\n";  // CLIENT SETNAME
  garbage.payload = "HTTP/1.1 400 Bad Request\r\n\r\n";
  FakeServer bad(garbage);
  FakeServer::Script endless;
  endless.greeting = "+OK\r\n";
  endless.stream_prefix = "*2\r\n$1000000000\r\n";  // a bulk string that never ends
  endless.payload = std::string(64 * 1024, 'x');
  endless.endless = true;
  FakeServer flood(endless);
  Config c = sentinel_config(*set);
  c.sentinels = {"127.0.0.1:" + std::to_string(bad.port()),
                 "127.0.0.1:" + std::to_string(flood.port()), c.sentinels[0]};
  c.max_value_size = 1 << 20;  // the reply budget of every link: 2 MiB
  c.connect_timeout = 3s;
  std::mutex mu;
  std::vector<std::string> lines;
  c.log_level = LogLevel::debug;
  c.log_sink = [&](LogLevel, std::string_view m) {
    std::lock_guard lock(mu);
    lines.emplace_back(m);
  };
  const PeakRss rss;
  auto client = make_client(c);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(eventually(10s, [&] { return client->set("k", "v").ok(); }));
  EXPECT_EQ(set->master().command({"GET", "k"}), "v");
  EXPECT_THAT(client->pool_status().via, HasSubstr(std::to_string(set->sentinel(0).port())));
  EXPECT_LT(rss.grown_kib(), 64 * 1024) << "kiB";
  std::lock_guard lock(mu);
  const auto said = [&](const std::string& what) {
    for (const auto& l : lines) {
      if (l.find(what) != std::string::npos) return true;
    }
    return false;
  };
  // Both were really asked and refused for what they sent.
  EXPECT_TRUE(said(std::to_string(bad.port()))) << "the garbage sentinel was not asked";
  EXPECT_TRUE(said("reply budget")) << "the endless sentinel was not cut off";
}

// Sentinels and data nodes on TLS only for this client: discovery, the ROLE-checked data
// connections and the +switch-master subscription all run over verified TLS.
TEST(Sentinel, OverTlsDiscoveryAndAFailoverAreFollowed) {
  TestPki pki;
  const auto id = pki.issue("server", {});
  SentinelSet::Options o;
  o.tls_cert_file = id.cert_file;
  o.tls_key_file = id.key_file;
  o.tls_ca_file = pki.ca_file();
  auto set = SentinelSet::start(o);
  ASSERT_NE(set, nullptr);
  Config c = sentinel_config(*set);
  c.tls = true;
  c.tls_ca_file = pki.ca_file();
  c.deadline = 3s;
  c.command_timeout = 1s;
  auto client = make_client(c);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->set("k", "tls").ok());
  EXPECT_EQ(set->master().command({"GET", "k"}), "tls");
  const PoolStatus p = client->pool_status();
  EXPECT_EQ(p.endpoint, "127.0.0.1:" + std::to_string(set->master().tls_port()));
  EXPECT_GE(p.tls_handshakes, c.pool_size + 2);  // the pool, the query and the subscriber links

  const int old_port = set->master().tls_port();
  EXPECT_EQ(set->sentinel(0).command({"SENTINEL", "FAILOVER", set->master_name()}), "OK");
  ASSERT_TRUE(set->wait_failover(old_port, 20s));
  EXPECT_TRUE(eventually(10s, [&] {
    return client->pool_status().endpoint ==
               "127.0.0.1:" + std::to_string(set->replica().tls_port()) &&
           client->set("k", "after").ok();
  })) << client->pool_status().endpoint;
  EXPECT_EQ(set->replica().command({"GET", "k"}), "after");
}

}  // namespace
}  // namespace rcache::test
