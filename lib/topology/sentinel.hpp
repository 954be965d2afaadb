// Finds the master through Sentinel and follows it.
//
//   discovery   a query connection asks the sentinels in turn SENTINEL GET-MASTER-ADDR-BY-NAME;
//               the one that answered moves to the front. The answer becomes the pool's target
//               (Pool::set_target: the first starts the pool, a change redials it).
//   signals     a failed connection or connection attempt of the pool (a dead master, a replica
//               refused by the ROLE check of the handshake), a READONLY reply, and a periodic
//               refresh (kRefresh) each ask again; at most one query is in flight and queries
//               are SentinelRounds::kMinInterval apart.
//   decisions   which sentinel to ask, when a round of failures is over and what it says, who
//               goes first: SentinelRounds (pure logic, unit-tested). This class does the I/O.
//   following   a subscriber connection to a sentinel listens for +switch-master of our master
//               and moves the pool at once; when that sentinel goes away the subscriber moves to
//               the next one and a query covers what it may have missed.
//
// Sentinel connections use sentinel_username / sentinel_password, no SELECT, no ROLE check, and
// TLS when the client uses TLS. If every sentinel fails before any master is known, the pool is
// told (Pool::fail_discovery) so that start-up does not wait for nothing: an unknown master name
// is Errc::invalid_argument, refused credentials Errc::auth, anything else Errc::connection.
//
// Thread safety: everything runs on the transport's loop thread (start() is posted there). What
// other threads see of it goes through the pool (Pool::status(): endpoint, via, discovery_error).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "rcache/config.hpp"
#include "topology/sentinel_rounds.hpp"
#include "transport/transport.hpp"

namespace rcache::detail {

class SentinelMonitor {
 public:
  static constexpr std::chrono::milliseconds kRefresh{5000};

  // cfg must have sentinel_master and sentinels set (validated); every reference must outlive
  // the monitor, and the monitor must outlive the transport's loop thread.
  SentinelMonitor(const Config& cfg, const Logger& logger, const ClockSource& clock,
                  Transport& transport);
  ~SentinelMonitor();
  SentinelMonitor(const SentinelMonitor&) = delete;
  SentinelMonitor& operator=(const SentinelMonitor&) = delete;

  // Loop thread (post it): creates the sentinel connections and asks for the master.
  void start();
  // Loop thread: ask again (a READONLY reply, a failed pool connection). Rate-limited.
  void rediscover();

 private:
  class Observer;  // a sentinel link's observer: its target is the sentinel it is on

  void query();
  void on_answer(Outcome&& o);
  void count_failure(const Error& e);
  void next_query_sentinel();
  void after_round_failed(const SentinelRounds::RoundOver& over);
  void query_later(std::chrono::nanoseconds after);
  void on_push(Outcome&& o);
  void subscribe();
  void schedule_refresh();
  void stop();

  const Config& cfg_;
  const Logger& logger_;
  const ClockSource& clock_;
  Transport& transport_;
  Config sentinel_cfg_;  // what the sentinel connections use

  // Loop thread.
  std::optional<SentinelRounds> rounds_;  // the decisions; empty without a valid sentinel
  std::unique_ptr<Observer> query_obs_, sub_obs_;
  std::unique_ptr<Link> query_link_, sub_link_;
  bool querying_ = false;              // a query is in flight
  bool redialling_ = false;            // next_query_sentinel() is closing the query link
  bool want_answer_ = false;           // a query is wanted (sent when the query link is up)
  bool again_ = false;                 // asked again while one was in flight
  bool lookup_failed_logged_ = false;  // master_lookup_failed said: master_found will end it
  bool want_subscribe_ = true;         // the subscriber link must (re)subscribe once ready
  bool stopped_ = false;
  bool query_scheduled_ = false;
};

}  // namespace rcache::detail
