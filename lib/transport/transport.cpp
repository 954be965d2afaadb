// The libuv loop thread: submit and post queues woken by one uv_async_t, timers, shutdown.
#include "transport/transport.hpp"

#include <algorithm>

#include "transport/connection.hpp"

namespace rcache::detail {

void complete(Completion& done, Outcome&& outcome) noexcept {
  Completion fn = std::move(done);
  done = nullptr;
  if (!fn) return;
  try {
    fn(std::move(outcome));
  } catch (...) {
    // A user callback threw; it must not unwind into libuv. Documented in callback.hpp.
  }
}

void complete(Request& request, Outcome&& outcome) noexcept {
  complete(request.done, std::move(outcome));
}

void complete(Request& request, Error error, bool sent) noexcept {
  Outcome o;
  o.sent = sent;
  try {
    o.error = std::move(error);
  } catch (...) {
  }
  complete(request, std::move(o));
}

std::string endpoint_of(const Config& c) {
  if (!c.sentinel_master.empty()) return "master '" + c.sentinel_master + "'";
  if (!c.unix_socket.empty()) return c.unix_socket;
  if (c.host.find(':') != std::string::npos) return "[" + c.host + "]:" + std::to_string(c.port);
  return c.host + ":" + std::to_string(c.port);
}

Transport::Transport(const Config& cfg, const Logger& logger, const ClockSource& clock)
    : cfg_(cfg), logger_(logger), clock_(clock) {}

Result<std::unique_ptr<Transport>> Transport::create(const Config& cfg, const Logger& logger,
                                                     const ClockSource& clock,
                                                     std::function<void()> on_available) {
  std::unique_ptr<Transport> t(new Transport(cfg, logger, clock));
  if (auto r = t->start(std::move(on_available)); !r) return std::move(r).error();
  return t;
}

Result<void> Transport::start(std::function<void()> on_available) {
  if (cfg_.tls) {
    auto ctx = TlsContext::create(cfg_);
    if (!ctx) return std::move(ctx).error();
    tls_ = std::move(*ctx);
    if (cfg_.tls_insecure_skip_verify) {
      logger_.event(LogLevel::warning, "tls_verification_off", endpoint_of(cfg_),
                    "TLS to " + endpoint_of(cfg_) +
                        ": tls_insecure_skip_verify is set: the server's certificate and name are "
                        "NOT verified; anyone on the path can read and change the traffic");
    }
  }
  pool_ = std::make_unique<Pool>(cfg_, logger_, endpoint_of(cfg_), std::move(on_available), clock_);
  if (int rc = uv_loop_init(&loop_); rc != 0) {
    return Error{Errc::connection, std::string("uv_loop_init: ") + uv_strerror(rc)};
  }
  loop_ready_ = true;
  if (int rc = uv_async_init(&loop_, &async_, on_async_cb); rc != 0) {
    return Error{Errc::connection, std::string("uv_async_init: ") + uv_strerror(rc)};
  }
  async_.data = this;
  uv_timer_init(&loop_, &timer_);
  timer_.data = this;
  uv_idle_init(&loop_, &idle_);
  idle_.data = this;
  // Handles are set up here, before the loop thread exists; from then on only it touches them.
  pool_->start([this](std::size_t index, LinkObserver& observer) -> std::unique_ptr<Link> {
    return std::make_unique<Connection>(observer, &loop_, cfg_, clock_, pool_->endpoint(), index,
                                        tls_);
  });
  thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  thread_started_ = true;
  loop_thread_id_ = thread_.get_id();
  return {};
}

void Transport::shutdown() {
  if (!thread_.joinable() || on_loop_thread()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    uv_async_send(&async_);
  }
  thread_.join();
}

std::pair<std::uint64_t, std::uint64_t> Transport::tls_counts() const {
  if (tls_ == nullptr) return {0, 0};
  return {tls_->handshakes(), tls_->resumed()};
}

PoolStatus Transport::status() const {
  PoolStatus s = pool_->status();
  if (tls_ != nullptr) {
    s.tls_handshakes = tls_->handshakes();
    s.tls_resumed = tls_->resumed();
  }
  return s;
}

Transport::~Transport() {
  shutdown();
  if (loop_ready_) {
    // After the join every handle is closed; if start() failed before the thread existed, only
    // the loop (and maybe the async handle) exist and a non-blocking run finishes their closing.
    if (!thread_started_ && async_.loop != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
      if (timer_.loop != nullptr) uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
      if (idle_.loop != nullptr) uv_close(reinterpret_cast<uv_handle_t*>(&idle_), nullptr);
      uv_run(&loop_, UV_RUN_NOWAIT);
    }
    uv_loop_close(&loop_);
  }
}

void Transport::on_async_cb(uv_async_t* handle) {
  auto* self = static_cast<Transport*>(handle->data);
  try {
    self->drain();
  } catch (...) {
  }
}

void Transport::on_idle_cb(uv_idle_t* handle) {
  auto* self = static_cast<Transport*>(handle->data);
  uv_idle_stop(handle);
  self->idle_armed_ = false;
  try {
    self->drain();
  } catch (...) {
  }
}

void Transport::drain() {
  bool stopping = false;
  {
    std::lock_guard lock(mu_);
    batch_.swap(queue_);
    run_.swap(posted_);
    stopping = stopping_;
  }
  for (auto& fn : run_) {
    try {
      fn();
    } catch (...) {
    }
  }
  run_.clear();
  if (stopping) {
    shutdown_loop();
    return;
  }
  if (node_pools_.empty()) {
    pool_->dispatch(batch_);
  } else {
    dispatch_by_pool();
  }
}

void Transport::dispatch_by_pool() {
  for (auto& r : batch_) {
    Pool* p = r.pool != nullptr ? r.pool : pool_.get();
    auto it =
        std::find_if(by_pool_.begin(), by_pool_.end(), [p](const auto& e) { return e.first == p; });
    if (it == by_pool_.end()) it = by_pool_.insert(by_pool_.end(), {p, {}});
    it->second.push_back(std::move(r));
  }
  batch_.clear();
  for (auto& [p, requests] : by_pool_) {
    if (!requests.empty()) p->dispatch(requests);
    requests.clear();
  }
}

Pool& Transport::add_pool(const Target& target, std::string via, std::function<void()> on_available,
                          bool readonly) {
  auto pool =
      std::make_unique<Pool>(cfg_, logger_, endpoint_of(target), std::move(on_available), clock_);
  pool->preset_target(target, std::move(via), readonly);
  Pool* p = pool.get();
  node_pools_.push_back(std::move(pool));
  if (stopping()) return *p;  // made during the shutdown: never started, nothing to close
  p->start([this, p](std::size_t index, LinkObserver& observer) -> std::unique_ptr<Link> {
    return std::make_unique<Connection>(observer, &loop_, cfg_, clock_, p->endpoint(), index, tls_);
  });
  return *p;
}

namespace {
class PoolSender final : public Sender {
 public:
  PoolSender(Transport& t, Pool& p) : t_(t), p_(p) {}
  void submit(Request&& r) override {
    r.pool = &p_;
    t_.submit(std::move(r));
  }
  void post(std::function<void()> fn) override { t_.post(std::move(fn)); }
  void schedule_after(std::chrono::microseconds d, std::function<void()> fn) override {
    t_.schedule_after(d, std::move(fn));
  }
  bool on_loop_thread() const noexcept override { return t_.on_loop_thread(); }

