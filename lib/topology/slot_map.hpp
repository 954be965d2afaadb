// Which node serves which slot of a Redis Cluster: the nodes (masters and their replicas) and the
// master of each of the 16384 slots. Built from the reply to CLUSTER SLOTS, patched by MOVED.
//
// Thread safety: a plain value. Its owner copies it, changes the copy and publishes it whole; a
// const SlotMap may be read by any number of threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/cluster.hpp"
#include "rcache/error.hpp"

namespace rcache::detail {

class SlotMap {
 public:
  static constexpr std::uint16_t kNone = 0xFFFF;  // no node (a node index is always below it)

  struct Node {
    NodeAddress address;
    bool master = false;
  };

  SlotMap() = default;  // empty: no slot served, no node

  // Nodes deduplicated by address: masters first, in order of first appearance, then replicas.
  // A node listed as a master anywhere is a master (never also a replica). A replica serving
  // several ranges of one master is listed once for it. Two masters for one slot ->
  // Errc::protocol "CLUSTER SLOTS: slot N is served by two masters, A and B"; so is a range with
  // first > last or last > 16383.
  static Result<SlotMap> from_ranges(const std::vector<SlotRange>& ranges);

  const std::vector<Node>& nodes() const noexcept { return nodes_; }
  // The index of the master serving `slot`, or kNone (also for slot >= kClusterSlots).
  std::uint16_t master_of(std::uint16_t slot) const noexcept;
  // The indexes of the replicas of node `master` (empty for a replica or an unknown index).
  const std::vector<std::uint16_t>& replicas_of(std::uint16_t master) const;
  // Indexes of the nodes serving at least one slot, in node order.
  std::vector<std::uint16_t> masters() const;
  // Slots with no master.
  std::size_t unserved() const noexcept { return kClusterSlots - served_; }
  std::optional<std::uint16_t> index_of(const NodeAddress& a) const noexcept;

  // A MOVED reply: `slot` is now served by `to`. An unknown node is added as a master; a known
  // replica becomes a master (promoted: it leaves its old master's replica list). Returns the
  // node's index; kNone (and nothing changes) when slot >= kClusterSlots or the node table is full.
  std::uint16_t move_slot(std::uint16_t slot, const NodeAddress& to);

  // Same master address for every slot, same node addresses and roles, same replicas per master
  // (order and node indexes aside): "the topology did not change".
  bool same_layout(const SlotMap& other) const noexcept;

  // Short text for logs: "3 masters, 3 replicas, 16384/16384 slots: 127.0.0.1:7000 [0-5460]
  // (127.0.0.1:7003) 127.0.0.1:7001 [5461-10922] ..." (a master's replicas in parentheses).
  std::string describe() const;

 private:
  std::uint16_t add_node(const NodeAddress& a, bool master);  // kNone when the table is full
  bool same_replicas(std::uint16_t mine, const SlotMap& other, std::uint16_t theirs) const noexcept;

  std::vector<Node> nodes_;
  std::vector<std::vector<std::uint16_t>> replicas_;  // by node index (empty for replicas)
  std::vector<std::uint16_t> owner_;                  // by slot; empty until a slot is served
  std::size_t served_ = 0;                            // slots whose owner is not kNone
};

}  // namespace rcache::detail
