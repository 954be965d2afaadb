#include "timeline.hpp"

#include <algorithm>

namespace demo {
namespace {

int severity(rcache::BreakerState s) {
  switch (s) {
    case rcache::BreakerState::half_open:
      return 1;
    case rcache::BreakerState::open:
    case rcache::BreakerState::forced_open:
      return 2;
    case rcache::BreakerState::closed:
    case rcache::BreakerState::disabled:
      break;
  }
  return 0;
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  return sorted[static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1))];
}

void add(Second& into, const Second& s) {
  into.requests += s.requests;
  into.answered += s.answered;
  into.no_api += s.no_api;
  into.from_redis += s.from_redis;
  into.stale += s.stale;
  into.rate_limited += s.rate_limited;
  into.shed += s.shed;
  into.errors += s.errors;
  into.api_calls += s.api_calls;
  into.api_refused += s.api_refused;
  if (severity(s.breaker) > severity(into.breaker)) into.breaker = s.breaker;
  into.redis_down += s.redis_down;
  into.latencies_ms.insert(into.latencies_ms.end(), s.latencies_ms.begin(), s.latencies_ms.end());
}

struct Header {
  Outcome outcome;
  const char* value;
};
constexpr Header kHeaders[] = {
    {Outcome::redis, "redis"},       {Outcome::near, "near"}, {Outcome::near_stale, "near-stale"},
    {Outcome::negative, "negative"}, {Outcome::api, "api"},   {Outcome::stale, "stale"},
    {Outcome::api_429, "api-429"},   {Outcome::shed, "shed"}, {Outcome::error, "error"},
};

}  // namespace

const char* cache_header(Outcome o) {
  for (const auto& h : kHeaders) {
    if (h.outcome == o) return h.value;
  }
  return "error";
}

Outcome classify(int status, const std::string& header) {
  Outcome o = Outcome::error;
  for (const auto& h : kHeaders) {
    if (header == h.value) o = h.outcome;
  }
  const bool answered = status == 200 || status == 404;
  const bool says_answered = o != Outcome::api_429 && o != Outcome::shed && o != Outcome::error;
  if (answered) return says_answered ? o : Outcome::api;
  if (status == 429) return o == Outcome::shed ? Outcome::shed : Outcome::api_429;
  return Outcome::error;
}

PhaseSummary summarize(const std::vector<Second>& seconds, const Phase& phase) {
  PhaseSummary p;
  p.name = phase.name;
  const int end = std::min(phase.end, static_cast<int>(seconds.size()));
  for (int i = std::max(0, phase.begin); i < end; ++i) {
    add(p.total, seconds[static_cast<std::size_t>(i)]);
    ++p.seconds;
  }
  std::sort(p.total.latencies_ms.begin(), p.total.latencies_ms.end());
  p.p50_ms = percentile(p.total.latencies_ms, 0.5);
  p.p99_ms = percentile(p.total.latencies_ms, 0.99);
  if (p.seconds > 0) p.answered_per_s = static_cast<double>(p.total.answered) / p.seconds;
  if (p.total.answered > 0) {
    p.no_api_share = static_cast<double>(p.total.no_api) / static_cast<double>(p.total.answered);
  }
  p.redis_down_seconds = p.total.redis_down;
  return p;
}

double Timeline::at(Clock::time_point t) const {
  const Clock::rep t0 = t0_.load();
  if (t0 < 0) return -1;
  return std::chrono::duration<double>(t - Clock::time_point(Clock::duration(t0))).count();
}

Second* Timeline::slot(double t) {
  if (t < 0) return nullptr;
  const auto i = static_cast<std::size_t>(t);
  return i < seconds_.size() ? &seconds_[i] : nullptr;
}

void Timeline::request(Outcome o, double latency_ms, int group) noexcept {
  const double t = now();
  std::lock_guard l(mu_);
  Second* s = slot(t);
  if (s == nullptr) return;
  count(*s, o, latency_ms);
  const bool grouped = group >= 0 && static_cast<std::size_t>(group) < groups_.size();
  if (grouped)
    count(groups_[static_cast<std::size_t>(group)][static_cast<std::size_t>(t)], o, latency_ms);
  if (o == Outcome::redis && first_redis_answer_ < 0 && !down_.empty() &&
      down_.back().second >= 0 && (watched_ < 0 || watched_ == group)) {
    first_redis_answer_ = t - down_.back().second;
  }
}

