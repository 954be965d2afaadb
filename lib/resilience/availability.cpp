// Degraded behaviour: start-up decision, disabled mode and its probe, local fallback, recovery.
#include "resilience/availability.hpp"

#include "resilience/verdict.hpp"

namespace rcache::detail {

StartDecision decide_start(DegradedMode mode, bool reached, const Error& last,
                           const std::string& endpoint) {
  using A = StartDecision::Action;
  if (reached) return {A::serve, std::nullopt};
  if (mode == DegradedMode::fail_fast) {
    const bool config = last.code == Errc::auth || last.code == Errc::tls;
    return {A::fail, Error{config ? last.code : Errc::connection,
                           "redis " + endpoint + " unreachable at start-up (" + last.to_string() +
                               ") and degraded_mode is fail_fast"}};
  }
  // Refused credentials or a TLS handshake that cannot succeed (untrusted, expired or misnamed
  // certificate) are configuration errors, not an absent Redis: calls keep failing with
  // Errc::auth / Errc::tls, which say so, rather than a generic `disabled`.
  // Refused credentials or certificates, and a master name no sentinel knows: configuration
  // errors, kept as the calls' error (not `disabled`).
  if (last.code == Errc::auth || last.code == Errc::tls || last.code == Errc::invalid_argument) {
    return {A::keep_auth_errors, std::nullopt};
  }
  return {A::disable, std::nullopt};
}

Availability::Availability(const Config& cfg, const Logger& logger, Metrics& metrics,
                           const ClockSource& clock)
    : cfg_(cfg),
      logger_(logger),
      metrics_(metrics),
      local_(cfg.degraded_mode == DegradedMode::local) {
  if (cfg.near_cache_bytes > 0 || local_) {
    NearCacheOptions o;
    o.max_bytes = cfg.near_cache_bytes > 0 ? cfg.near_cache_bytes : cfg.local_max_bytes;
    o.max_ttl = cfg.near_cache_ttl;
    o.max_stale = cfg.max_stale;
    near_ = std::make_unique<NearCache>(o, clock);
  }
}

void Availability::attach(Reachability& pool) noexcept {
  pool_.store(&pool);
}

Result<void> Availability::start(bool reached) {
  Reachability* pool = pool_.load();
  const Error last = pool != nullptr ? pool->last_error() : Error{Errc::connection, "no pool"};
  const std::string where = pool != nullptr ? pool->where() : std::string("redis");
  const StartDecision d = decide_start(cfg_.degraded_mode, reached, last, where);
  switch (d.action) {
    case StartDecision::Action::serve:
      return {};
    case StartDecision::Action::keep_auth_errors:
      logger_.event(LogLevel::error, "start_refused", where,
                    "redis " + where + " refused this client at start-up (" + last.to_string() +
                        "): calls fail with '" + std::string(to_string(last.code)) +
                        "' until that is fixed; retrying in the background");
      return {};
    case StartDecision::Action::fail:
      return *d.error;
    case StartDecision::Action::disable:
      break;
  }
  set_disabled(true);
  // A connection that became ready before the store above saw disabled_ == false and will not
  // clear it: undo (ready is counted before on_pool_available runs).
  if (pool != nullptr && pool->ready() > 0) set_disabled(false);
  if (disabled()) {
    logger_.event(LogLevel::warning, "client_disabled", where,
                  "redis " + where + " unreachable at start-up (" + last.to_string() +
                      "): client disabled (" + std::string(to_string(cfg_.degraded_mode)) +
                      " mode), probing in the background");
  }
  return {};
}

void Availability::set_disabled(bool on) {
  disabled_.store(on, std::memory_order_release);
  if (Reachability* pool = pool_.load()) pool->set_probing(on);
}

std::optional<Error> Availability::refusal(const char* cmd) {
  if (!disabled()) return std::nullopt;
  metrics_.add(Counter::rejected_disabled);
  Reachability* pool = pool_.load();
  return Error{Errc::disabled, std::string(cmd) + ": client disabled, redis " +
                                   (pool != nullptr ? pool->where() : std::string()) +
                                   " unreachable since start-up (" +
                                   (pool != nullptr ? pool->last_error_text() : std::string()) +
                                   "); probing in the background"};
}

std::string Availability::disabled_reason() const {
  Reachability* pool = pool_.load();
  if (pool == nullptr) return "client disabled";
  return "redis " + pool->where() + " unreachable since start-up (" + pool->last_error_text() +
         "); probing in the background";
}

bool Availability::up() const noexcept {
  Reachability* pool = pool_.load();
  return pool != nullptr && pool->ready() > 0 && !disabled();
}

void Availability::on_pool_available() {
  if (near_) near_->outage_ended();
  if (disabled_.exchange(false)) {
    if (Reachability* pool = pool_.load()) {
      pool->set_probing(false);
      logger_.event(LogLevel::warning, "client_enabled", pool->where(),
                    "redis " + pool->where() + " reachable: client enabled");
    }
  }
}

void Availability::on_breaker_change(BreakerState /*from*/, BreakerState to) {
  if (to == BreakerState::closed && near_) near_->outage_ended();
}

bool Availability::falls_back(const Error& e) const noexcept {
  return local_ && near_ != nullptr && unavailable(e);
}

std::optional<std::string> Availability::local_miss() {
  metrics_.add(Counter::fallback_served);
  return std::nullopt;
}

Result<bool> Availability::local_set(const std::string& near_key, const NearCache::FillToken& token,
                                     std::string_view value, const SetOptions& o, Error failed) {
  using C = SetOptions::Condition;
  // NX / XX as Redis would have decided them, against what this client knows of the key.
  const NearCache::Condition condition =
      o.condition == C::if_absent    ? NearCache::Condition::if_absent
      : o.condition == C::if_present ? NearCache::Condition::if_present
                                     : NearCache::Condition::always;
  const auto w = near_->end_outage_write(near_key, token, value, o.ttl, condition);
  if (w.declined) {
    metrics_.add(Counter::fallback_served);
    return false;
  }
  if (!w.kept) return failed;  // invalidated meanwhile, or too large: the copy could mislead
  metrics_.add(Counter::fallback_served);
  return true;
}

Result<std::int64_t> Availability::local_del(const std::vector<std::string>& near_keys,
                                             const std::vector<NearCache::FillToken>& tokens) {
  metrics_.add(Counter::fallback_served);
  std::int64_t n = 0;
  for (std::size_t i = 0; i < near_keys.size(); ++i) {
    const NearCache::FillToken t = i < tokens.size() ? tokens[i] : NearCache::FillToken{};
    n += near_->end_outage_write(near_keys[i], t, std::nullopt, {}).had_copy ? 1 : 0;
  }
  return n;
}

}  // namespace rcache::detail
