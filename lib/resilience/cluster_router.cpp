// The cluster router: slot routing, redirections, failures that move a slot.
#include "resilience/cluster_router.hpp"

#include "protocol/cluster.hpp"
#include "protocol/resp.hpp"
#include "resilience/cluster_call.hpp"
#include "resilience/verdict.hpp"

namespace rcache::detail {

ClusterRouter::ClusterRouter(const Config& cfg, const Logger& logger, Metrics& metrics,
                             Availability& availability, const ClockSource& clock,
                             Transport& transport, CircuitBreaker::Listener on_breaker_change,
                             std::function<void()> on_available)
    : cfg_(cfg),
      logger_(logger),
      metrics_(metrics),
      availability_(availability),
      clock_(clock),
      transport_(transport),
      on_breaker_change_(std::move(on_breaker_change)),
      topology_(
          cfg, logger, clock, transport, [this](ClusterNode& n) { make_node_state(n); },
          [this, on_available = std::move(on_available)](ClusterNode& n) {
            // This node's pool reached it: its own breaker (no other node's) may probe at once,
            // and, if it serves slots (or no map is known yet), the degraded modes recover: a
            // replica that reads may go to does not make a client without masters "enabled".
            if (on_available && serves_slots(n)) on_available();
            if (n.above != nullptr) static_cast<NodeState*>(n.above)->executor->on_reachable();
          }) {}

bool ClusterRouter::serves_slots(const ClusterNode& n) const {
  auto v = topology_.view();
  if (v == nullptr) return true;
  for (auto m : v->map.masters()) {
    if (v->nodes[m] == &n) return true;
  }
  return false;
}

void ClusterRouter::start() {
  transport_.post([this] { topology_.start(); });
}

void ClusterRouter::make_node_state(ClusterNode& node) {
  std::lock_guard lock(states_mu_);
  NodeState& s = states_.emplace_back();
  s.name = node.name;
  s.sender = transport_.sender_for(*node.pool);
  s.executor = std::make_unique<Executor>(cfg_, *s.sender, availability_, metrics_, clock_, logger_,
                                          node.name, on_breaker_change_);
  s.executor->set_on_wrong_role(
      [this, name = node.name] { topology_.refresh("READONLY from " + name); });
  node.above = &s;
}

std::vector<ClusterRouter::NodeExecutor> ClusterRouter::executors() const {
  std::lock_guard lock(states_mu_);
  std::vector<NodeExecutor> out;
  out.reserve(states_.size());
  for (const auto& s : states_) out.push_back({s.name, s.executor.get()});
  return out;
}

std::vector<Executor*> ClusterRouter::master_executors() const {
  std::vector<Executor*> out;
  if (auto v = topology_.view()) {
    for (auto m : v->map.masters()) {
      if (auto* s = static_cast<NodeState*>(v->nodes[m]->above)) out.push_back(s->executor.get());
    }
  }
  return out;
}

std::vector<NodeHealth> ClusterRouter::node_health() const {
  std::vector<NodeHealth> out;
  auto v = topology_.view();
  if (v == nullptr) return out;
  std::vector<std::size_t> slots(v->nodes.size(), 0);
  for (std::uint32_t s = 0; s < kClusterSlots; ++s) {
    const auto m = v->map.master_of(static_cast<std::uint16_t>(s));
    if (m != SlotMap::kNone && m < slots.size()) ++slots[m];
  }
  for (std::size_t i = 0; i < v->nodes.size(); ++i) {
    const ClusterNode* n = v->nodes[i];
    if (n == nullptr) continue;
    NodeHealth h;
    h.address = n->name;
    h.role = slots[i] > 0 ? "master" : "replica";
    h.slots = slots[i];
    h.ready = n->pool->ready();
    h.last_error = n->pool->last_error_text();
    const auto* s = static_cast<const NodeState*>(n->above);
    const CircuitBreaker* b = s != nullptr ? s->executor->breaker() : nullptr;
    h.breaker = b != nullptr ? b->state() : BreakerState::disabled;
    out.push_back(std::move(h));
  }
  return out;
}

ClusterNode* ClusterRouter::any_master(const ClusterView& view) {
  const auto masters = view.map.masters();
  if (masters.empty()) return nullptr;
  const auto i = next_master_.fetch_add(1, std::memory_order_relaxed) % masters.size();
  return view.nodes[masters[i]];
}

Result<void> ClusterRouter::execute(Command&& cmd, Completion&& done) {
  if (auto refused = availability_.refusal(cmd.name)) return std::move(*refused);
  if (cmd.deadline != TimePoint{} && clock_.now() >= cmd.deadline) {
    return Error{Errc::timeout, std::string(cmd.name) +
                                    ": the call's deadline passed before it "
                                    "was sent; nothing was sent"};
  }
  if (cmd.build) {
    Result<Wire> w = Error{Errc::too_large, std::string(cmd.name) + ": out of memory building it"};
    try {
      w = cmd.build();
    } catch (const std::bad_alloc&) {
    }
    if (!w) return std::move(w).error();
    cmd.wire = std::move(w->bytes);
    cmd.replies = w->replies;
    cmd.build = nullptr;
  }
  auto view = topology_.view();
  if (view == nullptr) {
    topology_.request_refresh("a call and no slot map");
    return Error{topology_.discovery_code(), std::string(cmd.name) + ": no cluster slot map yet" +
                                                 (topology_.discovery_error().empty()
                                                      ? std::string()
                                                      : " (" + topology_.discovery_error() + ")")};
  }
  auto wire = cmd.shared_wire ? std::move(cmd.shared_wire)
                              : std::make_shared<const std::string>(std::move(cmd.wire));
  auto routing = route_of(*wire);
  if (!routing) {
    Error e = std::move(routing).error();
    e.message = std::string(cmd.name) + ": " + e.message;
    return e;
  }
  if (routing->broadcast) return broadcast(wire, cmd, *view, done);
  if (routing->cross_slot && routing->splittable) {
    return split(wire, cmd, routing->read_only, done);
  }
  auto call = std::make_shared<Call>();
  call->wire = std::move(wire);
  call->replies = cmd.replies;
  call->name = cmd.name;
  call->idempotent = cmd.idempotent;
  call->op = cmd.op;
  call->slot = routing->slot;
  call->read_only = routing->read_only;
  call->deadline = cmd.deadline != TimePoint{} ? cmd.deadline : clock_.now() + cfg_.deadline;
  call->done = std::move(done);
  auto r = route(call, *view);
  if (!r) done = std::move(call->done);
  return r;
}

Result<void> ClusterRouter::route(const std::shared_ptr<Call>& call, const ClusterView& view) {
  if (call->node != nullptr) return send(call, *call->node, false);  // a broadcast's part
  ClusterNode* node =
      call->slot >= 0 ? view.master_of(static_cast<std::uint16_t>(call->slot)) : any_master(view);
  if (node != nullptr && call->read_only && cfg_.read_from != ReadFrom::master) {
    ClusterNode* master = node;
    node = reader(view, call->slot, master);
    if (node != master) {
      auto r = send(call, *node, false);
      if (r || !unavailable(r.error())) return r;
      node = master;  // the replica refuses (its breaker, its bulkhead): the master reads too
    }
  }
  if (node == nullptr) {
    topology_.request_refresh("no master for slot " + std::to_string(call->slot));
    return Error{Errc::connection, std::string(call->name) + ": no master serves slot " +
                                       std::to_string(call->slot) + " in the cluster's map"};
  }
  auto r = send(call, *node, false);
  // A master that refuses calls (its breaker is open, its pool is down) may have been replaced:
  // the map is read again, at most once per cluster_refresh_min_interval.
  if (!r && unavailable(r.error())) topology_.request_refresh(node->name + " refuses calls");
  return r;
}

ClusterNode* ClusterRouter::reader(const ClusterView& view, int slot, ClusterNode* master) {
  if (slot < 0) return master;
  const auto m = view.map.master_of(static_cast<std::uint16_t>(slot));
  if (m == SlotMap::kNone) return master;
  ClusterNode* ready[16];
  std::size_t n = 0;
  if (cfg_.read_from == ReadFrom::any) ready[n++] = master;
  for (auto r : view.map.replicas_of(m)) {
    ClusterNode* node = r < view.nodes.size() ? view.nodes[r] : nullptr;
    if (node == nullptr || node->pool->ready() == 0 || n >= std::size(ready)) continue;
    const auto* s = static_cast<const NodeState*>(node->above);
    const CircuitBreaker* b = s != nullptr ? s->executor->breaker() : nullptr;
    const BreakerState st = b != nullptr ? b->state() : BreakerState::closed;
    if (st == BreakerState::open || st == BreakerState::forced_open) continue;  // sick: skip it
    ready[n++] = node;
  }
  if (n == 0) return master;
  return ready[next_reader_.fetch_add(1, std::memory_order_relaxed) % n];
}

Result<void> ClusterRouter::execute_on(ClusterNode& node, Command&& cmd, Completion&& done) {
  auto* state = static_cast<NodeState*>(node.above);
  return state->executor->execute(std::move(cmd), std::move(done));
}

Result<void> ClusterRouter::send(const std::shared_ptr<Call>& call, ClusterNode& node,
                                 bool asking) {
  auto* state = static_cast<NodeState*>(node.above);
  Command c;
  if (asking) {
    if (!call->asking_wire) {
      auto a = with_asking(*call->wire);
      call->asking_wire = std::move(a.wire);
      call->asking_extra = a.extra;
    }
    c.shared_wire = call->asking_wire;
  } else {
    c.shared_wire = call->wire;
  }
  c.replies = call->replies + (asking ? call->asking_extra : 0);
  c.name = call->name;
  c.idempotent = call->idempotent;
  c.op = call->op;
  c.deadline = call->deadline;
  ClusterNode* n = &node;
  return state->executor->execute(std::move(c), [this, call, n, asking](Outcome&& o) {
    on_outcome(call, *n, asking, std::move(o));
  });
}

void ClusterRouter::on_outcome(const std::shared_ptr<Call>& call, ClusterNode& node, bool asking,
                               Outcome&& o) {
  if (asking) strip_asking(o, call->asking_extra);  // the ASKING replies
  auto fail = [&](Error e) {
    Outcome f;
    f.sent = o.sent;
    f.error = std::move(e);
    complete(call->done, std::move(f));
  };
  if (!o.error) {
    if (auto rd = find_redirect(o)) {
      const std::string what = std::string(rd->kind == Redirect::Kind::moved ? "MOVED " : "ASK ") +
                               std::to_string(rd->slot) + " " + rd->host + ":" +
                               std::to_string(rd->port);
      if (++call->redirects > cfg_.cluster_max_redirects) {
        fail(Error{Errc::server, std::string(call->name) + ": more than " +
                                     std::to_string(cfg_.cluster_max_redirects) +
                                     " cluster redirections (last: " + what + " from " + node.name +
                                     ")"});
        return;
      }
      if (clock_.now() >= call->deadline) {
        fail(Error{Errc::timeout, std::string(call->name) +
                                      ": the deadline passed during a redirection (" + what + ")"});
        return;
      }
      (rd->kind == Redirect::Kind::moved ? moves_ : asks_).fetch_add(1, std::memory_order_relaxed);
      const NodeAddress to{rd->host.empty() ? node.address.host : rd->host, rd->port, {}};
      ClusterNode& target =
          rd->kind == Redirect::Kind::moved ? topology_.moved(rd->slot, to) : topology_.node(to);
      if (rd->kind == Redirect::Kind::moved && call->read_only && &target != &node) {
        // A replica sent us on to the master the map already names: it may replicate another
        // master now (a replica migration), which only a new map says.
        topology_.refresh("MOVED from " + node.name);
      }
      if (auto r = send(call, target, rd->kind == Redirect::Kind::ask); !r) {
        fail(std::move(r).error());
      }
      return;
    }
    if (o.reply != nullptr) {
      const auto word = cluster_word(*o.reply);
      if (word == ClusterWord::clusterdown) topology_.refresh("CLUSTERDOWN from " + node.name);
    }
  } else if (o.error->code == Errc::connection || o.error->code == Errc::timeout) {
    topology_.refresh(std::string(call->name) + " failed on " + node.name);
    // The map may already name another master for the slot (a failover it has seen).
    if (call->node == nullptr && call->slot >= 0 && call->redirects < cfg_.cluster_max_redirects &&
        clock_.now() < call->deadline && (call->idempotent || !o.sent)) {
      auto v = topology_.view();
      ClusterNode* owner = v ? v->master_of(static_cast<std::uint16_t>(call->slot)) : nullptr;
      if (owner != nullptr && owner != &node) {
        ++call->redirects;
        if (send(call, *owner, false)) return;
      }
    }
  }
  complete(call->done, std::move(o));
}

}  // namespace rcache::detail
