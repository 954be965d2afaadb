// The libuv loop thread behind a Client: the submit queue, timers, and the pool it drives.
//
// submit() and post() may be called from any thread: the item joins a queue and one uv_async_t
// wakes the loop, which takes the whole queue in one turn; requests go to the pool as one batch.
//
// libuv handles: loop_, async_ and timer_ live in the Transport. The loop thread closes async_
// and timer_ (and the pool its connections' handles) when stopping; uv_run() then returns, the
// destructor joins the thread and only then closes the loop; the pool (and the connections
// holding handle memory) is destroyed after that.
//
// Thread safety: submit(), post(), pool() readers, loop_thread() from any thread; the rest on
// the loop thread. The destructor (one thread, no concurrent submit) completes everything still
// pending with Errc::shutdown and joins the loop thread.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "rcache/config.hpp"
#include "transport/pool.hpp"
#include "transport/sender.hpp"
#include "transport/tls.hpp"

namespace rcache::detail {

class Transport final : public Sender {
 public:
  // cfg, logger and clock must outlive the Transport. on_available: see Pool.
  static Result<std::unique_ptr<Transport>> create(const Config& cfg, const Logger& logger,
                                                   const ClockSource& clock,
                                                   std::function<void()> on_available = {});
  ~Transport() override;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Completes everything pending with Errc::shutdown and joins the loop thread. Idempotent; the
  // Transport stays usable as a Sender (submit and post then run at once with `shutdown`), so
  // callbacks that run during the shutdown may still call into it. Not from the loop thread.
  void shutdown();

  void submit(Request&& request) override;
  void post(std::function<void()> fn) override;
  void schedule_after(std::chrono::microseconds delay, std::function<void()> fn) override;
  bool on_loop_thread() const noexcept override {
    return std::this_thread::get_id() == loop_thread_id_;
  }
  std::thread::id loop_thread() const noexcept { return loop_thread_id_; }

  Pool& pool() noexcept { return *pool_; }
  const Pool& pool() const noexcept { return *pool_; }
  // "host:port", "[v6]:port" or the socket path; for messages and logs.
  const std::string& endpoint() const noexcept { return pool_->endpoint(); }
  // The pool's status with the TLS handshake counts.
  PoolStatus status() const;
  // TLS handshakes of every connection of this transport, and how many resumed; 0 without TLS.
  std::pair<std::uint64_t, std::uint64_t> tls_counts() const;

  // For a topology (loop thread): a connection on this loop with its own config and observer
  // (a sentinel), both of which must outlive it; TLS as for the pool. `on_stop` runs on the loop
  // thread when the transport stops, before the pool does: it must stop such links.
  std::unique_ptr<Link> make_link(const Config& cfg, LinkObserver& observer, std::size_t index);
  void on_stop(std::function<void()> fn) { stop_hooks_.push_back(std::move(fn)); }

  // For a cluster (loop thread): a pool of its own for one more node, dialling `target`, on this
  // loop. It lives until the Transport is destroyed; on_available as for the main pool.
  // `readonly`: see Pool::preset_target.
  Pool& add_pool(const Target& target, std::string via, std::function<void()> on_available,
                 bool readonly = false);
  // A Sender whose requests go to `pool` (the main pool or one made by add_pool); it must not
  // outlive the Transport.
  std::unique_ptr<Sender> sender_for(Pool& pool);
  // shutdown() has begun (any thread): work posted or scheduled from now on runs at once, so a
  // topology must not start anything or schedule itself again.
  bool stopping() const {
    std::lock_guard lock(mu_);
    return stopping_;
  }

 private:
  Transport(const Config& cfg, const Logger& logger, const ClockSource& clock);
  Result<void> start(std::function<void()> on_available);
  // Appends to one of the queues and wakes the loop; false once stopping (item untouched).
  template <class Item>
  bool enqueue(std::vector<Item>& queue, Item& item);
  void drain();
  void shutdown_loop();
  static void on_async_cb(uv_async_t* handle);
  static void on_idle_cb(uv_idle_t* handle);
  static void on_timer_cb(uv_timer_t* handle);
  void arm_timer();

  const Config& cfg_;
  const Logger& logger_;
  const ClockSource& clock_;
  uv_loop_t loop_{};
  bool loop_ready_ = false;
  uv_async_t async_{};
  uv_timer_t timer_{};
  // Work queued by the loop thread itself (a completion that submits the next call) needs no
  // wake-up: the loop is awake. An idle handle, started on such a submit, drains the queue
  // before the loop next polls (and keeps that poll from blocking), so all the submits of one
  // loop turn go out together without an eventfd write and epoll wake-up each.
  uv_idle_t idle_{};
  bool idle_armed_ = false;  // loop thread
  std::thread thread_;
  bool thread_started_ = false;
  std::thread::id loop_thread_id_{};
  std::shared_ptr<TlsContext> tls_;  // when cfg.tls: shared by every connection
  std::unique_ptr<Pool> pool_;
  std::vector<std::unique_ptr<Pool>> node_pools_;  // loop thread (a cluster's nodes)
  // loop thread: a turn's requests by pool, when there are node pools
  std::vector<std::pair<Pool*, std::vector<Request>>> by_pool_;
  void dispatch_by_pool();

  mutable std::mutex mu_;
  std::vector<Request> queue_;                 // guarded by mu_
  std::vector<std::function<void()>> posted_;  // guarded by mu_
  bool stopping_ = false;                      // guarded by mu_
  std::vector<Request> batch_;                 // loop thread: the queue taken in this turn
  std::vector<std::function<void()>> run_;     // loop thread: the posted work of this turn

  std::multimap<TimePoint, std::function<void()>> timers_;  // loop thread
  std::vector<std::function<void()>> stop_hooks_;           // loop thread
};

// "host:port", "[v6]:port" or the socket path.
std::string endpoint_of(const Config& cfg);

}  // namespace rcache::detail
