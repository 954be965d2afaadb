// A Redis Cluster for integration tests: N masters and R replicas per master, all real
// redis-server processes on free loopback ports (127.0.0.1 only), stopped (by pid) with the set.
//
// The cluster is built by hand, not by redis-cli: CLUSTER SET-CONFIG-EPOCH (distinct epochs, so
// no collision round), CLUSTER ADDSLOTSRANGE (redis-cli's even split), CLUSTER MEET between every
// pair, CLUSTER REPLICATE. Every node runs with --cluster-announce-ip 127.0.0.1,
// --repl-diskless-sync-delay 0 and --cluster-replica-validity-factor 0 (a replica always fails
// over, however long its link was down). A master refuses cluster_state:ok during its first 2 s
// (CLUSTER_WRITABLE_DELAY in Redis), so start() takes a little over 2 s whatever is done.
//
// Failures are reported on stderr (prefix "cluster set:"); nothing throws.
// Thread safety: one owner thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "redis_server.hpp"

namespace rcache::test {

// A TCP port p on 127.0.0.1 such that p and its cluster bus port p + 10000 were both free a
// moment ago, p + 10000 <= 65535, and neither is p or p + 10000 of a port in `taken`. Picked
// below the kernel's ephemeral range when it can be (so free_port() and outgoing connections do
// not race for it); 0 if none was found.
int free_cluster_port(const std::vector<int>& taken = {});

class ClusterSet {
 public:
  struct Options {
    int masters = 3;
    int replicas_per_master = 0;
    int node_timeout_ms = 1000;
    std::vector<std::string> extra_args;  // for every node
    // Non-empty: every node also listens with TLS on its own port (this certificate and key;
    // clients are not asked for one) and the cluster bus (tls-cluster) and replication
    // (tls-replication) run over TLS; the bus port stays port() + 10000 (--cluster-port). Redis
    // then names the TLS ports to a client on a TLS connection (CLUSTER SLOTS, CLUSTER NODES,
    // MOVED, ASK) and the plain ports to a plaintext one: the set's own checks, on the plain
    // ports, see the plain ports as without TLS.
    std::string tls_cert_file, tls_key_file, tls_ca_file;
    // Required with TLS: the certificate the nodes show as clients (tls-client-cert-file), signed
    // by tls_ca_file with extendedKeyUsage clientAuth. Redis 7.0 always asks a node dialling its
    // cluster bus for a certificate, whatever tls-auth-clients says, and OpenSSL refuses one
    // made for serverAuth only ("certificate verify failed": the nodes never meet).
    std::string tls_client_cert_file, tls_client_key_file;
  };

  static constexpr int kSlots = 16384;

  // Ready when every node reports cluster_state:ok and knows every other node, all 16384 slots
  // are assigned, every node agrees on the slot owners and on each master's replicas (CLUSTER
  // SLOTS) and every replica is in sync; nullptr (reason and the nodes' log tails on stderr) if
  // not within 30 s. Stops (by pid) everything it started when it is destroyed or fails.
  static std::unique_ptr<ClusterSet> start(const Options& options);
  static std::unique_ptr<ClusterSet> start() { return start(Options{}); }
  ~ClusterSet();  // stops replicas first, then masters
  ClusterSet(const ClusterSet&) = delete;
  ClusterSet& operator=(const ClusterSet&) = delete;

  std::size_t size() const { return nodes_.size(); }          // nodes started (masters + replicas)
  RedisServer& node(std::size_t i) { return *nodes_.at(i); }  // in start order: masters first
  int port(std::size_t i) const { return nodes_.at(i)->port(); }
  RedisServer* node_by_port(int port);  // nullptr if not one of ours
  const Options& options() const { return options_; }
  std::vector<std::string> seeds() const;  // "127.0.0.1:port" of every node started (even dead)
  bool tls() const { return !options_.tls_cert_file.empty(); }
  int tls_port(std::size_t i) const { return nodes_.at(i)->tls_port(); }  // 0 without TLS
  std::vector<std::string> tls_seeds() const;  // "127.0.0.1:tls_port" of every node started

