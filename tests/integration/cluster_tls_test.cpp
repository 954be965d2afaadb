// Redis Cluster over TLS, with the server verified: every node listens with TLS, the cluster bus
// and replication run over TLS (ClusterSet's TLS options), and a client given one TLS seed learns
// every node's TLS port from CLUSTER SLOTS asked over TLS (Redis 7 names the TLS ports to a TLS
// client and the plain ports to a plaintext one). The checks ask the nodes directly on their
// plain ports, never through the client under test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <set>
#include <thread>

#include "cluster_set.hpp"
#include "fixtures.hpp"
#include "test_pki.hpp"

namespace rcache::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::string at(int port) {
  return "127.0.0.1:" + std::to_string(port);
}

// Two clusters, started at once (each spends ~2 s in Redis' CLUSTER_WRITABLE_DELAY):
// - by_ip_: 3 masters with a replica each; the certificates name IP:127.0.0.1 (and
//   DNS:localhost), so nodes dialled by the IP that CLUSTER SLOTS gives verify as they are.
// - by_name_: 3 masters; the certificates name DNS:localhost only.
class ClusterTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new TestPki();
    const TestPki::Issued ip_cert = pki_->issue("node-ip", {});
    TestPki::Spec name_only;
    name_only.ips = {};
    const TestPki::Issued name_cert = pki_->issue("node-name", name_only);
    TestPki::Spec client;
    client.client = true;
    const TestPki::Issued bus_cert = pki_->issue("node-client", client);  // for the cluster bus
    const auto with_tls = [&](ClusterSet::Options& o, const TestPki::Issued& id) {
      o.tls_cert_file = id.cert_file;
      o.tls_key_file = id.key_file;
      o.tls_ca_file = pki_->ca_file();
      o.tls_client_cert_file = bus_cert.cert_file;
      o.tls_client_key_file = bus_cert.key_file;
    };
    ClusterSet::Options a;
    a.replicas_per_master = 1;
    with_tls(a, ip_cert);
    ClusterSet::Options b;
    with_tls(b, name_cert);
    auto started_b = std::async(std::launch::async, [b] { return ClusterSet::start(b); });
    by_ip_ = ClusterSet::start(a).release();
    by_name_ = started_b.get().release();
  }
  static void TearDownTestSuite() {
    delete by_ip_;
    delete by_name_;
    delete pki_;
    by_ip_ = by_name_ = nullptr;
    pki_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(by_ip_, nullptr);
    ASSERT_NE(by_name_, nullptr);
  }

  static Config tls_config(std::vector<std::string> seeds) {
    Config c;
    c.cluster_nodes = std::move(seeds);
    c.tls = true;
    c.tls_ca_file = pki_->ca_file();
    c.command_timeout = kRelaxedTimeout;
    c.connect_timeout = kRelaxedTimeout;
    c.deadline = kRelaxedTimeout;
    c.log_level = LogLevel::off;
    return c;
  }
  // "127.0.0.1:<TLS port>" of the set's masters (the first `masters` nodes) or of its replicas.
  static std::set<std::string> tls_addresses(const ClusterSet& set, bool masters) {
    const auto m = static_cast<std::size_t>(set.options().masters);
    std::set<std::string> out;
    for (std::size_t i = masters ? 0 : m; i < (masters ? m : set.size()); ++i) {
      out.insert(at(set.tls_port(i)));
    }
    return out;
  }
  // The value of `key` on the node that owns its slot, asked directly (plain port).
  static std::string on_owner(ClusterSet& set, const std::string& key) {
    RedisServer* owner = set.node_by_port(set.owner_of_slot(ClusterSet::slot_of(key)));
    return owner == nullptr ? std::string("(no owner)") : owner->command({"GET", key});
  }

  static TestPki* pki_;
  static ClusterSet* by_ip_;
  static ClusterSet* by_name_;
};
TestPki* ClusterTls::pki_ = nullptr;
ClusterSet* ClusterTls::by_ip_ = nullptr;
ClusterSet* ClusterTls::by_name_ = nullptr;

