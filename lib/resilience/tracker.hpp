// The near cache's invalidation connection: keeps NearCache coherent with Redis.
//
//   set-up      one connection of its own to the node the pool uses (the master found through
//               Sentinel included; it follows the pool when the master moves), with the data
//               connections' handshake. Once ready: CLIENT ID, then CLIENT TRACKING on REDIRECT
//               <its own id> BCAST [PREFIX key_prefix] NOLOOP and SUBSCRIBE __redis__:invalidate
//               (protocol/tracking.hpp says why BCAST on this connection). The subscription
//               confirmed, the near cache is coherent (NearCache::coherence_gained).
//   messages    an invalidation drops its keys; a null one (FLUSHALL, FLUSHDB) drops everything.
//   loss        the connection closing, for any reason, makes the near cache incoherent at once
//               (NearCache::coherence_lost: entries stale-only, fills refused); it reconnects with
//               the reconnect backoff and subscribes again.
//   heartbeat   a PING every kHeartbeat with the command timeout as deadline: a connection that
//               went silent (no RST, no keepalive yet) is found hung by the pipeline and closed,
//               so lost invalidations cannot go unnoticed for longer than about kHeartbeat +
//               command_timeout + hung_after.
//   refusal     a Redis that refuses tracking (older than 6, or an ACL) leaves the near cache
//               incoherent (it then serves only outage copies), logged once with the reason;
//               a new connection tries again every probe_max. A set-up step that times out on
//               a connection that stays up is retried on a new one after reconnect_backoff_max.
//
// Thread safety: everything runs on the transport's loop thread (start() is posted there);
// refusal() may be read from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "rcache/config.hpp"
#include "resilience/near_cache.hpp"
#include "transport/transport.hpp"

namespace rcache::detail {

class Tracker {
 public:
  static constexpr std::chrono::milliseconds kHeartbeat{1000};

  // Every reference must outlive the tracker, and the tracker the transport's loop thread.
  Tracker(const Config& cfg, const Logger& logger, const ClockSource& clock, Transport& transport,
          NearCache& near);
  ~Tracker();
  Tracker(const Tracker&) = delete;
  Tracker& operator=(const Tracker&) = delete;

  // Loop thread (post it).
  void start();
  // Why tracking is off ("" when it is on or not yet tried).
  std::string refusal() const;

 private:
  class Observer;

  void on_ready();
  void on_closing(const Error& why);
  void on_id(std::uint64_t incarnation, Outcome&& o);
  void on_tracking(std::uint64_t incarnation, Outcome&& o);
  void on_push(Outcome&& o);
  void send(std::string wire, std::uint32_t replies, const char* name, Completion done);
  void refuse(const Error& e);
  // The set-up of connection `incarnation` failed: a new connection after `after`.
  void retry_setup(std::uint64_t incarnation, std::chrono::milliseconds after,
                   const std::string& why);
  void heartbeat();
  void stop();

  const Config& cfg_;
  const Logger& logger_;
  const ClockSource& clock_;
  Transport& transport_;
  NearCache& near_;
  std::unique_ptr<Observer> observer_;
  std::unique_ptr<Link> link_;

  // Loop thread.
  std::uint64_t incarnation_ = 0;  // bumped when the connection closes: older replies ignored
  bool tracking_ = false;          // subscribed on the current connection
  bool lost_ = false;              // invalidations lost was logged (its end is said as loudly)
  bool started_ = false;
  bool stopped_ = false;

  mutable std::mutex mu_;
  std::string refusal_;  // guarded by mu_
};

}  // namespace rcache::detail
