// Sentinel: discovery of the master, the +switch-master subscription, rediscovery on signals.
#include "topology/sentinel.hpp"

#include "protocol/sentinel.hpp"

namespace rcache::detail {

// The observer of one sentinel link: it dials the sentinel at *at, and tells the monitor what
// happens to the link.
class SentinelMonitor::Observer final : public LinkObserver {
 public:
  Observer(SentinelMonitor& m, bool subscriber) : m_(m), subscriber_(subscriber) {}

  void on_link_state(const Link& link, LinkState from, LinkState to) override {
    if (m_.stopped_) return;
    SentinelRounds& rounds = *m_.rounds_;
    if (to == LinkState::closing) {
      // This sentinel failed us: the link reconnects (after its backoff) to the next one.
      const bool was_ready = from == LinkState::ready;
      if (subscriber_) {
        rounds.next_sub();
        m_.want_subscribe_ = true;
        if (was_ready) {
          m_.logger_.event(LogLevel::info, "sentinel_subscription_lost", m_.transport_.endpoint(),
                           "sentinel subscription lost (" + link.last_error().to_string() +
                               "); moving to the next sentinel",
                           {}, {}, true);
        }
        return;
      }
      // An attempt that failed while an answer is wanted and no query is on the link (its
      // failure would reach on_answer) counts as that sentinel's failure.
      const bool counts = m_.want_answer_ && !m_.querying_ && !m_.redialling_;
      if (counts) m_.count_failure(link.last_error());
      rounds.next_query();
      return;
    }
    if (to == LinkState::ready && !subscriber_ && m_.want_answer_ && !m_.querying_) m_.query();
    if (to == LinkState::ready && subscriber_ && m_.want_subscribe_) {
      m_.want_subscribe_ = false;
      m_.subscribe();
      // A switch may have happened while nobody listened.
      if (rounds.have_master()) m_.rediscover();
    }
  }
  BackoffShape reconnect_shape() const override {
    return BackoffShape::doubling(m_.cfg_.reconnect_backoff_min, m_.cfg_.reconnect_backoff_max);
  }
  const Target* target() const override {
    return subscriber_ ? &m_.rounds_->sub_target() : &m_.rounds_->query_target();
  }