 private:
  Transport& t_;
  Pool& p_;
};
}  // namespace

std::unique_ptr<Sender> Transport::sender_for(Pool& pool) {
  return std::make_unique<PoolSender>(*this, pool);
}

std::unique_ptr<Link> Transport::make_link(const Config& cfg, LinkObserver& observer,
                                           std::size_t index) {
  const Target* t = observer.target();
  return std::make_unique<Connection>(observer, &loop_, cfg, clock_,
                                      t != nullptr ? endpoint_of(*t) : endpoint_of(cfg), index,
                                      tls_);
}

void Transport::shutdown_loop() {
  const Error why{Errc::shutdown, "client is shutting down"};
  for (auto& fn : stop_hooks_) {
    try {
      fn();
    } catch (...) {
    }
  }
  for (auto& r : batch_) complete(r, why);
  batch_.clear();
  pool_->stop(why);
  // By index: a completion run by a stop may still make a (never started) pool.
  for (std::size_t i = 0; i < node_pools_.size(); ++i) node_pools_[i]->stop(why);
  {
    // Late submissions (from the callbacks above) are refused by submit() itself; collect any
    // that raced in before stopping_ was seen.
    std::vector<Request> late;
    std::vector<std::function<void()>> late_posts;
    {
      std::lock_guard lock(mu_);
      late.swap(queue_);
      late_posts.swap(posted_);
    }
    for (auto& fn : late_posts) {
      try {
        fn();
      } catch (...) {
      }
    }
    for (auto& r : late) complete(r, why);
  }
  // Pending retries run now; their submissions fail with shutdown.
  while (!timers_.empty()) {
    auto fn = std::move(timers_.begin()->second);
    timers_.erase(timers_.begin());
    try {
      fn();
    } catch (...) {
    }
  }
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&timer_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
  }
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&async_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
  }
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&idle_))) {
    uv_idle_stop(&idle_);
    idle_armed_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&idle_), nullptr);
  }
}

