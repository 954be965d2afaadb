// The connection behind rcache::Subscriber: subscribes, delivers messages, reconnects and
// subscribes again.
//
//   connection  one Link of its own on the transport's loop (the data connections' handshake:
//               TLS, AUTH, SELECT), dialling where `target` says at each attempt (the pool's
//               master with Sentinel, a cluster node in turn, else the config's endpoint).
//   calls       one command per name (protocol/pubsub.hpp says why); a call made while the
//               connection is not ready waits for the next attempt (and makes it now): the
//               attempt's failure, or the call's deadline, fails it.
//   messages    parsed and handed to the handler of their channel or pattern at once, on the
//               loop thread; nothing is queued (a slow handler holds the socket's reading, and
//               Redis's pubsub output buffer limit eventually closes the connection).
//   loss        the connection closing fails the calls on it; the link reconnects with the
//               reconnect backoff; once ready, every confirmed name is subscribed again and, if
//               one was lost, on_resubscribed runs. A refused or timed-out restore is retried
//               on a new connection after reconnect_backoff_max.
//   heartbeat   every kHeartbeat: a PING when idle (a silent connection is found hung by the
//               pipeline and closed), the start once a Sentinel target is known, and a redial
//               when that target moved (the master changed).
//   lifetime    close() stops the link; the core stays alive kRetireDelay more (the link's libuv
//               handles close on the next loop turn), or until the transport is destroyed when
//               the transport is stopping or a name resolution may still be running. When the
//               transport stops first (the Client destroyed before the Subscriber), the core
//               goes inert and never touches the transport again.
//
// Thread safety: start(), run(), close() and status() from any thread (run() and start() not
// from the loop thread); the rest on the loop thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "protocol/pubsub.hpp"
#include "rcache/config.hpp"
#include "rcache/pubsub.hpp"
#include "resilience/subscriptions.hpp"
#include "transport/transport.hpp"

namespace rcache::detail {

class SubscriberCore : public std::enable_shared_from_this<SubscriberCore> {
 public:
  static constexpr std::chrono::milliseconds kHeartbeat{1000};
  static constexpr std::chrono::milliseconds kRetireDelay{100};

  struct Setup {
    Config cfg;  // copied: the core may outlive the Client (misuse), it must not read its config
    // Where the next attempt dials (loop thread); `attempt` counts attempts. nullopt: the
    // config's endpoint, or (wait_for_target) nothing yet: the link starts once there is one.
    std::function<std::optional<Target>(std::uint64_t attempt)> target;
    bool wait_for_target = false;
    bool follow_target = false;  // redial when target() names another node (Sentinel)
    SubscriberOptions options;
  };

  // `transport` and `clock` must outlive the core or stop first (see lifetime above).
  static std::shared_ptr<SubscriberCore> make(Setup setup, Transport& transport,
                                              const ClockSource& clock) {
    return std::shared_ptr<SubscriberCore>(new SubscriberCore(std::move(setup), transport, clock));
  }
  ~SubscriberCore();
  SubscriberCore(const SubscriberCore&) = delete;
  SubscriberCore& operator=(const SubscriberCore&) = delete;

  // Starts the connection and waits up to `limit` for its first outcome: the error of a refused
  // first attempt (auth, tls), else ok.
  Result<void> start(std::chrono::milliseconds limit);
  // One call: the verb on every name, until `deadline` (plus a margin on the caller's side).
  Result<void> run(PubSubVerb verb, std::vector<std::string> names, MessageHandler handler,
                   TimePoint deadline);
  // Stops for good; from another thread it waits until the loop ran it (no handler after).
  void close();
  SubscriberStatus status() const {
    SubscriberStatus s;
    s.connected = connected_.load(std::memory_order_relaxed);
    s.channels = channels_.load(std::memory_order_relaxed);
    s.patterns = patterns_.load(std::memory_order_relaxed);
    s.messages = messages_.load(std::memory_order_relaxed);
    s.unrouted = unrouted_.load(std::memory_order_relaxed);
    s.resubscribes = resubscribes_.load(std::memory_order_relaxed);
    s.reconnects = reconnects_.load(std::memory_order_relaxed);
    s.bad_frames = bad_frames_.load(std::memory_order_relaxed);
    std::lock_guard lock(mu_);
    s.last_error = last_error_;
    return s;
  }
  // The transport stopped (the Client is gone): nothing of it may be touched.
  bool gone() const noexcept { return gone_.load(std::memory_order_acquire); }

 private:
  class Observer;
  struct Call;
  struct Keeper;

  SubscriberCore(Setup setup, Transport& transport, const ClockSource& clock);
  void begin();  // loop thread
  void on_ready();
  void on_closing(const Error& why, LinkState from);
  void on_push(Outcome&& o);
  void deliver(const PushFrame& f);
  void restored(std::uint64_t incarnation);
  void start_call(const std::shared_ptr<Call>& call);
  void send_call(const std::shared_ptr<Call>& call);
  void on_call_reply(const std::shared_ptr<Call>& call, std::size_t i, Outcome&& o);
  void finish(const std::shared_ptr<Call>& call, Result<void> r);
  void send(PubSubVerb verb, const std::string& name, TimePoint deadline, Completion done);
  void restore(std::uint64_t incarnation);
  void retry_restore(std::uint64_t incarnation, const std::string& why);
  void heartbeat();
  void stop_inline(const Error& why);
  void close_inline();
  void set_error(const std::string& e);
  void first_outcome(std::optional<Error> e);

  Setup setup_;
  const Logger logger_;
  Transport& transport_;
  const ClockSource& clock_;
  const std::string endpoint_;
  std::weak_ptr<Keeper> keeper_;  // owned by the transport's stop hook
  std::unique_ptr<Observer> observer_;
  std::unique_ptr<Link> link_;

  // Loop thread.
  Subscriptions subs_;
  std::deque<std::shared_ptr<Call>> waiting_;  // calls made while the connection was not ready
  std::uint64_t next_call_ = 1;
  std::uint64_t incarnation_ = 0;  // bumped when the connection closes: older replies ignored
  std::uint64_t attempts_ = 0;
  std::optional<Target> target_;  // of the current attempt
  bool started_ = false;
  bool lost_ = false;  // a connection that had subscriptions was lost since the last restore
  bool closed_ = false;

  std::atomic<bool> gone_{false};
  std::atomic<bool> connected_{false};
  std::atomic<std::size_t> channels_{0}, patterns_{0};
  std::atomic<std::uint64_t> messages_{0}, unrouted_{0}, resubscribes_{0}, reconnects_{0},
      bad_frames_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string last_error_;            // guarded by mu_
  bool first_done_ = false;           // guarded by mu_
  std::optional<Error> first_error_;  // guarded by mu_
  bool close_done_ = false;           // guarded by mu_
};

}  // namespace rcache::detail
