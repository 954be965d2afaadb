// The cluster router's per-call state and its pure helpers (routing a wire, ASKING, finding a
// redirection, putting split replies back together).
//
// Thread safety: a Call is touched by one thread at a time (the caller, then the loop thread);
// the helpers are pure.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "metrics/metrics.hpp"
#include "protocol/cluster.hpp"
#include "resilience/cluster_router.hpp"
#include "transport/request.hpp"

namespace rcache::detail {

struct ClusterRouter::Call {
  std::shared_ptr<const std::string> wire;
  std::shared_ptr<const std::string> asking_wire;  // with_asking(wire), made at the first ASK
  std::uint32_t asking_extra = 0;
  std::uint32_t replies = 1;
  const char* name = "";
  bool idempotent = true;
  Op op = Op::other;
  int slot = -1;                // -1: no key
  ClusterNode* node = nullptr;  // set: this node, whatever the slot (a broadcast's part)
  bool read_only = false;
  int redirects = 0;
  TimePoint deadline{};
  Completion done;
};

// Where a wire goes: the slot of its first key (-1 without a key), whether its keys span several
// slots, and whether it can then be split (one MGET/DEL/UNLINK/EXISTS/TOUCH/MSET, or a MULTI ...
// EXEC whose commands each name keys of one slot).
struct Routing {
  int slot = -1;
  bool cross_slot = false;
  bool splittable = false;
  bool read_only = false;  // every command of it only reads (it may go to a replica)
  // One command for the whole keyspace (FLUSHALL, FLUSHDB, DBSIZE, KEYS, SCRIPT LOAD/FLUSH): it
  // goes to every master.
  bool broadcast = false;
};
// A command that changes nothing (GET, MGET, EXISTS, PTTL, HGETALL, ...).
bool read_only_command(std::string_view name) noexcept;
Result<Routing> route_of(std::string_view wire);

// `wire` for the importing node of an ASK: ASKING counts for the next command only, so it goes
// before each command (a MULTI ... EXEC needs one: Redis keeps it for the transaction).
// `extra`: the replies it adds (one per ASKING).
struct AskingWire {
  std::shared_ptr<const std::string> wire;
  std::uint32_t extra = 1;
};
AskingWire with_asking(const std::string& wire);
// Drops the ASKING replies of an outcome of with_asking(): the first reply when extra == 1,
// else every other one starting with the first.
void strip_asking(Outcome& o, std::uint32_t extra);

// The first MOVED/ASK among an outcome's replies.
std::optional<Redirect> find_redirect(const Outcome& o);

// One slot's share of a split call: the indexes (of keys, pairs or commands) it carries, in the
// caller's order, and its wire.
struct SplitPart {
  std::uint16_t slot = 0;
  ClusterNode* node = nullptr;  // set: sent to this node (a broadcast), not by slot
  std::vector<std::size_t> items;
  std::string wire;
  std::uint32_t replies = 1;
};
enum class SplitKind { values, count, ok, transaction, first, concat };
struct SplitPlan {
  SplitKind kind = SplitKind::values;
  std::size_t total = 0;  // keys (values, count), pairs (ok) or commands (transaction)
  std::vector<SplitPart> parts;
};
Result<SplitPlan> plan_split(std::string_view wire);
// A broadcast wire as one part per master (`slots`: one slot of each): DBSIZE's counts are
// summed, KEYS' arrays put end to end, anything else answers with the first master's reply
// when no master answered an error.
SplitPlan plan_broadcast(std::string_view wire, const std::vector<std::uint16_t>& slots,
                         const std::vector<ClusterNode*>& nodes = {});
// The parts' outcomes (in plan order) as one outcome shaped like the unsplit command's: an
// error, or a reply that is not the expected shape, is the first such part's outcome as it is.
Outcome merge_split(const SplitPlan& plan, std::vector<Outcome>&& parts);

}  // namespace rcache::detail
