// The near cache's invalidation connection: set-up, messages, loss, heartbeat.
#include "resilience/tracker.hpp"

#include "protocol/tracking.hpp"

namespace rcache::detail {

class Tracker::Observer final : public LinkObserver {
 public:
  explicit Observer(Tracker& t) : t_(t) {}
  void on_link_state(const Link& link, LinkState /*from*/, LinkState to) override {
    if (t_.stopped_) return;
    if (to == LinkState::ready) t_.on_ready();
    if (to == LinkState::closing) t_.on_closing(link.last_error());
  }
  BackoffShape reconnect_shape() const override {
    return BackoffShape::doubling(t_.cfg_.reconnect_backoff_min, t_.cfg_.reconnect_backoff_max);
  }
  // Where the pool dials: the fixed address, or the master found through Sentinel.
  const Target* target() const override { return t_.transport_.pool().target(); }

 private:
  Tracker& t_;
};

Tracker::Tracker(const Config& cfg, const Logger& logger, const ClockSource& clock,
                 Transport& transport, NearCache& near)
    : cfg_(cfg), logger_(logger), clock_(clock), transport_(transport), near_(near) {}

Tracker::~Tracker() = default;

std::string Tracker::refusal() const {
  std::lock_guard lock(mu_);
  return refusal_;
}

void Tracker::start() {
  if (transport_.stopping()) {
    stopped_ = true;
    return;
  }
  transport_.on_stop([this] { stop(); });
  observer_ = std::make_unique<Observer>(*this);
  link_ = transport_.make_link(cfg_, *observer_, cfg_.pool_size);
  link_->set_push_handler([this](Outcome&& o) { on_push(std::move(o)); });
  Pool& pool = transport_.pool();
  pool.set_move_watcher([this] {
    if (stopped_) return;
    if (!started_) {
      started_ = true;
      link_->start();
      return;
    }
    link_->redial(Error{Errc::connection, "the master moved; tracking follows it"});
  });
  // With Sentinel the pool has no target until the first answer: start with it.
  if (cfg_.sentinel_master.empty() || pool.target() != nullptr) {
    started_ = true;
    link_->start();
  }
  transport_.schedule_after(std::chrono::duration_cast<std::chrono::microseconds>(kHeartbeat),
                            [this] { heartbeat(); });
}

void Tracker::stop() {
  stopped_ = true;
  // No invalidations from here on: nothing may be served as fresh to a call still running.
  if (tracking_) near_.coherence_lost();
  tracking_ = false;
  if (link_) link_->stop(Error{Errc::shutdown, "client is shutting down"});
}

void Tracker::send(std::string wire, std::uint32_t replies, const char* name, Completion done) {
  if (link_->state() != LinkState::ready) return;
  Request r;
  r.wire = std::make_shared<const std::string>(std::move(wire));
  r.replies = replies;
  r.name = name;
  r.deadline = clock_.now() + cfg_.command_timeout;
  r.done = std::move(done);
  link_->enqueue(std::move(r));
  link_->flush();
}

void Tracker::on_ready() {
  const std::uint64_t inc = incarnation_;
  send(client_id_command(), 1, "CLIENT ID", [this, inc](Outcome&& o) { on_id(inc, std::move(o)); });
}

void Tracker::retry_setup(std::uint64_t incarnation, std::chrono::milliseconds after,
                          const std::string& why) {
  // A new connection starts the set-up from scratch (tracking state is per connection, and a
  // second CLIENT TRACKING with the same prefix is refused as overlapping).
  transport_.schedule_after(std::chrono::duration_cast<std::chrono::microseconds>(after),
                            [this, incarnation, why] {
                              if (stopped_ || transport_.stopping()) return;
                              if (incarnation != incarnation_ || tracking_) return;
                              link_->redial(Error{Errc::connection, why});
                            });
}

void Tracker::on_id(std::uint64_t incarnation, Outcome&& o) {
  if (stopped_ || incarnation != incarnation_) return;
  if (o.error) {  // a timeout on a connection that stays up, or the link failing (then closing)
    retry_setup(incarnation, cfg_.reconnect_backoff_max,
                "near cache set-up failed: " + o.error->to_string());
    return;
  }
  if (o.reply->type != REDIS_REPLY_INTEGER) {
    refuse(o.reply->type == REDIS_REPLY_ERROR
               ? Error{Errc::server, "near cache: CLIENT ID refused (" +
                                         std::string(o.reply->str, o.reply->len) + ")"}
               : Error{Errc::protocol, "near cache: unexpected answer to CLIENT ID"});
    retry_setup(incarnation, cfg_.probe_max, "near cache set-up refused; trying again");
    return;
  }
  send(tracking_commands(o.reply->integer, cfg_.key_prefix), 2, "CLIENT TRACKING",
       [this, incarnation](Outcome&& t) { on_tracking(incarnation, std::move(t)); });
}

void Tracker::on_tracking(std::uint64_t incarnation, Outcome&& o) {
  if (stopped_ || incarnation != incarnation_) return;
  if (o.error || o.earlier.empty() || !o.earlier[0]) {
    retry_setup(incarnation, cfg_.reconnect_backoff_max,
                "near cache set-up failed: " +
                    (o.error ? o.error->to_string() : std::string("no reply to CLIENT TRACKING")));
    return;
  }
  if (auto ok = check_tracking(*o.earlier[0], *o.reply); !ok) {
    // Refused (an old Redis, an ACL, a busy server): asked again on a new connection after the
    // slow probe period, so a fixed ACL or an upgraded server is picked up.
    refuse(ok.error());
    retry_setup(incarnation, cfg_.probe_max, "near cache set-up refused; trying again");
    return;
  }
  {
    std::lock_guard lock(mu_);
    refusal_.clear();
  }
  tracking_ = true;
  near_.coherence_gained();
  // The end of a loss is said at the loss's level.
  logger_.event(
      lost_ ? LogLevel::warning : LogLevel::info, "near_cache_coherent", transport_.endpoint(),
      "redis " + transport_.endpoint() + ": near cache coherent (tracking invalidations" +
          (cfg_.key_prefix.empty() ? std::string() : " of '" + cfg_.key_prefix + "*'") + ")");
  lost_ = false;
}

void Tracker::refuse(const Error& e) {
  bool first = false;
  {
    std::lock_guard lock(mu_);
    first = refusal_ != e.message;
    refusal_ = e.message;
  }
  if (first) {
    logger_.event(LogLevel::error, "near_cache_refused", transport_.endpoint(),
                  "redis " + transport_.endpoint() + ": " + e.message +
                      "; the near cache stays off (only copies kept during outages are served)");
  }
}

void Tracker::on_closing(const Error& why) {
  ++incarnation_;
  if (!tracking_) return;
  tracking_ = false;
  near_.coherence_lost();
  lost_ = true;
  logger_.event(LogLevel::warning, "near_cache_invalidations_lost", transport_.endpoint(),
                "redis " + transport_.endpoint() + ": near cache invalidations lost (" +
                    why.to_string() + "); near-cache entries are stale until tracking is back");
}

void Tracker::on_push(Outcome&& o) {
  if (stopped_ || !tracking_ || o.reply == nullptr) return;
  auto inv = parse_invalidation(*o.reply);
  if (!inv) return;
  if (inv->all) {
    near_.invalidate_all();
    return;
  }
  for (const auto& k : inv->keys) near_.invalidate(k);
}

void Tracker::heartbeat() {
  if (stopped_ || transport_.stopping()) return;
  if (tracking_ && link_->pending() == 0) {
    send("*1\r\n$4\r\nPING\r\n", 1, "PING", [](Outcome&&) {});
  }
  transport_.schedule_after(std::chrono::duration_cast<std::chrono::microseconds>(kHeartbeat),
                            [this] { heartbeat(); });
}

}  // namespace rcache::detail
