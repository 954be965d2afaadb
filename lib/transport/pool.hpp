// The connections to one endpoint: which one takes a batch, and what state they are in.
//
// dispatch() gives a loop turn's whole batch to the least loaded ready connection (one write for
// many commands; a connection stuck behind a slow command is avoided). With none ready the batch
// waits, within each request's deadline, in a connection that is coming up, or, right after a
// drop (a server that answered a moment ago), in one waiting to reconnect: calls ride through a
// reconnect instead of failing during it. At most Config::max_waiting_for_connection wait; past
// that a request fails with Errc::rejected. Once a connect or handshake attempt fails with nothing
// ready, the server is taken as down and requests fail at once with the last connection error
// (Errc::auth if that was an auth refusal) until a connection is ready again. The pool logs one
// line per pool-level change (unreachable / reachable again), never one per connection attempt.
//
// Thread safety: dispatch(), flush_all(), stop() and the LinkObserver side run on the loop thread;
// status(), last_error(), ready(), wait_first_outcome() and set_probing() from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/backoff.hpp"
#include "base/clock.hpp"
#include "base/log.hpp"
#include "rcache/config.hpp"
#include "rcache/status.hpp"
#include "transport/link.hpp"
#include "transport/reachability.hpp"

namespace rcache::detail {

class Pool final : public LinkObserver, public Reachability {
 public:
  // on_available runs on the loop thread each time the pool goes from no ready connection to one
  // (the first time included). cfg and logger must outlive the Pool.
  // `clock` times the window of one loss (drop_id()).
  // The address being served now ("host:port"; under Sentinel, the current master).
  std::string current_endpoint() const {
    std::lock_guard lock(status_mu_);
    return current_endpoint_.empty() ? endpoint_ : current_endpoint_;
  }
  Pool(const Config& cfg, const Logger& logger, std::string endpoint,
       std::function<void()> on_available, const ClockSource& clock = SteadyClock::instance());
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Makes cfg.pool_size links with `factory` and starts them; with Config::sentinel_master or
  // Config::cluster_nodes set and no preset target, they start at the first set_target().
  void start(const LinkFactory& factory);
  // Before start(): the address to dial (a cluster node's), set quietly (no move is logged);
  // `readonly`: its connections say READONLY (they may read from a cluster replica).
  void preset_target(const Target& target, std::string via, bool readonly = false) {
    target_ = target;
    readonly_ = readonly;
    std::lock_guard lock(status_mu_);
    current_endpoint_ = endpoint_of(target);
    via_ = std::move(via);
  }

  // Topology (loop thread). Where the links dial from now on: the first call starts them; a
  // change redials every link (what they hold fails with a connection error naming the move).
  // `via` says how the target was found, for status ("sentinel 127.0.0.1:26379").
  void set_target(const Target& target, const std::string& via);
  // Discovery failed before any target was known: `why` becomes the last error and the start-up
  // wait ends.
  void fail_discovery(const Error& why);
  // Topology (any thread): why the target could not be looked up lately; "" once it could.
  void set_discovery_error(std::string why) {
    std::lock_guard lock(status_mu_);
    discovery_error_ = std::move(why);
  }
  // Topology: a lookup of the target failed everywhere (for status and metrics).
  void count_failed_discovery() noexcept {
    discovery_failures_.fetch_add(1, std::memory_order_relaxed);
  }
  // Told after every set_target() that changed the target, the first included (loop thread).
  void set_move_watcher(std::function<void()> watcher) { on_move_ = std::move(watcher); }
  // Told of every connection attempt or connection that failed (to rediscover the master).
  void set_failure_watcher(std::function<void(const Error&)> watcher) {
    on_failure_ = std::move(watcher);
  }

  void dispatch(std::vector<Request>& batch);
  Link* pick();
  void flush_all();
  void stop(const Error& why);

  PoolStatus status() const;
  Error last_error() const override;
  std::size_t ready() const noexcept override { return ready_.load(std::memory_order_relaxed); }
  std::string last_error_text() const override { return status().last_error; }
  std::string where() const override { return endpoint_; }
  const std::string& endpoint() const noexcept { return endpoint_; }
  // Waits until a connection is ready or every connection has failed once (at most `limit`).
  // True if one is ready.
  bool wait_first_outcome(std::chrono::milliseconds limit);
  // Runs `fn(reached)` once that outcome is known (on the loop thread), or returns false without
  // keeping `fn` when it is known already (the caller then decides at once). Any thread; once.
  bool when_first_outcome(std::function<void(bool reached)> fn);
  // Probing: reconnects follow the slower probe schedule (Config::probe_min..probe_max).
  void set_probing(bool on) noexcept override { probing_.store(on); }

  // LinkObserver
  void on_link_state(const Link& link, LinkState from, LinkState to) override;
  BackoffShape reconnect_shape() const override;
  const Target* target() const override { return target_ ? &*target_ : nullptr; }
  bool readonly() const override { return readonly_; }
  // Links that were ready and drop within kLossWindow of the first of them, before any link is
  // ready again, share one id: losing the whole pool at once (CLIENT KILL, a proxy restart) is
  // one signal, not pool_size of them; drops further apart are events of their own. A failed
  // connect or handshake gets an id of its own.
  static constexpr std::chrono::milliseconds kLossWindow{250};
  std::uint64_t drop_id(const Link& link, LinkState from) override;

 private:
  void fail_unconnected(Request& request) const;
  void reject_waiting(Request& request) const;
  std::size_t waiting_for_connection() const noexcept;

  const Config& cfg_;
  const Logger& logger_;
  const std::string endpoint_;
  std::function<void()> on_available_;
  const ClockSource& clock_;
  std::vector<std::unique_ptr<Link>> links_;
  LinkFactory factory_;                           // until the links exist (deferred start)
  std::optional<Target> target_;                  // loop thread
  bool readonly_ = false;                         // set before start()
  std::function<void(const Error&)> on_failure_;  // loop thread
  std::function<void()> on_move_;                 // loop thread
  std::size_t next_ = 0;
  bool reported_down_ = false;  // loop thread
  bool riding_ = false;         // loop thread: a drop, and no failed reconnect attempt since
  std::uint64_t loss_ = 0;      // loop thread: the id of ready links lost since one was ready
  TimePoint loss_at_{};         // loop thread: when loss_ began
  std::string logged_refusal_;  // loop thread: the auth/TLS refusal last logged

  std::atomic<std::size_t> ready_{0}, connecting_{0}, down_{0};
  std::atomic<std::uint64_t> reconnects_{0};
  std::atomic<std::uint64_t> target_moves_{0}, discovery_failures_{0};
  std::atomic<bool> probing_{false};
  mutable std::mutex status_mu_;
  Error last_error_;                                      // guarded by status_mu_
  std::string current_endpoint_, via_, discovery_error_;  // guarded by status_mu_
  std::mutex first_mu_;
  std::condition_variable first_cv_;
  std::vector<bool> first_seen_;                // guarded by first_mu_
  std::size_t first_outcomes_ = 0;              // guarded by first_mu_
  std::function<void(bool)> on_first_outcome_;  // guarded by first_mu_
  bool first_outcome_known() const;             // first_mu_ held
};

}  // namespace rcache::detail
