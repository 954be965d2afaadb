// The shape of a Redis Cluster as this client sees it: the slot map and a pool per node.
//
//   nodes      one ClusterNode (and one Pool of pool_size connections) per address ever named
//              by a seed or a slot map; it lives until the client ends (a node that left the map
//              keeps its pool, reconnecting on the backoff schedule while it is away), so a
//              ClusterNode* stays valid and the set is bounded by the addresses the cluster used.
//   map        CLUSTER SLOTS, asked of the nodes in turn (masters that have a connection first,
//              then the others, then the seeds) until one answers with every slot served; a
//              partial answer is kept only while there is no map at all. A map is replaced only
//              by a valid answer: the client is never left without one.
//   refresh    on a signal from the layer above (MOVED, READONLY, CLUSTERDOWN, a connection
//              error or timeout to a node) and every cluster_refresh_interval. One at a time; a
//              signal during one runs another after it; at most one per
//              cluster_refresh_min_interval (a later signal is held until then).
//   MOVED      moved() changes one slot's owner at once (the next call goes straight there) and
//              asks for a refresh, since a MOVED usually means more has changed.
//
// Thread safety: view() and the Reachability side from any thread; the rest on the transport's
// loop thread (start() is posted there). A view is immutable: readers keep it as long as they
// like.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "protocol/cluster.hpp"
#include "rcache/config.hpp"
#include "topology/slot_map.hpp"
#include "transport/reachability.hpp"
#include "transport/transport.hpp"

namespace rcache::detail {

struct ClusterNode {
  NodeAddress address;
  std::string name;      // "host:port"
  Pool* pool = nullptr;  // owned by the Transport
  // The layer above's state for this node (the router's executor), set by the new-node callback
  // before the node appears in any view.
  void* above = nullptr;
};

// One published map: the slots and, for each of the map's node indexes, its ClusterNode.
struct ClusterView {
  SlotMap map;
  std::vector<ClusterNode*> nodes;  // null for a replica when reads never go to replicas
  std::uint64_t version = 0;
  // The node serving `slot`, or nullptr (no owner).
  ClusterNode* master_of(std::uint16_t slot) const noexcept {
    const auto i = map.master_of(slot);
    return i == SlotMap::kNone ? nullptr : nodes[i];
  }
};

class ClusterTopology final : public Reachability {
 public:
  // Runs on the loop thread for every node made, before it is used or published.
  using NewNode = std::function<void(ClusterNode&)>;
  // cfg.cluster_nodes must be set (validated). Every reference must outlive this object, which
  // must outlive the transport's loop thread. on_available: a node's pool reached its node.
  ClusterTopology(const Config& cfg, const Logger& logger, const ClockSource& clock,
                  Transport& transport, NewNode on_new_node,
                  std::function<void(ClusterNode&)> on_available);
  ClusterTopology(const ClusterTopology&) = delete;
  ClusterTopology& operator=(const ClusterTopology&) = delete;

  // Loop thread (post it): the seeds' pools and the first map.
  void start();
  // The current map; nullptr until the first one.
  std::shared_ptr<const ClusterView> view() const {
    std::lock_guard lock(view_mu_);
    return view_;
  }
  // Loop thread: read the map again (see the header comment). `why` is for the log.
  void refresh(const std::string& why);
  // Any thread. Requests made while one is posted and has not run join it.
  void request_refresh(std::string why);
  // Loop thread: a MOVED said `slot` is served by `to` now. Returns the node.
  ClusterNode& moved(std::uint16_t slot, const NodeAddress& to);
  // Loop thread: the node at `address`, made (with its pool) if it is new.
  ClusterNode& node(const NodeAddress& address);
  // Start-up: waits until the first map is in and each of its masters has a ready connection
  // or failed once, or every node asked failed, within `limit`. True if a master is ready (the
  // others' slots then fail as in an outage of that master, and the rest of the cluster serves).
  bool wait_ready(std::chrono::milliseconds limit);
  // The masters' pools added up; endpoint: the seeds, via "cluster", discovery_error.
  PoolStatus status() const;
  std::uint64_t refreshes() const noexcept { return refreshes_.load(std::memory_order_relaxed); }
  std::string discovery_error() const {
    std::lock_guard lock(view_mu_);
    return discovery_error_;
  }
  // The code of the most telling failure of the last refresh that failed (Errc::tls, auth, ...
  // before connection); Errc::connection when none has.
  Errc discovery_code() const {
    std::lock_guard lock(view_mu_);
    return discovery_code_;
  }

  // Reachability: the masters of the current map taken together (ready: the fewest ready
  // connections of any master, 0 while one has none or there is no map).
  std::size_t ready() const noexcept override;
  Error last_error() const override;
  std::string last_error_text() const override;
  std::string where() const override { return where_; }
  void set_probing(bool on) noexcept override;

 private:
  void ask(std::size_t i);
  void on_slots(std::size_t i, ClusterNode* node, Outcome&& o);
  void read_slots(std::size_t i, ClusterNode* node, Outcome&& o);
  void done(bool ok, const std::string& why);
  void install(SlotMap map, const std::string& from);
  void schedule_periodic();
  std::vector<ClusterNode*> candidates() const;

  const Config& cfg_;
  const Logger& logger_;
  const ClockSource& clock_;
  Transport& transport_;
  NewNode on_new_node_;
  std::function<void(ClusterNode&)> on_available_;
  const std::string where_;

  // Loop thread.
  std::deque<ClusterNode> nodes_;  // stable addresses
  std::vector<ClusterNode*> seeds_;
  std::vector<ClusterNode*> asking_;  // the nodes one refresh asks, in turn
  std::optional<SlotMap> partial_;    // the best partial answer of this refresh
  std::string partial_from_;
  std::string failures_;  // the most telling answer of the nodes asked in this refresh
  Errc failure_code_ = Errc::connection;
  std::string failed_first_;                // the node that gave it
  std::vector<std::string> failed_others_;  // the other nodes that failed
  bool in_flight_ = false;
  bool again_ = false;
  bool held_ = false;  // a refresh is scheduled for the end of the min interval
  std::string again_why_;
  TimePoint last_start_{};
  std::uint64_t version_ = 0;

  mutable std::mutex view_mu_;
  std::shared_ptr<const ClusterView> view_;  // guarded by view_mu_
  std::string discovery_error_;              // guarded by view_mu_
  Errc discovery_code_ = Errc::connection;   // guarded by view_mu_
  std::vector<Pool*> all_pools_;             // guarded by view_mu_ (for set_probing)
  bool first_done_ = false;                  // guarded by view_mu_: the first refresh ended
  std::condition_variable first_cv_;
  std::atomic<bool> probing_{false};
  std::atomic<bool> requested_{false};  // a request_refresh() is posted and has not run yet
  std::atomic<std::uint64_t> refreshes_{0};
};

}  // namespace rcache::detail
