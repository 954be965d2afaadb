// The decisions of Sentinel discovery, without connections or clocks of its own, so that they
// can be tested as plain logic (SentinelMonitor does the I/O and asks this what to do):
//
//   which sentinel   the query connection and the subscriber connection each sit on one sentinel
//                    of the list; a sentinel that fails them moves them to the next one.
//   answers          the sentinel that gave the master's address goes to the front of the list,
//                    so that the next query (and every later start of the rotation) asks it first.
//   rounds           when every sentinel in turn failed to give the address, a round is over. Its
//                    error is the most telling of the round: a configuration error (an unknown
//                    master name, invalid_argument) beats refused credentials (auth), which beat
//                    connection failures. Before any master is known that ends the start-up wait;
//                    after, the known master is kept and discovery is reported as failing until
//                    a sentinel answers again.
//   pacing           queries are at least kMinInterval apart; one asked for sooner waits.
//
// Thread safety: none; the monitor uses it on the loop thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "rcache/error.hpp"
#include "transport/link.hpp"

namespace rcache::detail {

class SentinelRounds {
 public:
  static constexpr std::chrono::milliseconds kMinInterval{100};

  // sentinels must not be empty.
  SentinelRounds(std::vector<Target> sentinels, std::string master);

  std::size_t size() const noexcept { return sentinels_.size(); }
  const Target& query_target() const noexcept { return sentinels_[query_at_]; }
  const Target& sub_target() const noexcept { return sentinels_[sub_at_]; }
  void next_query() noexcept { query_at_ = (query_at_ + 1) % sentinels_.size(); }
  void next_sub() noexcept { sub_at_ = (sub_at_ + 1) % sentinels_.size(); }

  // What a failed round means.
  struct RoundOver {
    Error why;                  // "no sentinel gave the address of master 'm' (3 asked; ...)"
    bool before_master = true;  // no master was ever known: start-up must stop waiting
    bool newly_failing = true;  // the first failed round since the last answer (log it once)
  };
  // The sentinel being asked (query_target) failed to give the address. A round is over when
  // every sentinel has failed in a row; then the counts restart.
  std::optional<RoundOver> failed(const Error& e);
  // The sentinel being asked gave the address: it goes to the front (the subscriber stays on
  // the sentinel it is on). True when discovery had been failing until now.
  bool answered();
  // A +switch-master from the subscriber's sentinel also makes the master known.
  void master_known() noexcept { have_master_ = true; }

  bool have_master() const noexcept { return have_master_; }
  bool failing() const noexcept { return failing_; }
  std::size_t failed_in_row() const noexcept { return failed_in_row_; }

  // Pacing: how long a query asked for at `now` must wait (zero: it may go at once), and the
  // record that one went.
  std::chrono::nanoseconds wait_before_query(TimePoint now) const noexcept;
  void queried(TimePoint now) noexcept {
    last_query_ = now;
    ever_queried_ = true;
  }

 private:
  std::vector<Target> sentinels_;
  std::string master_;
  std::size_t query_at_ = 0;
  std::size_t sub_at_ = 0;
  std::size_t failed_in_row_ = 0;
  Error round_error_;
  bool have_master_ = false;
  bool failing_ = false;
  bool ever_queried_ = false;
  TimePoint last_query_{};
};

}  // namespace rcache::detail
