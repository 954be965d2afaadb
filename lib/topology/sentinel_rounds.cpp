// Sentinel discovery's decisions: rotation, rounds of failures, move-to-front, pacing.
#include "topology/sentinel_rounds.hpp"

#include <utility>

namespace rcache::detail {

namespace {

// How telling an error is about why no sentinel gave the address: configuration first.
int rank(Errc c) noexcept {
  switch (c) {
    case Errc::invalid_argument:
      return 2;
    case Errc::auth:
      return 1;
    default:
      return 0;
  }
}

}  // namespace

SentinelRounds::SentinelRounds(std::vector<Target> sentinels, std::string master)
    : sentinels_(std::move(sentinels)), master_(std::move(master)) {}

std::optional<SentinelRounds::RoundOver> SentinelRounds::failed(const Error& e) {
  if (round_error_.message.empty() || rank(e.code) > rank(round_error_.code)) round_error_ = e;
  if (++failed_in_row_ < sentinels_.size()) return std::nullopt;
  RoundOver over;
  over.why = Error{
      round_error_.code == Errc{} ? Errc::connection : round_error_.code,
      "no sentinel gave the address of master '" + master_ + "' (" +
          std::to_string(sentinels_.size()) + " asked; " +
          (round_error_.message.empty() ? std::string("no answer") : round_error_.message) + ")"};
  over.before_master = !have_master_;
  over.newly_failing = !failing_;
  failed_in_row_ = 0;
  round_error_ = Error{};
  if (have_master_) failing_ = true;
  return over;
}

bool SentinelRounds::answered() {
  failed_in_row_ = 0;
  round_error_ = Error{};
  have_master_ = true;
  const bool recovered = failing_;
  failing_ = false;
  if (query_at_ != 0) {
    const Target first = sentinels_[query_at_];
    sentinels_.erase(sentinels_.begin() + static_cast<std::ptrdiff_t>(query_at_));
    sentinels_.insert(sentinels_.begin(), first);
    // The subscriber stays on its sentinel, whose index may have moved up by one.
    if (sub_at_ == query_at_) {
      sub_at_ = 0;
    } else if (sub_at_ < query_at_) {
      ++sub_at_;
    }
    query_at_ = 0;
  }
  return recovered;
}

std::chrono::nanoseconds SentinelRounds::wait_before_query(TimePoint now) const noexcept {
  if (!ever_queried_) return std::chrono::nanoseconds{0};
  const auto since = now - last_query_;
  if (since >= kMinInterval) return std::chrono::nanoseconds{0};
  return std::chrono::duration_cast<std::chrono::nanoseconds>(kMinInterval - since);
}

}  // namespace rcache::detail
