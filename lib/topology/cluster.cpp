// The cluster's slot map and node pools: discovery, refresh, MOVED.
#include "topology/cluster.hpp"

#include <algorithm>

#include "base/config_text.hpp"
#include "protocol/resp.hpp"

namespace rcache::detail {

namespace {

std::string seeds_text(const Config& cfg) {
  std::string s = "cluster ";
  for (std::size_t i = 0; i < cfg.cluster_nodes.size(); ++i) {
    if (i > 0) s += ',';
    s += cfg.cluster_nodes[i];
  }
  return s;
}

const std::string& slots_wire() {
  static const std::string wire = [] {
    std::string w;
    RespWriter out(w);
    out.begin(2);
    out.arg("CLUSTER");
    out.arg("SLOTS");
    return w;
  }();
  return wire;
}

}  // namespace

ClusterTopology::ClusterTopology(const Config& cfg, const Logger& logger, const ClockSource& clock,
                                 Transport& transport, NewNode on_new_node,
                                 std::function<void(ClusterNode&)> on_available)
    : cfg_(cfg),
      logger_(logger),
      clock_(clock),
      transport_(transport),
      on_new_node_(std::move(on_new_node)),
      on_available_(std::move(on_available)),
      where_(seeds_text(cfg)) {}

void ClusterTopology::start() {
  if (transport_.stopping()) return;
  for (const auto& s : cfg_.cluster_nodes) {
    auto hp = parse_host_port(s, 6379, "cluster_nodes");
    if (!hp) continue;  // validated by Config
    ClusterNode& n = node(NodeAddress{hp->host, hp->port, {}});
    if (std::find(seeds_.begin(), seeds_.end(), &n) == seeds_.end()) seeds_.push_back(&n);
  }
  refresh("start-up");
  schedule_periodic();
}

ClusterNode& ClusterTopology::node(const NodeAddress& address) {
  for (auto& n : nodes_) {
    if (n.address == address) return n;
  }
  ClusterNode& n = nodes_.emplace_back();
  n.address = address;
  n.name = address_of(address);
  n.pool = &transport_.add_pool(
      Target{address.host, address.port}, "cluster",
      [this, at = &n] {
        if (on_available_) on_available_(*at);
      },
      cfg_.read_from != ReadFrom::master);
  n.pool->set_probing(probing_.load());
  {
    std::lock_guard lock(view_mu_);
    all_pools_.push_back(n.pool);
  }
  if (on_new_node_) on_new_node_(n);
  return n;
}

void ClusterTopology::request_refresh(std::string why) {
  if (transport_.on_loop_thread()) {
    refresh(why);
    return;
  }
  if (requested_.exchange(true)) return;
  transport_.post([this, why = std::move(why)] {
    requested_.store(false);
    refresh(why);
  });
}

void ClusterTopology::refresh(const std::string& why) {
  if (transport_.stopping()) return;
  if (in_flight_) {
    if (!again_) again_why_ = why;
    again_ = true;
    return;
  }
  const auto now = clock_.now();
  const auto next = last_start_ + cfg_.cluster_refresh_min_interval;
  if (version_ > 0 && now < next) {
    if (!held_) {
      held_ = true;
      transport_.schedule_after(std::chrono::ceil<std::chrono::microseconds>(next - now),
                                [this, why] {
                                  held_ = false;
                                  refresh(why);
                                });
    }
    return;
  }
  in_flight_ = true;
  last_start_ = now;
  refreshes_.fetch_add(1, std::memory_order_relaxed);
  logger_.event(LogLevel::debug, "cluster_refresh", where_,
                "cluster: reading the slot map (" + why + ")");
  asking_ = candidates();
  partial_.reset();
  partial_from_.clear();
  failures_.clear();
  failed_others_.clear();
  failure_code_ = Errc::connection;
  ask(0);
}

std::vector<ClusterNode*> ClusterTopology::candidates() const {
  std::vector<ClusterNode*> ready, others;
  auto add = [&](ClusterNode* n) {
    if (std::find(ready.begin(), ready.end(), n) != ready.end() ||
        std::find(others.begin(), others.end(), n) != others.end()) {
      return;
    }
    (n->pool->ready() > 0 ? ready : others).push_back(n);
  };
  if (auto v = view()) {
    for (auto m : v->map.masters()) add(v->nodes[m]);
    for (auto* n : v->nodes) {
      if (n != nullptr) add(n);
    }
  }
  for (auto* s : seeds_) add(s);
  ready.insert(ready.end(), others.begin(), others.end());
  return ready;
}

void ClusterTopology::ask(std::size_t i) {
  if (transport_.stopping()) {
    done(false, "client is shutting down");
    return;
  }
  if (i >= asking_.size()) {
    if (partial_) {
      install(std::move(*partial_), partial_from_);
      partial_.reset();
      done(true, {});
    } else {
      std::string why = failures_.empty() ? std::string("no node to ask") : failures_;
      if (!failed_others_.empty()) {
        why += " (also failed: ";
        for (std::size_t k = 0; k < failed_others_.size(); ++k) {
          why += (k > 0 ? ", " : "") + failed_others_[k];
        }
        why += ")";
      }
      done(false, why);
    }
    return;
  }
  ClusterNode* n = asking_[i];
  Request r;
  static const auto wire = std::make_shared<const std::string>(slots_wire());
  r.wire = wire;
  r.name = "CLUSTER SLOTS";
  r.deadline = clock_.now() + cfg_.command_timeout;
  r.pool = n->pool;
  r.done = [this, i, n](Outcome&& o) { on_slots(i, n, std::move(o)); };
  transport_.submit(std::move(r));
}

void ClusterTopology::on_slots(std::size_t i, ClusterNode* n, Outcome&& o) {
  try {
    read_slots(i, n, std::move(o));
  } catch (const std::exception& e) {  // out of memory: this refresh ends, the map stays
    done(false, std::string("reading the slot map: ") + e.what());
  }
}

void ClusterTopology::read_slots(std::size_t i, ClusterNode* n, Outcome&& o) {
  std::string problem;
  Errc code = Errc::protocol;
  if (o.error) {
    problem = o.error->message;
    code = o.error->code;
  } else if (o.reply == nullptr) {
    problem = "no reply";
  } else {
    auto ranges = parse_cluster_slots(*o.reply, n->address.host);
    if (!ranges) {
      problem = ranges.error().message;
    } else {
      auto map = SlotMap::from_ranges(*ranges);
      if (!map) {
        problem = map.error().message;
      } else if (map->unserved() == 0) {
        install(std::move(*map), n->name);
        done(true, {});
        return;
      } else {
        problem = std::to_string(map->unserved()) + " slots have no master";
        if (!partial_ || map->unserved() < partial_->unserved()) {
          partial_ = std::move(*map);
          partial_from_ = n->name;
        }
      }
    }
  }
  // The most telling failure is the one reported (a refused certificate or password before a
  // refused connection), the other nodes by name only: one message, not one per seed.
  auto rank = [](Errc e) {
    switch (e) {
      case Errc::tls:
      case Errc::auth:
      case Errc::invalid_argument:
        return 3;
      case Errc::connection:
      case Errc::timeout:
        return 1;
      default:
        return 2;
    }
  };
  if (failures_.empty() || rank(code) > rank(failure_code_)) {
    if (!failures_.empty()) failed_others_.push_back(failed_first_);
    failures_ = problem;
    failure_code_ = code;
    failed_first_ = n->name;
  } else {
    failed_others_.push_back(n->name);
  }
  ask(i + 1);
}

void ClusterTopology::install(SlotMap map, const std::string& from) {
  auto current = view();
  if (current != nullptr && current->map.unserved() == 0 && map.unserved() > 0) return;
  if (current != nullptr && current->map.same_layout(map)) return;
  auto v = std::make_shared<ClusterView>();
  v->nodes.reserve(map.nodes().size());
  // Replicas get a node (and a pool) only when reads may go to them.
  const bool replicas = cfg_.read_from != ReadFrom::master;
  for (const auto& n : map.nodes()) {
    v->nodes.push_back(n.master || replicas ? &node(n.address) : nullptr);
  }
  v->map = std::move(map);
  v->version = ++version_;
  logger_.event(current == nullptr ? LogLevel::info : LogLevel::warning, "cluster_map", where_,
                "cluster: slot map from " + from + ": " + v->map.describe());
  std::lock_guard lock(view_mu_);
  view_ = std::move(v);
}

void ClusterTopology::done(bool ok, const std::string& why) {
  in_flight_ = false;
  {
    std::lock_guard lock(view_mu_);
    discovery_error_ = ok ? std::string() : why;
    discovery_code_ = ok ? Errc::connection : failure_code_;
    first_done_ = true;
  }
  first_cv_.notify_all();
  if (!ok) {
    logger_.event(LogLevel::warning, "cluster_map_failed", where_,
                  "cluster: no node gave a slot map (" + why + ")", {}, {}, true);
  }
  if (again_) {
    again_ = false;
    refresh(again_why_);
  }
}

ClusterNode& ClusterTopology::moved(std::uint16_t slot, const NodeAddress& to) {
  ClusterNode& target = node(to);
  auto current = view();
  if (current != nullptr && current->master_of(slot) != &target) {
    auto v = std::make_shared<ClusterView>(*current);
    const auto index = v->map.move_slot(slot, to);
    if (index >= v->nodes.size()) v->nodes.resize(index + 1, nullptr);
    v->nodes[index] = &target;
    v->version = ++version_;
    {
      std::lock_guard lock(view_mu_);
      view_ = std::move(v);
    }
    // A slot moved: usually more did (a resharding, a failover). A MOVED that the map already
    // agrees with (a command whose first argument is not its key) asks for nothing.
    refresh("MOVED " + std::to_string(slot) + " " + target.name);
  }
  return target;
}

void ClusterTopology::schedule_periodic() {
  if (transport_.stopping()) return;
  transport_.schedule_after(
      std::chrono::duration_cast<std::chrono::microseconds>(cfg_.cluster_refresh_interval), [this] {
        if (transport_.stopping()) return;
        refresh("periodic");
        schedule_periodic();
      });
}

bool ClusterTopology::wait_ready(std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  std::shared_ptr<const ClusterView> v;
  {
    std::unique_lock lock(view_mu_);
    first_cv_.wait_until(lock, until, [&] { return first_done_; });
    v = view_;
  }
  if (v == nullptr) return false;
  bool any = false;
  for (auto m : v->map.masters()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (v->nodes[m]->pool->wait_first_outcome(std::max(left, std::chrono::milliseconds(0)))) {
      any = true;
    }
  }
  return any;
}

PoolStatus ClusterTopology::status() const {
  PoolStatus s;
  s.endpoint = where_;
  s.via = "cluster";
  s.discovery_error = discovery_error();
  s.discovery_failures = 0;
  if (auto v = view()) {
    for (auto m : v->map.masters()) {
      const PoolStatus p = v->nodes[m]->pool->status();
      s.ready += p.ready;
      s.connecting += p.connecting;
      s.down += p.down;
      s.reconnects += p.reconnects;
    }
    s.master_switches = v->version > 0 ? v->version - 1 : 0;
  }
  s.last_error = last_error_text();
  const auto [handshakes, resumed] = transport_.tls_counts();
  s.tls_handshakes = handshakes;
  s.tls_resumed = resumed;
  return s;
}

std::size_t ClusterTopology::ready() const noexcept {
  auto v = view();
  if (v == nullptr) return 0;
  std::size_t fewest = 0;
  bool first = true;
  for (auto m : v->map.masters()) {
    const std::size_t r = v->nodes[m]->pool->ready();
    if (first || r < fewest) fewest = r;
    first = false;
  }
  return fewest;
}

Error ClusterTopology::last_error() const {
  auto v = view();
  if (v == nullptr) {
    std::lock_guard lock(view_mu_);
    return Error{discovery_error_.empty() ? Errc::connection : discovery_code_,
                 discovery_error_.empty() ? "no slot map yet" : "no slot map: " + discovery_error_};
  }
  for (auto m : v->map.masters()) {
    Pool* p = v->nodes[m]->pool;
    if (p->ready() == 0) {
      Error e = p->last_error();
      if (!e.message.empty()) e.message = v->nodes[m]->name + ": " + e.message;
      return e;
    }
  }
  return Error{};
}

std::string ClusterTopology::last_error_text() const {
  const Error e = last_error();
  return e.message.empty() ? std::string() : e.to_string();
}

void ClusterTopology::set_probing(bool on) noexcept {
  probing_.store(on);
  std::lock_guard lock(view_mu_);
  for (Pool* p : all_pools_) p->set_probing(on);
}

}  // namespace rcache::detail
