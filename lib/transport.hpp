// The libuv loop thread and the connection pool behind a Client.
//
// submit() may be called from any thread: the request joins a queue and one uv_async_t wakes the
// loop, which takes the whole queue in one turn and writes it to the least loaded ready connection
// in one write. A request submitted while no connection is up or
// coming up fails at once with the last connection error instead of waiting.
//
// Thread safety: submit(), status(), loop_thread() are safe from any thread; the rest is internal
// to the loop thread. The destructor (one thread, no concurrent submit) completes everything still
// pending with Errc::shutdown and joins the loop thread.
#pragma once

#include <uv.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "connection.hpp"
#include "log.hpp"
#include "rcache/client.hpp"
#include "rcache/config.hpp"
#include "request.hpp"

namespace rcache::detail {

class Transport {
 public:
  // cfg and logger must outlive the Transport. on_available runs on the loop thread each time
  // the pool goes from no ready connection to one (the first time included).
  static Result<std::unique_ptr<Transport>> create(const Config& cfg, const Logger& logger,
                                                   std::function<void()> on_available = {});
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  void submit(Request&& request);
  PoolStatus status() const;
  Error last_error() const;
  std::thread::id loop_thread() const noexcept { return loop_thread_id_; }
  const Config& config() const noexcept { return cfg_; }
  // "host:port", "[v6]:port" or the socket path; for messages and logs.
  const std::string& endpoint() const noexcept { return endpoint_; }

  // Loop thread only: runs `fn` on the loop thread after `delay`. At shutdown pending ones run at
  // once (whatever they submit then fails with Errc::shutdown), so nothing is left hanging.
  void schedule_after(std::chrono::microseconds delay, std::function<void()> fn);
  bool on_loop_thread() const noexcept { return std::this_thread::get_id() == loop_thread_id_; }

  // Waits until a connection is ready or every connection has failed once (at most `limit`).
  // True if one is ready.
  bool wait_first_outcome(std::chrono::milliseconds limit);
  // Disabled: calls are refused with Errc::disabled and connections reconnect with the probe
  // backoff, until a connection becomes ready, which clears it.
  // Marks the client disabled unless a connection is (or becomes) ready meanwhile.
  void disable_unless_ready();
  bool disabled() const noexcept { return disabled_.load(); }

  // Loop thread: a connection changed state.
  void on_connection_state(const Connection& c, Connection::State from, Connection::State to);

 private:
  Transport(const Config& cfg, const Logger& logger);
  Result<void> start();
  void run();
  void drain();
  Connection* pick();
  void fail_unconnected(Request& request);
  void shutdown_loop();
  static void on_async_cb(uv_async_t* handle);
  static void on_timer_cb(uv_timer_t* handle);
  void arm_timer();

  const Config& cfg_;
  const Logger& logger_;
  const std::string endpoint_;
  uv_loop_t loop_{};
  bool loop_ready_ = false;
  uv_async_t async_{};
  std::thread thread_;
  bool thread_started_ = false;
  std::thread::id loop_thread_id_{};

  std::mutex mu_;
  std::vector<Request> queue_;  // guarded by mu_
  bool stopping_ = false;       // guarded by mu_
  std::vector<Request> batch_;  // loop thread: the queue taken in this turn

  uv_timer_t timer_{};
  std::multimap<Clock::time_point, std::function<void()>> timers_;  // loop thread

  std::vector<std::unique_ptr<Connection>> conns_;
  std::size_t next_ = 0;

  std::atomic<std::size_t> ready_{0}, connecting_{0}, down_{0};
  std::atomic<std::uint64_t> reconnects_{0};
  mutable std::mutex status_mu_;
  Error last_error_;  // guarded by status_mu_
  bool reported_down_ = false;  // loop thread
  std::atomic<bool> disabled_{false};
  std::function<void()> on_available_;
  std::mutex first_mu_;
  std::condition_variable first_cv_;
  std::vector<bool> first_seen_;       // guarded by first_mu_
  std::size_t first_outcomes_ = 0;     // guarded by first_mu_
};

}  // namespace rcache::detail