TEST_F(ClusterTls, OneTlsSeedLearnsEveryMastersTlsPortAndServesEverySlotRange) {
  auto cfg = Config::from_url("rediss+cluster://" + at(by_ip_->tls_port(0)) +
                              "?ssl_ca_certs=" + pki_->ca_file());
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  cfg->command_timeout = cfg->connect_timeout = cfg->deadline = kRelaxedTimeout;
  cfg->log_level = LogLevel::off;
  auto client = make_client(*cfg);
  ASSERT_NE(client, nullptr);
  for (int slot : {0, 1, 5460, 5461, 10922, 10923, 16383}) {
    const std::string key = ClusterSet::key_in_slot(slot, "tls:");
    ASSERT_TRUE(client->set(key, "v" + std::to_string(slot)).ok()) << key;
  }
  std::set<int> owners;
  for (int slot : {0, 1, 5460, 5461, 10922, 10923, 16383}) {
    const std::string key = ClusterSet::key_in_slot(slot, "tls:");
    EXPECT_EQ(client->get(key).value(), std::optional<std::string>("v" + std::to_string(slot)));
    EXPECT_EQ(on_owner(*by_ip_, key), "v" + std::to_string(slot)) << "slot " << slot;
    owners.insert(by_ip_->owner_of_slot(slot));
  }
  EXPECT_EQ(owners.size(), 3u);  // every master was written to

  // Multi-key calls split by slot, each part over its master's TLS pool, put back in order.
  Client::Pairs pairs;
  std::vector<std::string> keys;
  for (int i = 0; i < 60; ++i) {
    pairs.emplace_back("tls:m:" + std::to_string(i), "value-" + std::to_string(i));
    keys.push_back("tls:m:" + std::to_string(i));
  }
  ASSERT_TRUE(client->mset(pairs).ok());
  keys.insert(keys.begin() + 30, "tls:m:absent");
  auto values = client->mget(keys);
  ASSERT_TRUE(values.ok()) << values.error().to_string();
  ASSERT_EQ(values->size(), keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (keys[i] == "tls:m:absent") {
      EXPECT_FALSE((*values)[i].has_value());
    } else {
      EXPECT_EQ((*values)[i], std::optional<std::string>("value-" + keys[i].substr(6))) << keys[i];
    }
  }
  for (int i : {0, 29, 59}) {
    EXPECT_EQ(on_owner(*by_ip_, "tls:m:" + std::to_string(i)), "value-" + std::to_string(i));
  }

  // Every master is known by its TLS port: CLUSTER SLOTS over TLS named the TLS ports (had it
  // named the plain ones, the pools would dial them with TLS and never be ready). The client
  // serves once one master answers; the rest of each pool connects in the background.
  EXPECT_TRUE(eventually(std::chrono::milliseconds(5000),
                         [&] { return client->pool_status().ready >= 3 * cfg->pool_size; }));
  const Health h = client->health();
  EXPECT_EQ(h.status, Health::Status::ok) << h.reason;
  EXPECT_EQ(h.pool.via, "cluster");
  EXPECT_EQ(h.pool.ready, 3 * cfg->pool_size);
  ASSERT_EQ(h.nodes.size(), 3u) << h.to_json();
  std::set<std::string> addresses;
  std::size_t slots = 0;
  for (const auto& n : h.nodes) {
    EXPECT_EQ(n.role, "master");
    EXPECT_EQ(n.ready, cfg->pool_size) << n.address;
    EXPECT_EQ(n.breaker, BreakerState::closed);
    EXPECT_EQ(n.last_error, "") << n.address;
    addresses.insert(n.address);
    slots += n.slots;
  }
  EXPECT_EQ(addresses, tls_addresses(*by_ip_, true));
  EXPECT_EQ(slots, 16384u);
  const PoolStatus p = client->pool_status();
  EXPECT_EQ(p.ready, 3 * cfg->pool_size);
  EXPECT_EQ(p.down, 0u);
  // The server side agrees: the client's connection arrived on a master's TLS port.
  auto who = client->command({"CLIENT", "INFO"});
  ASSERT_TRUE(who.ok()) << who.error().to_string();
  const auto laddr = who->str.find("laddr=");
  ASSERT_NE(laddr, std::string::npos) << who->str;
  const std::string local = who->str.substr(laddr + 6, who->str.find(' ', laddr) - laddr - 6);
  EXPECT_TRUE(tls_addresses(*by_ip_, true).count(local) == 1) << local;
}

