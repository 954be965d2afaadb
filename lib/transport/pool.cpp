// The connections to one endpoint: least-loaded pick, waiting for a connection, pool-level status.
#include "transport/pool.hpp"

namespace rcache::detail {

Pool::Pool(const Config& cfg, const Logger& logger, std::string endpoint,
           std::function<void()> on_available, const ClockSource& clock)
    : cfg_(cfg),
      logger_(logger),
      endpoint_(std::move(endpoint)),
      on_available_(std::move(on_available)),
      clock_(clock) {}

std::string endpoint_of(const Target& t) {
  if (t.host.find(':') != std::string::npos) return "[" + t.host + "]:" + std::to_string(t.port);
  return t.host + ":" + std::to_string(t.port);
}

void Pool::start(const LinkFactory& factory) {
  {
    std::lock_guard lock(first_mu_);
    first_seen_.assign(cfg_.pool_size, false);
  }
  down_ = cfg_.pool_size;
  if ((!cfg_.sentinel_master.empty() || !cfg_.cluster_nodes.empty()) && !target_) {
    factory_ = factory;  // started by the first set_target()
    return;
  }
  links_.reserve(cfg_.pool_size);
  for (std::size_t i = 0; i < cfg_.pool_size; ++i) links_.push_back(factory(i, *this));
  for (auto& l : links_) l->start();
}

void Pool::set_target(const Target& target, const std::string& via) {
  const std::optional<Target> before = target_;
  target_ = target;
  {
    std::lock_guard lock(status_mu_);
    current_endpoint_ = endpoint_of(target);
    via_ = via;
  }
  if (factory_) {
    LinkFactory factory = std::move(factory_);
    factory_ = nullptr;
    links_.reserve(cfg_.pool_size);
    for (std::size_t i = 0; i < cfg_.pool_size; ++i) links_.push_back(factory(i, *this));
    for (auto& l : links_) l->start();
    if (on_move_) on_move_();
    return;
  }
  if (before && *before == target) return;
  target_moves_.fetch_add(1, std::memory_order_relaxed);
  logger_.event(LogLevel::warning, "master_moved", endpoint_,
                "redis " + endpoint_ + ": master " +
                    (before ? "moved from " + endpoint_of(*before) + " " : "") + "to " +
                    endpoint_of(target) + " (" + via + ")",
                before ? endpoint_of(*before) : std::string(), endpoint_of(target));
  const Error moved{Errc::connection, "the master of " + endpoint_ + " moved to " +
                                          endpoint_of(target) + " (" + via + ")"};
  for (auto& l : links_) l->redial(moved);
  if (on_move_) on_move_();
}

void Pool::fail_discovery(const Error& why) {
  {
    std::lock_guard lock(status_mu_);
    last_error_ = why;
  }
  if (!links_.empty()) return;
  std::lock_guard lock(first_mu_);
  first_seen_.assign(first_seen_.size(), true);
  first_outcomes_ = first_seen_.size();
  first_cv_.notify_all();
}

void Pool::dispatch(std::vector<Request>& batch) {
  if (batch.empty()) return;
  Link* target = pick();
  const bool waits = target != nullptr && target->state() != LinkState::ready;
  std::size_t waiting = waits ? waiting_for_connection() : 0;
  for (auto& r : batch) {
    if (target == nullptr) {
      fail_unconnected(r);
    } else if (waits && waiting >= cfg_.max_waiting_for_connection) {
      reject_waiting(r);
    } else {
      target->enqueue(std::move(r));
      waiting += waits ? 1 : 0;
    }
  }
  batch.clear();
  if (target != nullptr) target->flush();
}

Link* Pool::pick() {
  const std::size_t n = links_.size();
  if (n == 0) return nullptr;
  Link* best = nullptr;
  for (std::size_t i = 0; i < n; ++i) {
    Link& l = *links_[(next_ + i) % n];
    if (l.state() == LinkState::ready && (best == nullptr || l.pending() < best->pending())) {
      best = &l;
    }
  }
  next_ = (next_ + 1) % n;
  if (best != nullptr) return best;
  if (cfg_.max_waiting_for_connection == 0) return nullptr;
  for (auto& l : links_) {  // none ready: one that is coming up holds the requests
    const LinkState s = l->state();
    if (s == LinkState::connecting || s == LinkState::handshaking) return l.get();
  }
  // None coming up either. Right after a drop the server was fine a moment ago: the requests
  // wait in a link that will reconnect, unless a reconnect attempt has failed since (a real
  // outage: fail fast) or the client is probing a server it found down.
  // A closing link counts: it goes down and redials later in this loop turn, and right after a
  // kill of the whole pool the callers woken by the failures send again before that.
  if (!riding_ || probing_.load()) return nullptr;
  for (auto& l : links_) {
    const LinkState s = l->state();
    if (s == LinkState::down || s == LinkState::closing) return l.get();
  }
  return nullptr;
}

std::size_t Pool::waiting_for_connection() const noexcept {
  std::size_t n = 0;
  for (const auto& l : links_) {
    if (l->state() != LinkState::ready) n += l->pending();
  }
  return n;
}

void Pool::reject_waiting(Request& r) const {
  complete(r, Error{Errc::rejected, std::string(r.name) + ": " +
                                        std::to_string(cfg_.max_waiting_for_connection) +
                                        " calls already waiting for a connection to " + endpoint_ +
                                        " (max_waiting_for_connection)"});
}

void Pool::flush_all() {
  for (auto& l : links_) l->flush();
}

void Pool::stop(const Error& why) {
  for (auto& l : links_) l->stop(why);
}

void Pool::fail_unconnected(Request& r) const {
  Error last = last_error();  // the most recent connection error
  if (last.message.empty()) last = Error{Errc::connection, "no connection"};
  std::string message = std::string(r.name) + ": not connected (" + last.message + ")";
  // A refused password or certificate is a configuration error and says so; anything else is
  // the connection's.
  const bool config =
      last.code == Errc::auth || last.code == Errc::tls || last.code == Errc::invalid_argument;
  complete(r, Error{config ? last.code : Errc::connection, std::move(message)});
}

BackoffShape Pool::reconnect_shape() const {
  if (probing_.load()) return BackoffShape::doubling(cfg_.probe_min, cfg_.probe_max);
  return BackoffShape::doubling(cfg_.reconnect_backoff_min, cfg_.reconnect_backoff_max);
}

std::uint64_t Pool::drop_id(const Link& /*link*/, LinkState from) {
  if (from != LinkState::ready) return fresh_drop_id();
  const TimePoint now = clock_.now();
  if (loss_ == 0 || now - loss_at_ > kLossWindow) {
    loss_ = fresh_drop_id();
    loss_at_ = now;
  }
  return loss_;
}

void Pool::on_link_state(const Link& link, LinkState from, LinkState to) {
  using S = LinkState;
  auto bucket = [this](S s) -> std::atomic<std::size_t>* {
    switch (s) {
      case S::ready:
        return &ready_;
      case S::connecting:
      case S::handshaking:
        return &connecting_;
      case S::down:
      case S::closing:
        return &down_;
      case S::stopped:
        return nullptr;
    }
    return nullptr;
  };
  auto* a = bucket(from);
  auto* b = bucket(to);
  if (a != b) {
    if (a != nullptr) a->fetch_sub(1);
    if (b != nullptr) b->fetch_add(1);
  }
  if (to == S::closing) {
    if (from == S::ready) {
      reconnects_.fetch_add(1, std::memory_order_relaxed);
      riding_ = true;  // the server answered a moment ago: expect the reconnect to succeed
    } else if (ready_.load(std::memory_order_relaxed) == 0 &&
               !(from == S::handshaking && link.last_error().code == Errc::connection)) {
      // A connect failed, or a handshake was refused or timed out, with nothing ready: a real
      // outage. A connection the server accepted and then lost mid-handshake (a CLIENT KILL
      // landing on a reconnect) says the server is up: keep waiting.
      riding_ = false;
    }
    {
      std::lock_guard lock(status_mu_);
      last_error_ = link.last_error();
    }
    if (on_failure_) on_failure_(link.last_error());
    // A refused password or certificate is a configuration problem: said once per distinct
    // reason (not once per attempt) until a connection is ready again.
    const Error& e = link.last_error();
    if ((e.code == Errc::auth || e.code == Errc::tls) && e.message != logged_refusal_) {
      logged_refusal_ = e.message;
      logger_.event(LogLevel::error, e.code == Errc::auth ? "auth_refused" : "tls_refused",
                    endpoint_, "redis " + endpoint_ + ": " + e.to_string());
    }
    // A broken stream is the server's (or a middlebox's) fault, not a network blip: say so.
    if (link.last_error().code == Errc::protocol) {
      logger_.event(LogLevel::error, "connection_broken_stream", endpoint_,
                    "redis " + endpoint_ + ": connection " + std::to_string(link.index()) +
                        " dropped: " + link.last_error().message,
                    {}, {}, true);
    }
  }
  if (to == S::ready || to == S::closing) {
    std::function<void(bool)> decide;
    {
      std::lock_guard lock(first_mu_);
      if (link.index() < first_seen_.size() && !first_seen_[link.index()]) {
        first_seen_[link.index()] = true;
        ++first_outcomes_;
      }
      if (on_first_outcome_ && first_outcome_known()) decide = std::move(on_first_outcome_);
      first_cv_.notify_all();
    }
    if (decide) decide(ready_.load(std::memory_order_relaxed) > 0);
  }
  const std::size_t ready_now = ready_.load(std::memory_order_relaxed);
  if (to == S::ready) {
    if (!logged_refusal_.empty()) {  // its end, at its level
      logger_.event(LogLevel::error, "refusal_ended", endpoint_,
                    "redis " + endpoint_ + " accepts this client again");
    }
    logged_refusal_.clear();
    loss_ = 0;  // a drop from now on is a new event
  }
  if (to == S::ready && ready_now == 1) {
    // The server is back: the rest of the pool need not sit out its backoff.
    for (auto& other : links_) other->reconnect_now();
    if (reported_down_) {
      // The same level as the "unreachable" line, so whoever sees the start sees the end.
      logger_.event(LogLevel::warning, "redis_reachable", endpoint_,
                    "redis " + endpoint_ + " reachable again", "unreachable", "reachable");
      reported_down_ = false;
    }
    if (on_available_) on_available_();
  }
  if (from == S::ready && to != S::ready && to != S::stopped && ready_now == 0) {
    logger_.event(LogLevel::warning, "redis_unreachable", endpoint_,
                  "redis " + endpoint_ + " unreachable: " + link.last_error().to_string(),
                  "reachable", "unreachable");
    reported_down_ = true;
  }
}

bool Pool::first_outcome_known() const {
  return ready_.load(std::memory_order_relaxed) > 0 || first_outcomes_ >= cfg_.pool_size;
}

bool Pool::wait_first_outcome(std::chrono::milliseconds limit) {
  std::unique_lock lock(first_mu_);
  first_cv_.wait_for(lock, limit, [&] { return first_outcome_known(); });
  return ready_.load(std::memory_order_relaxed) > 0;
}

bool Pool::when_first_outcome(std::function<void(bool)> fn) {
  std::lock_guard lock(first_mu_);
  if (first_outcome_known()) return false;
  on_first_outcome_ = std::move(fn);
  return true;
}

Error Pool::last_error() const {
  std::lock_guard lock(status_mu_);
  return last_error_;
}

PoolStatus Pool::status() const {
  PoolStatus s;
  s.ready = ready_.load(std::memory_order_relaxed);
  s.connecting = connecting_.load(std::memory_order_relaxed);
  s.down = down_.load(std::memory_order_relaxed);
  s.reconnects = reconnects_.load(std::memory_order_relaxed);
  std::lock_guard lock(status_mu_);
  s.last_error = last_error_.message.empty() ? std::string() : last_error_.to_string();
  s.endpoint = current_endpoint_.empty() ? endpoint_ : current_endpoint_;
  s.via = via_;
  s.discovery_error = discovery_error_;
  s.master_switches = target_moves_.load(std::memory_order_relaxed);
  s.discovery_failures = discovery_failures_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace rcache::detail
