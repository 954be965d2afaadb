// Runs a call on a Redis Cluster: the key's slot picks the master, whose own Executor (its
// breaker, bulkhead, retries) runs it; redirections and node failures are handled here.
//
//   route      the first key of the call's first command (protocol/cluster.hpp's key table)
//              gives the slot; a call without a key goes to the masters in turn.
//   MOVED      the map learns the slot's new master (ClusterTopology::moved) and the call goes
//              on there at once: for the node's breaker and the retry budget a redirection is an
//              answer, not a failure. ASK sends ASKING and the call to the importing node once.
//              At most Config::cluster_max_redirects per call, all within the call's deadline.
//   TRYAGAIN, CLUSTERDOWN, READONLY
//              retried by the node's executor with backoff within the deadline (transient
//              words); CLUSTERDOWN and READONLY also make the map be read again.
//   failures   a connection error or timeout to a node makes the map be read again; if the map
//              already names another master for the slot, the call goes on there (an idempotent
//              call, or one that was never sent).
//   split      MGET, DEL, UNLINK, EXISTS, TOUCH and MSET whose keys hash to several slots are
//              sent as one command per slot, in parallel, and their replies put back together in
//              the caller's order (counts summed). mset with a TTL (MULTI + SET PX... + EXEC) is
//              one transaction per slot: all-or-nothing holds per slot, not across slots.
//   broadcast  FLUSHALL, FLUSHDB, DBSIZE, KEYS, SCRIPT LOAD and SCRIPT FLUSH go to every master
//              (DBSIZE summed, KEYS put end to end); any other keyless command to one master,
//              the masters in turn.
//
// Thread safety: execute() and executors() from any thread; the rest on the loop thread.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "metrics/metrics.hpp"
#include "rcache/config.hpp"
#include "rcache/status.hpp"
#include "resilience/availability.hpp"
#include "resilience/dispatcher.hpp"
#include "resilience/executor.hpp"
#include "topology/cluster.hpp"
#include "transport/transport.hpp"

namespace rcache::detail {

struct SplitPlan;

class ClusterRouter final : public Dispatcher {
 public:
  // Every reference must outlive the router, which must outlive the loop thread.
  ClusterRouter(const Config& cfg, const Logger& logger, Metrics& metrics,
                Availability& availability, const ClockSource& clock, Transport& transport,
                CircuitBreaker::Listener on_breaker_change, std::function<void()> on_available);
  ClusterRouter(const ClusterRouter&) = delete;
  ClusterRouter& operator=(const ClusterRouter&) = delete;

  // Posts the topology's start to the loop thread.
  void start();
  [[nodiscard]] Result<void> execute(Command&& cmd, Completion&& done) override;
  // Runs `cmd` on `node` as it is (no routing; a MOVED is the caller's to handle).
  [[nodiscard]] Result<void> execute_on(ClusterNode& node, Command&& cmd, Completion&& done);
  ClusterTopology& topology() noexcept { return topology_; }
  const ClusterTopology& topology() const noexcept { return topology_; }

  struct NodeExecutor {
    std::string name;
    Executor* executor;
  };
  // Every node's executor so far (breakers for health and control).
  std::vector<NodeExecutor> executors() const;
  // The executors of the current map's masters (whose breakers say how the cluster is served).
  std::vector<Executor*> master_executors() const;
  // The current map's masters (and replicas with a node), for health().
  std::vector<NodeHealth> node_health() const;
  // Redirections followed: MOVED (ask false) or ASK.
  std::uint64_t redirections(bool ask) const noexcept {
    return (ask ? asks_ : moves_).load(std::memory_order_relaxed);
  }

 private:
  struct Call;
  struct Merge;
  struct NodeState {
    std::unique_ptr<Sender> sender;
    std::unique_ptr<Executor> executor;
    std::string name;
  };
  void make_node_state(ClusterNode& node);
  Result<void> send(const std::shared_ptr<Call>& call, ClusterNode& node, bool asking);
  void on_outcome(const std::shared_ptr<Call>& call, ClusterNode& node, bool asking, Outcome&& o);
  Result<void> route(const std::shared_ptr<Call>& call, const ClusterView& view);
  Result<void> split(const std::shared_ptr<const std::string>& wire, const Command& meta,
                     bool read_only, Completion& done);
  Result<void> broadcast(const std::shared_ptr<const std::string>& wire, const Command& meta,
                         const ClusterView& view, Completion& done);
  Result<void> run_split(SplitPlan plan, const Command& meta, bool read_only, Completion& done,
                         const ClusterView& view);
  // A replica of `master` for a read, per Config::read_from, or `master` itself.
  ClusterNode* reader(const ClusterView& view, int slot, ClusterNode* master);
  bool serves_slots(const ClusterNode& n) const;
  ClusterNode* any_master(const ClusterView& view);

  const Config& cfg_;
  const Logger& logger_;
  Metrics& metrics_;
  Availability& availability_;
  const ClockSource& clock_;
  Transport& transport_;
  CircuitBreaker::Listener on_breaker_change_;
  ClusterTopology topology_;
  mutable std::mutex states_mu_;
  std::deque<NodeState> states_;  // guarded by states_mu_ (appended on the loop thread)
  std::atomic<std::size_t> next_master_{0};
  std::atomic<std::size_t> next_reader_{0};
  std::atomic<std::uint64_t> moves_{0}, asks_{0};
};

}  // namespace rcache::detail