// Redis' own links run over TLS too: the replicas replicate over TLS (tls-replication) and are
// named by their TLS ports; reads sent to them go over TLS.
TEST_F(ClusterTls, ReplicasAreReachedByTheirTlsPortsForReads) {
  Config c = tls_config({at(by_ip_->tls_port(0))});
  c.read_from = ReadFrom::prefer_replica;
  auto client = make_client(c);
  ASSERT_NE(client, nullptr);
  const std::string key = "tls:replica:{r1}";
  ASSERT_TRUE(client->set(key, "v").ok());
  RedisServer* master = by_ip_->node_by_port(by_ip_->owner_of_slot(ClusterSet::slot_of(key)));
  ASSERT_NE(master, nullptr);
  RedisServer* replica = by_ip_->node_by_port(by_ip_->replica_of(master->port()));
  ASSERT_NE(replica, nullptr);
  EXPECT_THAT(replica->command({"INFO", "replication"}),
              HasSubstr("master_port:" + std::to_string(master->tls_port())));
  EXPECT_EQ(master->command({"WAIT", "1", "2000"}), "1");  // the replica has the write
  ASSERT_TRUE(eventually(5s, [&] {
    std::size_t ready = 0;
    for (const auto& n : client->health().nodes) ready += n.role == "replica" && n.ready > 0;
    return ready == 3;
  })) << client->health().to_json();
  const auto gets = [](RedisServer& node) -> long long {
    const std::string info = node.command({"INFO", "commandstats"});
    const auto pos = info.find("cmdstat_get:calls=");
    return pos == std::string::npos ? 0 : std::stoll(info.substr(pos + 18));
  };
  const long long before = gets(*replica);
  for (int i = 0; i < 20; ++i) {
    auto r = client->get(key);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(*r, std::optional<std::string>("v"));
  }
  EXPECT_EQ(gets(*replica) - before, 20);
  const Health h = client->health();
  EXPECT_EQ(h.status, Health::Status::ok) << h.reason;
  std::set<std::string> masters, replicas;
  for (const auto& n : h.nodes) (n.role == "master" ? masters : replicas).insert(n.address);
  EXPECT_EQ(masters, tls_addresses(*by_ip_, true));
  EXPECT_EQ(replicas, tls_addresses(*by_ip_, false));
}

// pool_status() (and so health(), stats() and rcache_tls_handshakes_total) counts the TLS
// handshakes of every node's pool, as it does for a single server.
TEST_F(ClusterTls, PoolStatusCountsTheTlsHandshakesOfEveryNode) {
  Config c = tls_config({at(by_ip_->tls_port(0))});
  auto client = make_client(c);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->set("tls:count", "x").ok());
  // The client serves once one master is reachable; the other nodes' connections (and their
  // handshakes) come up in the background: wait for them, bounded.
  EXPECT_TRUE(eventually(std::chrono::milliseconds(5000),
                         [&] { return client->pool_status().ready >= 3 * c.pool_size; }));
  const PoolStatus p = client->pool_status();
  ASSERT_EQ(p.ready, 3 * c.pool_size);
  EXPECT_GE(p.tls_handshakes, 3 * c.pool_size) << client->health().to_json();
  EXPECT_EQ(client->stats().tls_handshakes, p.tls_handshakes);
}

// The nodes' certificates signed by a CA the client does not trust: start-up and every call
// name the certificate problem, and the client is not ok.
TEST_F(ClusterTls, AnUntrustedCaNamesTheCertificateProblem) {
  TestPki stranger("stranger CA");
  Config c = tls_config(by_ip_->tls_seeds());
  c.tls_ca_file = stranger.ca_file();
  c.degraded_mode = DegradedMode::fail_fast;
  auto refused = Client::create(c);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.error().message, HasSubstr("does not trust"));
  EXPECT_THAT(refused.error().message, HasSubstr("rcache test CA"));  // the nodes' issuer

  c.degraded_mode = DegradedMode::disabled;
  auto client = make_client(c);
  ASSERT_NE(client, nullptr);
  auto r = client->get("k");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("does not trust"));
  const Health h = client->health();
  EXPECT_NE(h.status, Health::Status::ok);
  EXPECT_THAT(h.reason, HasSubstr("does not trust"));
}