void Timeline::count(Second& s, Outcome o, double latency_ms) noexcept {
  ++s.requests;
  switch (o) {
    case Outcome::api_429:
      ++s.rate_limited;
      return;
    case Outcome::shed:
      ++s.rate_limited;
      ++s.shed;
      return;
    case Outcome::error:
      ++s.errors;
      return;
    case Outcome::redis:
      ++s.from_redis;
      [[fallthrough]];
    case Outcome::near:
    case Outcome::negative:
      ++s.no_api;
      break;
    case Outcome::near_stale:
      ++s.no_api;
      ++s.stale;
      break;
    case Outcome::stale:
      ++s.stale;
      break;
    case Outcome::api:
      break;
  }
  ++s.answered;
  try {
    s.latencies_ms.push_back(latency_ms);
  } catch (...) {  // out of memory: the latency is left out, the counts stay right
  }
}

void Timeline::api_call(bool refused) noexcept {
  const double t = now();
  std::lock_guard l(mu_);
  if (Second* s = slot(t)) {
    ++s->api_calls;
    if (refused) ++s->api_refused;
  }
}

void Timeline::breaker(rcache::BreakerState to) noexcept {
  const double t = now();
  std::lock_guard l(mu_);
  try {
    transitions_.emplace_back(t, to);
  } catch (...) {  // out of memory: this transition is missing from the chart
  }
}

void Timeline::redis_down() noexcept {
  const double t = now();
  std::lock_guard l(mu_);
  try {
    down_.emplace_back(t, -1.0);
  } catch (...) {  // out of memory: no band on the chart
  }
}

void Timeline::redis_up() noexcept {
  const double t = now();
  std::lock_guard l(mu_);
  if (!down_.empty() && down_.back().second < 0) down_.back().second = t;
  first_redis_answer_ = -1;
}

void Timeline::watch(int group) noexcept {
  std::lock_guard l(mu_);
  watched_ = group;
}

void Timeline::mark(const std::string& label, double at) noexcept {
  const double t = at >= 0 ? at : now();
  std::lock_guard l(mu_);
  try {
    marks_.emplace_back(t, label);
  } catch (...) {  // out of memory: no line on the chart
  }
}

std::vector<std::pair<double, std::string>> Timeline::marks() const {
  std::lock_guard l(mu_);
  return marks_;
}

std::vector<Second> Timeline::group_seconds(int g) const {
  std::lock_guard l(mu_);
  if (g < 0 || static_cast<std::size_t>(g) >= groups_.size()) return {};
  return groups_[static_cast<std::size_t>(g)];
}

double Timeline::redis_answers_resumed_after() const {
  std::lock_guard l(mu_);
  return first_redis_answer_;
}

std::vector<std::pair<double, double>> Timeline::redis_down_intervals() const {
  std::lock_guard l(mu_);
  auto out = down_;
  for (auto& [from, to] : out) {
    if (to < 0) to = static_cast<double>(seconds_.size());
  }
  return out;
}

std::vector<Second> Timeline::seconds() const {
  const auto down = redis_down_intervals();
  std::lock_guard l(mu_);
  std::vector<Second> out = seconds_;
  rcache::BreakerState state = rcache::BreakerState::closed;
  std::size_t next = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const double begin = static_cast<double>(i), end = begin + 1;
    // The state the second starts in, then every state it passes through.
    while (next < transitions_.size() && transitions_[next].first < begin) {
      state = transitions_[next++].second;
    }
    rcache::BreakerState worst = state;
    while (next < transitions_.size() && transitions_[next].first < end) {
      state = transitions_[next++].second;
      if (severity(state) > severity(worst)) worst = state;
    }
    out[i].breaker = worst;
    for (const auto& [from, to] : down) {
      out[i].redis_down += std::max(0.0, std::min(end, to) - std::max(begin, from));
    }
  }
  return out;
}

}  // namespace demo
