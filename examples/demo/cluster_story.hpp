// What --cluster adds to the demo's run: the layout, which master phase 2 kills, watching its
// replica take over and the killed node come back as a replica (asking the nodes), the lines
// about them, and the table that splits each phase by keys: the killed master's, the others'.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <rcache/resilience.hpp>
#include <string>
#include <vector>

#include "cluster_process.hpp"
#include "timeline.hpp"

namespace demo {

// Thread safety: one owner thread (the demo's main thread); its watches run on their own threads
// and only touch the Timeline (thread-safe).
class ClusterStory {
 public:
  static constexpr int kKilled = 0, kOthers = 1;  // the Timeline's groups

  // weights[i]: the share of the requests for id i (the load's Zipf); the key of id i is
  // key_of(i). The master killed is the one whose slots get the largest share of the requests.
  ClusterStory(RedisCluster& cluster, Timeline& timeline, const std::vector<double>& weights,
               const std::function<std::string(int)>& key_of);
  ClusterStory(const ClusterStory&) = delete;
  ClusterStory& operator=(const ClusterStory&) = delete;

  void print_layout() const;
  int group_of(int id) const;  // kKilled or kOthers

  // From now on until finish(): the worst breaker of the current masters (Client::breaker_state()),
  // sampled every 10 ms, goes to the timeline. (on_breaker_change would mix in the dead node's
  // breaker, which stays open after its slots have moved to the promoted replica.)
  void watch_breaker(std::function<rcache::BreakerState()> state);

  // get(id): a GET of id's key through the service's rcache client, true when Redis answered it
  // (a value or a miss). After the promotion it is tried every 10 ms on the hottest key of the
  // killed master's slots: its first success says when rcache served those slots again.
  void probe_with(std::function<bool(int id)> get) { get_ = std::move(get); }

  void kill();     // phase 2 begins: kill -9 the master, watch for its replica's promotion
  void restart();  // phase 3 begins: the killed node again, watch for it to rejoin as a replica
  void report();   // each second: prints what the watches saw since the last call
  void finish();   // the end of the load: waits for the watches (bounded), reports the rest

  // After the main table: the same phases split by keys, then what the failover cost.
  void print_tables(const std::vector<Phase>& phases) const;
  std::string result_fields() const;  // " cluster=1 promoted_after_s=..." for the RESULT line

 private:
  const Shard& victim() const { return cluster_.shards()[victim_]; }
  double since_kill(Poll::Clock::time_point t) const;

  RedisCluster& cluster_;
  Timeline& timeline_;
  std::size_t victim_ = 0;
  std::vector<int> group_;               // by id
  std::vector<int> ids_per_shard_;       // how many of the ids each master holds
  std::vector<double> share_per_shard_;  // of the requests
  Poll::Clock::time_point killed_at_{}, restarted_at_{};
  std::function<bool(int)> get_;
  int probe_id_ = -1;  // the hottest id on the killed master's slots
  std::unique_ptr<Poll> promotion_, probe_, rejoin_, breaker_;
  bool promotion_told_ = false, probe_told_ = false, recovery_told_ = false, rejoin_told_ = false;
  double promoted_after_ = -1;      // s from the kill to the promotion
  double served_again_after_ = -1;  // s from the promotion to the probe's first success
  double load_after_ = -1;          // s from the promotion to the load's first answer from Redis
  double rejoined_after_ = -1;      // s from the restart to the node in sync as a replica
};

}  // namespace demo