// ... and, as with one server (README "TLS"), it is a configuration error: Errc::tls, at start-up
// with fail_fast and from every call in the default mode - not `connection` / `disabled`.
TEST_F(ClusterTls, AnUntrustedCaIsErrcTlsAtStartUpAndInCalls) {
  TestPki stranger("stranger CA");
  Config c = tls_config(by_ip_->tls_seeds());
  c.tls_ca_file = stranger.ca_file();
  c.degraded_mode = DegradedMode::fail_fast;
  auto refused = Client::create(c);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::tls) << refused.error().to_string();

  c.degraded_mode = DegradedMode::disabled;
  auto client = make_client(c);
  ASSERT_NE(client, nullptr);
  auto r = client->get("k");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::tls) << r.error().to_string();
}

// Certificates with DNS names only, the cluster announcing IPs: a seed dialled by name verifies,
// but the nodes CLUSTER SLOTS names are dialled by IP and do not - a clear TLS error saying what
// to set. tls_server_name then pins the name for every node, including those learned from the
// map and those a MOVED points to.
TEST_F(ClusterTls, NodesLearnedByIpNeedTlsServerNameWhenCertificatesNameHosts) {
  Config by_host = tls_config({"localhost:" + std::to_string(by_name_->tls_port(0))});
  by_host.degraded_mode = DegradedMode::fail_fast;
  auto refused = Client::create(by_host);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::tls) << refused.error().to_string();
  EXPECT_THAT(refused.error().message, HasSubstr("has no IP address '127.0.0.1'"));
  EXPECT_THAT(refused.error().message, HasSubstr("tls_server_name"));

  Config pinned = tls_config({at(by_name_->tls_port(0))});
  pinned.tls_server_name = "localhost";
  auto client = make_client(pinned);
  ASSERT_NE(client, nullptr);
  std::set<int> owners;
  for (int slot : {0, 8000, 16383}) {
    const std::string key = ClusterSet::key_in_slot(slot, "pin:");
    ASSERT_TRUE(client->set(key, "p").ok()) << key;
    EXPECT_EQ(on_owner(*by_name_, key), "p") << key;
    owners.insert(by_name_->owner_of_slot(slot));
  }
  EXPECT_EQ(owners.size(), 3u);
  EXPECT_TRUE(eventually(std::chrono::milliseconds(5000),
                         [&] { return client->pool_status().ready >= 3 * pinned.pool_size; }));
  const Health h = client->health();
  EXPECT_EQ(h.status, Health::Status::ok) << h.reason;
  EXPECT_EQ(h.pool.ready, 3 * pinned.pool_size);
  std::set<std::string> addresses;
  for (const auto& n : h.nodes) addresses.insert(n.address);
  EXPECT_EQ(addresses, tls_addresses(*by_name_, true));

  // A slot moved (its key MIGRATEd over TLS): the MOVED reply, read over TLS, names the new
  // owner's TLS port, and the call goes on there.
  const std::string key = "pin:{moving}";
  const int slot = ClusterSet::slot_of(key);
  ASSERT_TRUE(client->set(key, "before").ok());
  const int from = by_name_->owner_of_slot(slot);
  int to = 0;
  for (int port : by_name_->master_ports()) {
    if (port != from) to = port;
  }
  ASSERT_NE(to, 0);
  ASSERT_TRUE(by_name_->move_slot(slot, to));
  EXPECT_EQ(by_name_->node_by_port(to)->command({"GET", key}), "before");
  EXPECT_EQ(client->get(key).value(), std::optional<std::string>("before"));
  EXPECT_EQ(client->stats().cluster.moved, 1u);
  ASSERT_TRUE(client->set(key, "after").ok());
  EXPECT_EQ(by_name_->node_by_port(to)->command({"GET", key}), "after");
}

}  // namespace
}  // namespace rcache::test
