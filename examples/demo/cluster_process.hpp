// The demo's private Redis Cluster (--cluster): three masters with one replica each, every node a
// RedisProcess on 127.0.0.1, and the questions the demo asks the nodes during a failover.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "redis_process.hpp"

namespace demo {

// The hash slot of a key, as Redis Cluster computes it: CRC16/XMODEM of the key (of its {tag}
// when it has a non-empty one) mod 16384.
int key_slot(std::string_view key);

// A master's slots and its replica, as started (a failover swaps the two roles).
struct Shard {
  int first_slot = 0, last_slot = 0;
  int master = 0, replica = 0;  // ports
};

// Built by hand, as redis-cli would but faster: distinct config epochs (CLUSTER
// SET-CONFIG-EPOCH), redis-cli's even split of the slots (ADDSLOTSRANGE), a MEET between every
// pair, then CLUSTER REPLICATE. Every node runs with --cluster-node-timeout 1000 (a dead master
// is failed over in ~2-2.5 s), --cluster-announce-ip 127.0.0.1, --cluster-replica-validity-factor
// 0 (a replica always takes over), --repl-diskless-sync-delay 0, --repl-ping-replica-period 1 and
// --cluster-require-full-coverage no (while a master is down and not yet replaced, the other
// masters go on serving their slots: the default would refuse every call with CLUSTERDOWN).
// Its bus port is port + 10000 (both are picked free). A master refuses cluster_state:ok during
// its first 2 s, so start() takes a little over 2 s whatever is done. Needs redis-server 7.0+.
//
// Thread safety: one owner thread (as RedisProcess); the free functions below can be called from
// any thread.
class RedisCluster {
 public:
  static constexpr int kMasters = 3;
  static constexpr int kBusOffset = 10000;

  // Ready once every node says cluster_state:ok, every node's CLUSTER SLOTS gives the layout
  // built (each master with its replica) and every replica is in sync; nullptr with the reason
  // in `why` if not within 20 s (what it started is stopped).
  static std::unique_ptr<RedisCluster> start(std::string& why);
  ~RedisCluster();  // SIGTERM to every node at once, then each is waited for (by pid, <= 5 s)
  RedisCluster(const RedisCluster&) = delete;
  RedisCluster& operator=(const RedisCluster&) = delete;

  const std::vector<Shard>& shards() const { return shards_; }
  std::string url() const;    // redis+cluster://127.0.0.1:p1,...: every node as a seed
  pid_t pid(int port) const;  // -1 when down or not a node of this cluster
  double start_seconds() const { return start_seconds_; }
  void kill9(int port);
  // The node again on its port and with its nodes.conf; true once it answers PING.
  bool restart(int port);

 private:
  RedisCluster() = default;
  bool build(std::string& why);
  bool ready(std::string& why) const;  // the layout is agreed and replicas are in sync
  RedisProcess* node(int port) const;

  std::vector<std::unique_ptr<RedisProcess>> nodes_;  // the masters, then their replicas
  std::vector<Shard> shards_;
  double start_seconds_ = 0;
};

// Questions to one node (a fresh connection each, at most 500 ms), safe from any thread.
// ROLE: "master", "slave", or "" when the node does not answer; a replica's master port is put in
// *master_port.
std::string node_role(int port, int* master_port = nullptr);
// The master serving `slot` by this node's CLUSTER SLOTS; 0 when it does not say.
int slot_owner(int port, int slot);
// A replica whose link to its master is up and not syncing (INFO replication).
bool replica_in_sync(int port);

// Asks `ready` every 10 ms on a thread of its own until it says true or `limit` has passed, and
// keeps when it first said true. Stops (joins) when destroyed. `ready` must be thread-safe.
class Poll {
 public:
  using Clock = std::chrono::steady_clock;
  Poll(std::function<bool()> ready, std::chrono::milliseconds limit);
  ~Poll();
  Poll(const Poll&) = delete;
  Poll& operator=(const Poll&) = delete;
  bool finished() const { return finished_.load(); }  // it said true, or the time is up
  std::optional<Clock::time_point> when() const;      // when it said true
  void wait() const;                                  // until finished (bounded by `limit`)

 private:
  std::atomic<bool> finished_{false}, stop_{false};
  std::atomic<Clock::rep> when_{-1};
  std::thread thread_;
};

}  // namespace demo