  // Queries of the live cluster. A node is live when its process runs (RedisServer::running());
  // a paused node counts as live but does not answer (each query waits at most 500 ms for it).
  std::vector<int> master_ports() const;  // live nodes whose own CLUSTER NODES says master
  int owner_of_slot(int slot) const;      // master serving `slot` by most live nodes' CLUSTER
                                          // SLOTS; 0 if none answers or the slot is unassigned
  std::string node_id(int port) const;    // CLUSTER MYID (known from start; stable across
                                          // restart() since nodes.conf is kept); "" if unknown
  int replica_of(int master_port) const;  // a live replica of that master, 0 if none

  // Manual slot migration (deterministic MOVED/ASK tests), from the slot's current owner to
  // `to_port` (a master). Each returns false (reason on stderr) on any error reply.
  bool begin_migration(int slot, int to_port);  // IMPORTING on the target, then MIGRATING on
                                                // the source
  // MIGRATE ... KEYS from the source to the target; every key must hash to `slot`. A key that is
  // not on the source (NOKEY) counts as moved. With TLS, to the target's TLS port (a node of a
  // tls-cluster MIGRATEs over TLS).
  bool migrate_keys(int slot, int to_port, const std::vector<std::string>& keys);
  // CLUSTER SETSLOT slot NODE <target> on the target, the source, then every other live master;
  // then waits (at most 5 s) until every live node's CLUSTER SLOTS names the target. Before the
  // target claims the slot (and bumps its config epoch) every live node must agree on the
  // cluster's current epoch, and after it every node must have heard the target's new epoch:
  // otherwise a slot moved back at once can be claimed with an epoch lower than the one it left
  // with, and a late gossip message from the old owner splits the cluster's view for good.
  bool finish_migration(int slot, int to_port);
  // All three, moving every key of the slot (CLUSTER GETKEYSINSLOT in rounds of 100). True at
  // once if `to_port` already owns the slot.
  bool move_slot(int slot, int to_port);

  // After kill -9 (or pause) of a master: waits until one other master owns every slot the old
  // one had (as last seen by the set or by a live node), the live nodes other than the old one
  // agree on all owners and report cluster_state:ok; the new owner's port, 0 on timeout.
  int wait_failover(int old_master_port, std::chrono::milliseconds limit) const;
  // cluster_state:ok and 16384 slots assigned on every live node, all live nodes agree on the
  // slot owners (CLUSTER SLOTS) and every live replica's link is up and not syncing.
  bool wait_ok(std::chrono::milliseconds limit) const;

  // Hash slot of a key as Redis computes it (CRC16/XMODEM of the {hash tag} or the whole key),
  // computed here so that tests do not rely on the client under test.
  static int slot_of(std::string_view key);
  // A key ("<prefix><n>", smallest n) that hashes to `slot`; "" if slot is out of range.
  static std::string key_in_slot(int slot, std::string_view prefix = "key:");

 private:
  ClusterSet() = default;
  enum class Check { kStart, kOk };
  bool build(std::chrono::steady_clock::time_point deadline);
  bool ready(Check check, std::chrono::steady_clock::time_point deadline,
             std::string& reason) const;
  bool live(std::size_t i) const;
  // Waits until every live node's cluster_current_epoch is at least `floor` and they all agree;
  // returns that epoch, or -1 (reason on stderr) after `limit`.
  long long wait_epochs(long long floor, std::chrono::milliseconds limit) const;
  void report_nodes() const;
  std::string id_for(int port) const;

  Options options_;
  std::vector<std::unique_ptr<RedisServer>> nodes_;  // masters first, then replicas
  std::vector<std::string> ids_;                     // CLUSTER MYID, same order
  mutable std::vector<int> owner_cache_;             // slot -> port, last agreed view
};

}  // namespace rcache::test