void Transport::schedule_after(std::chrono::microseconds delay, std::function<void()> fn) {
  bool stopping = false;
  {
    std::lock_guard lock(mu_);
    stopping = stopping_;
  }
  if (stopping) {
    fn();
    return;
  }
  timers_.emplace(clock_.now() + delay, std::move(fn));
  arm_timer();
}

void Transport::arm_timer() {
  if (timers_.empty()) {
    uv_timer_stop(&timer_);
    return;
  }
  const auto now = clock_.now();
  const auto first = timers_.begin()->first;
  const auto ms =
      first <= now ? 0 : std::chrono::ceil<std::chrono::milliseconds>(first - now).count();
  uv_timer_start(&timer_, on_timer_cb, static_cast<std::uint64_t>(ms), 0);
}

void Transport::on_timer_cb(uv_timer_t* handle) {
  auto* self = static_cast<Transport*>(handle->data);
  try {
    const auto now = self->clock_.now();
    std::vector<std::function<void()>> due;
    while (!self->timers_.empty() && self->timers_.begin()->first <= now) {
      due.push_back(std::move(self->timers_.begin()->second));
      self->timers_.erase(self->timers_.begin());
    }
    for (auto& fn : due) {
      try {
        fn();
      } catch (...) {
      }
    }
    self->arm_timer();
    self->pool_->flush_all();
    for (auto& p : self->node_pools_) p->flush_all();
  } catch (...) {
  }
}

template <class Item>
bool Transport::enqueue(std::vector<Item>& queue, Item& item) {
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  const bool wake = queue_.empty() && posted_.empty();
  queue.push_back(std::move(item));
  if (!wake) return true;  // a wake-up (async or idle) is pending already
  if (on_loop_thread()) {
    // The loop is awake: drain before it next polls. idle_ is only touched here and by the loop
    // thread's own callbacks, and is closed (by shutdown_loop) only once stopping_ is set,
    // which this thread sees under the lock.
    if (!idle_armed_) {
      idle_armed_ = true;
      uv_idle_start(&idle_, on_idle_cb);
    }
    return true;
  }
  // Under the lock, so that no send can follow the destructor's.
  uv_async_send(&async_);
  return true;
}

void Transport::submit(Request&& r) {
  if (enqueue(queue_, r)) return;
  complete(r, Error{Errc::shutdown, std::string(r.name) + ": client is shutting down"});
}

void Transport::post(std::function<void()> fn) {
  if (enqueue(posted_, fn)) return;
  try {
    fn();
  } catch (...) {
  }
}

}  // namespace rcache::detail
