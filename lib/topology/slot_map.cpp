// The slot map of a Redis Cluster: building it from CLUSTER SLOTS, MOVED patches, comparison.
#include "topology/slot_map.hpp"

#include <algorithm>
#include <utility>

namespace rcache::detail {

namespace {

Error slots_error(const std::string& what) {
  return Error{Errc::protocol, "CLUSTER SLOTS: " + what};
}

void add_unique(std::vector<std::uint16_t>& v, std::uint16_t i) {
  if (std::find(v.begin(), v.end(), i) == v.end()) v.push_back(i);
}

std::string slots_text(std::size_t first, std::size_t last) {
  return first == last ? std::to_string(first) : std::to_string(first) + "-" + std::to_string(last);
}

}  // namespace

std::uint16_t SlotMap::add_node(const NodeAddress& a, bool master) {
  if (nodes_.size() >= kNone) return kNone;
  nodes_.push_back(Node{a, master});
  replicas_.emplace_back();
  return static_cast<std::uint16_t>(nodes_.size() - 1);
}

Result<SlotMap> SlotMap::from_ranges(const std::vector<SlotRange>& ranges) {
  SlotMap map;
  for (const SlotRange& r : ranges) {
    if (r.first > r.last || r.last >= kClusterSlots) {
      return slots_error("bad slot range " + slots_text(r.first, r.last));
    }
    if (!map.index_of(r.master) && map.add_node(r.master, true) == kNone) {
      return slots_error("too many nodes");
    }
  }
  for (const SlotRange& r : ranges) {
    const std::uint16_t m = *map.index_of(r.master);
    for (const NodeAddress& replica : r.replicas) {
      std::optional<std::uint16_t> i = map.index_of(replica);
      if (!i) {
        i = map.add_node(replica, false);
        if (*i == kNone) return slots_error("too many nodes");
      }
      if (!map.nodes_[*i].master) add_unique(map.replicas_[m], *i);
    }
  }
  map.owner_.assign(kClusterSlots, kNone);
  for (const SlotRange& r : ranges) {
    const std::uint16_t m = *map.index_of(r.master);
    for (std::size_t s = r.first; s <= r.last; ++s) {
      const std::uint16_t before = map.owner_[s];
      if (before == m) continue;
      if (before != kNone) {
        return slots_error("slot " + std::to_string(s) + " is served by two masters, " +
                           address_of(map.nodes_[before].address) + " and " + address_of(r.master));
      }
      map.owner_[s] = m;
      ++map.served_;
    }
  }
  return map;
}

std::uint16_t SlotMap::master_of(std::uint16_t slot) const noexcept {
  return slot < owner_.size() ? owner_[slot] : kNone;
}

const std::vector<std::uint16_t>& SlotMap::replicas_of(std::uint16_t master) const {
  static const std::vector<std::uint16_t> kNoReplicas;
  return master < replicas_.size() ? replicas_[master] : kNoReplicas;
}

std::vector<std::uint16_t> SlotMap::masters() const {
  std::vector<bool> serving(nodes_.size(), false);
  for (const std::uint16_t owner : owner_) {
    if (owner != kNone) serving[owner] = true;
  }
  std::vector<std::uint16_t> out;
  for (std::size_t i = 0; i < serving.size(); ++i) {
    if (serving[i]) out.push_back(static_cast<std::uint16_t>(i));
  }
  return out;
}

std::optional<std::uint16_t> SlotMap::index_of(const NodeAddress& a) const noexcept {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].address == a) return static_cast<std::uint16_t>(i);
  }
  return std::nullopt;
}

std::uint16_t SlotMap::move_slot(std::uint16_t slot, const NodeAddress& to) {
  if (slot >= kClusterSlots) return kNone;
  std::uint16_t i = index_of(to).value_or(kNone);
  if (i == kNone) {
    i = add_node(to, true);
    if (i == kNone) return kNone;
  } else if (!nodes_[i].master) {
    nodes_[i].master = true;
    for (auto& list : replicas_) list.erase(std::remove(list.begin(), list.end(), i), list.end());
  }
  if (owner_.empty()) owner_.assign(kClusterSlots, kNone);
  if (owner_[slot] == kNone) ++served_;
  owner_[slot] = i;
  return i;
}

bool SlotMap::same_replicas(std::uint16_t mine, const SlotMap& other,
                            std::uint16_t theirs) const noexcept {
  const auto& a = replicas_[mine];
  const auto& b = other.replicas_[theirs];
  if (a.size() != b.size()) return false;
  return std::all_of(a.begin(), a.end(), [&](std::uint16_t r) {
    return std::any_of(b.begin(), b.end(), [&](std::uint16_t o) {
      return nodes_[r].address == other.nodes_[o].address;
    });
  });
}

bool SlotMap::same_layout(const SlotMap& other) const noexcept {
  if (nodes_.size() != other.nodes_.size() || served_ != other.served_) return false;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const auto j = other.index_of(nodes_[i].address);
    if (!j || other.nodes_[*j].master != nodes_[i].master ||
        !same_replicas(static_cast<std::uint16_t>(i), other, *j)) {
      return false;
    }
  }
  for (std::uint16_t s = 0; s < kClusterSlots; ++s) {
    const std::uint16_t a = master_of(s);
    const std::uint16_t b = other.master_of(s);
    if ((a == kNone) != (b == kNone)) return false;
    if (a != kNone && !(nodes_[a].address == other.nodes_[b].address)) return false;
  }
  return true;
}

std::string SlotMap::describe() const {
  constexpr std::size_t kRangesShown = 6;  // per master; a fragmented map says "+N more"
  std::vector<std::string> ranges(nodes_.size());
  std::vector<std::size_t> counts(nodes_.size(), 0);
  for (std::size_t s = 0; s < owner_.size();) {
    std::size_t end = s;
    while (end + 1 < owner_.size() && owner_[end + 1] == owner_[s]) ++end;
    if (const std::uint16_t owner = owner_[s]; owner != kNone) {
      if (counts[owner]++ < kRangesShown) {
        ranges[owner] += ranges[owner].empty() ? "" : ",";
        ranges[owner] += slots_text(s, end);
      }
    }
    s = end + 1;
  }
  const std::vector<std::uint16_t> serving = masters();
  const auto replica_count =
      std::count_if(nodes_.begin(), nodes_.end(), [](const Node& n) { return !n.master; });
  std::string out = std::to_string(serving.size()) + " masters, " + std::to_string(replica_count) +
                    " replicas, " + std::to_string(served_) + "/" + std::to_string(kClusterSlots) +
                    " slots:";
  for (const std::uint16_t m : serving) {
    out += ' ';
    out += address_of(nodes_[m].address);
    out += " [" + ranges[m];
    if (counts[m] > kRangesShown) out += ",+" + std::to_string(counts[m] - kRangesShown) + " more";
    out += ']';
    if (!replicas_[m].empty()) {
      out += " (";
      for (std::size_t k = 0; k < replicas_[m].size(); ++k) {
        if (k > 0) out += ' ';
        out += address_of(nodes_[replicas_[m][k]].address);
      }
      out += ')';
    }
  }
  return out;
}

}  // namespace rcache::detail