 private:
  SentinelMonitor& m_;
  const bool subscriber_;
};

SentinelMonitor::SentinelMonitor(const Config& cfg, const Logger& logger, const ClockSource& clock,
                                 Transport& transport)
    : cfg_(cfg), logger_(logger), clock_(clock), transport_(transport), sentinel_cfg_(cfg) {
  sentinel_cfg_.username = cfg.sentinel_username;
  sentinel_cfg_.password = cfg.sentinel_password;
  sentinel_cfg_.db = 0;
  sentinel_cfg_.sentinel_master.clear();  // no ROLE check: these are sentinels
  sentinel_cfg_.sentinels.clear();
  sentinel_cfg_.pool_size = 1;
  std::vector<Target> sentinels;
  for (const auto& s : cfg.sentinels) {
    if (auto hp = parse_host_port(s, 26379, "sentinel")) sentinels.push_back({hp->host, hp->port});
  }
  if (!sentinels.empty()) rounds_.emplace(std::move(sentinels), cfg.sentinel_master);
}

SentinelMonitor::~SentinelMonitor() = default;

void SentinelMonitor::start() {
  if (transport_.stopping()) {  // posted, and run by the shutdown itself: nothing to start
    stopped_ = true;
    return;
  }
  if (!rounds_) {
    stopped_ = true;
    transport_.pool().fail_discovery(Error{Errc::invalid_argument, "no valid sentinel address"});
    return;
  }
  transport_.on_stop([this] { stop(); });
  transport_.pool().set_failure_watcher([this](const Error&) { rediscover(); });
  query_obs_ = std::make_unique<Observer>(*this, false);
  sub_obs_ = std::make_unique<Observer>(*this, true);
  query_link_ = transport_.make_link(sentinel_cfg_, *query_obs_, 0);
  sub_link_ = transport_.make_link(sentinel_cfg_, *sub_obs_, 1);
  sub_link_->set_push_handler([this](Outcome&& o) { on_push(std::move(o)); });
  query_link_->start();
  sub_link_->start();
  query();
  schedule_refresh();
}

void SentinelMonitor::stop() {
  stopped_ = true;
  const Error why{Errc::shutdown, "client is shutting down"};
  if (query_link_) query_link_->stop(why);
  if (sub_link_) sub_link_->stop(why);
}

void SentinelMonitor::rediscover() {
  // While the transport stops, scheduled work runs at once: never schedule again from it.
  if (stopped_ || transport_.stopping()) return;
  if (querying_) {
    again_ = true;
    return;
  }
  const auto wait = rounds_->wait_before_query(clock_.now());
  if (wait.count() == 0) {
    query();
    return;
  }
  query_later(wait);
}

void SentinelMonitor::query_later(std::chrono::nanoseconds after) {
  if (query_scheduled_) return;
  query_scheduled_ = true;
  transport_.schedule_after(std::chrono::ceil<std::chrono::microseconds>(after), [this] {
    query_scheduled_ = false;
    rediscover();
  });
}

void SentinelMonitor::query() {
  if (stopped_ || transport_.stopping()) return;
  want_answer_ = true;
  again_ = false;
  rounds_->queried(clock_.now());
  if (!query_link_->accepting()) {
    // Down and waiting for its backoff: asked once it is up again (Observer), and each
    // attempt that fails meanwhile counts against its sentinel.
    query_link_->reconnect_now();
    return;
  }
  querying_ = true;
  Request r;
  r.wire = std::make_shared<const std::string>(sentinel_master_query(cfg_.sentinel_master));
  r.name = "SENTINEL GET-MASTER-ADDR-BY-NAME";
  r.deadline = clock_.now() + cfg_.connect_timeout + cfg_.command_timeout;
  r.done = [this](Outcome&& o) { on_answer(std::move(o)); };
  query_link_->enqueue(std::move(r));
  query_link_->flush();
}

void SentinelMonitor::count_failure(const Error& e) {
  if (auto over = rounds_->failed(e)) after_round_failed(*over);
}

void SentinelMonitor::on_answer(Outcome&& o) {
  querying_ = false;
  if (stopped_) return;
  const std::string who = endpoint_of(rounds_->query_target());
  Result<HostPort> addr =
      o.error ? Result<HostPort>(*o.error) : parse_master_addr(*o.reply, cfg_.sentinel_master, who);
  if (!addr) {
    const Error e = std::move(addr).error();
    logger_.event(LogLevel::debug, "sentinel_no_answer", who,
                  "sentinel " + who + ": " + e.to_string(), {}, {}, true);
    if (auto over = rounds_->failed(e)) {
      after_round_failed(*over);
      return;
    }
    // A link that failed has moved on by itself (Observer); one that is fine but got no help
    // from its sentinel is moved here.
    if (query_link_->state() == LinkState::ready) next_query_sentinel();
    query();
    return;
  }
  want_answer_ = false;
  if (lookup_failed_logged_) {  // the end of master_lookup_failed, at its level
    lookup_failed_logged_ = false;
    logger_.event(LogLevel::error, "master_found", transport_.endpoint(),
                  "redis " + transport_.endpoint() + ": master found at " +
                      endpoint_of(Target{addr->host, addr->port}) + " (sentinel " + who + ")");
  }
  if (rounds_->answered()) {  // the sentinel that answered goes first next time
    transport_.pool().set_discovery_error("");
    logger_.event(LogLevel::warning, "sentinel_answers_again", transport_.endpoint(),
                  "redis " + transport_.endpoint() + ": sentinel " + who + " answers again");
  }
  transport_.pool().set_target(Target{addr->host, addr->port}, "sentinel " + who);
  if (again_) rediscover();
}

void SentinelMonitor::next_query_sentinel() {
  // An open link is closed (its Observer then moves it to the next sentinel); a link that is
  // down is moved here.
  const LinkState s = query_link_->state();
  if (s == LinkState::ready || s == LinkState::connecting || s == LinkState::handshaking) {
    redialling_ = true;  // our own doing: not a failure of that sentinel
    query_link_->redial(Error{Errc::connection, "asking the next sentinel"});
    redialling_ = false;
  } else {
    rounds_->next_query();
    query_link_->reconnect_now();
  }
}

void SentinelMonitor::after_round_failed(const SentinelRounds::RoundOver& over) {
  want_answer_ = false;
  transport_.pool().count_failed_discovery();
  if (over.before_master) {
    transport_.pool().fail_discovery(over.why);
    lookup_failed_logged_ = true;
    logger_.event(LogLevel::error, "master_lookup_failed", transport_.endpoint(),
                  "redis " + transport_.endpoint() + ": " + over.why.message, {}, {}, true);
  } else {
    if (over.newly_failing) {
      logger_.event(LogLevel::warning, "master_lookup_failing", transport_.endpoint(),
                    "redis " + transport_.endpoint() + ": " + over.why.message +
                        "; keeping the known master");
    }
    transport_.pool().set_discovery_error(over.why.message);
  }
  if (query_link_->state() == LinkState::ready) next_query_sentinel();
  // Not at once: a round that failed is retried after the reconnect backoff's ceiling.
  query_later(cfg_.reconnect_backoff_max);
}

void SentinelMonitor::subscribe() {
  Request r;
  r.wire = std::make_shared<const std::string>(sentinel_subscribe());
  r.name = "SUBSCRIBE";
  r.deadline = clock_.now() + cfg_.connect_timeout + cfg_.command_timeout;
  r.done = [this](Outcome&& o) {
    if (stopped_ || !o.error) return;
    want_subscribe_ = true;  // the link failed or the sentinel refused: again on the next one
    if (sub_link_->state() == LinkState::ready) {
      sub_link_->redial(Error{Errc::connection, "subscribing on the next sentinel"});
    }
  };
  sub_link_->enqueue(std::move(r));
  sub_link_->flush();
}

void SentinelMonitor::on_push(Outcome&& o) {
  if (stopped_ || o.reply == nullptr) return;
  const auto to = parse_switch_master(*o.reply, cfg_.sentinel_master);
  if (!to) return;
  const std::string who = endpoint_of(rounds_->sub_target());
  rounds_->master_known();
  transport_.pool().set_target(Target{to->host, to->port}, "sentinel " + who + " +switch-master");
}

void SentinelMonitor::schedule_refresh() {
  transport_.schedule_after(std::chrono::duration_cast<std::chrono::microseconds>(kRefresh),
                            [this] {
                              if (stopped_ || transport_.stopping()) return;
                              rediscover();
                              schedule_refresh();
                            });
}

}  // namespace rcache::detail
