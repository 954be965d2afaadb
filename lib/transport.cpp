#include "transport.hpp"

namespace rcache::detail {

void complete(Request& request, Outcome&& outcome) noexcept {
  Completion done = std::move(request.done);
  request.done = nullptr;
  if (!done) return;
  try {
    done(std::move(outcome));
  } catch (...) {
    // A user callback threw; it must not unwind into libuv. Documented in client.hpp.
  }
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

namespace {
std::string endpoint_of(const Config& c) {
  if (!c.unix_socket.empty()) return c.unix_socket;
  if (c.host.find(':') != std::string::npos) return "[" + c.host + "]:" + std::to_string(c.port);
  return c.host + ":" + std::to_string(c.port);
}
}  // namespace

Transport::Transport(const Config& cfg, const Logger& logger)
    : cfg_(cfg), logger_(logger), endpoint_(endpoint_of(cfg)) {}

Result<std::unique_ptr<Transport>> Transport::create(const Config& cfg, const Logger& logger,
                                                     std::function<void()> on_available) {
  std::unique_ptr<Transport> t(new Transport(cfg, logger));
  t->on_available_ = std::move(on_available);
  if (auto r = t->start(); !r) return std::move(r).error();
  return t;
}

Result<void> Transport::start() {
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
  first_seen_.assign(cfg_.pool_size, false);
  conns_.reserve(cfg_.pool_size);
  down_ = cfg_.pool_size;
  for (std::size_t i = 0; i < cfg_.pool_size; ++i) {
    conns_.push_back(std::make_unique<Connection>(*this, &loop_, cfg_, i));
  }
  // Handles are set up here, before the loop thread exists; from then on only it touches them.
  for (auto& c : conns_) c->start();
  thread_ = std::thread([this] { run(); });
  thread_started_ = true;
  loop_thread_id_ = thread_.get_id();
  return {};
}

Transport::~Transport() {
  if (thread_.joinable()) {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      uv_async_send(&async_);
    }
    thread_.join();
  }
  if (loop_ready_) {
    // After the join every handle is closed; if start() failed before the thread existed, only
    // the loop (and maybe the async handle) exist and a non-blocking run finishes their closing.
    if (!thread_started_ && async_.loop != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
      if (timer_.loop != nullptr) uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
      uv_run(&loop_, UV_RUN_NOWAIT);
    }
    uv_loop_close(&loop_);
  }
}

void Transport::run() {
  uv_run(&loop_, UV_RUN_DEFAULT);
}

void Transport::on_async_cb(uv_async_t* handle) {
  auto* self = static_cast<Transport*>(handle->data);
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
    stopping = stopping_;
  }
  if (stopping) {
    shutdown_loop();
    return;
  }
  if (batch_.empty()) return;
  // The whole turn's batch goes to one connection, so the server reads it in one go (one
  // syscall for many commands); the least loaded one is picked, so a connection stuck behind a
  // slow command is avoided.
  Connection* target = pick();
  for (auto& r : batch_) {
    if (target != nullptr) {
      target->enqueue(std::move(r));
    } else {
      fail_unconnected(r);
    }
  }
  batch_.clear();
  if (target != nullptr) target->flush();
}

Connection* Transport::pick() {
  const std::size_t n = conns_.size();
  Connection* best = nullptr;
  for (std::size_t i = 0; i < n; ++i) {
    Connection& c = *conns_[(next_ + i) % n];
    if (c.state() == Connection::State::ready &&
        (best == nullptr || c.pending() < best->pending())) {
      best = &c;
    }
  }
  next_ = (next_ + 1) % n;
  if (best != nullptr) return best;
  for (auto& c : conns_) {  // none ready: one that is coming up holds the requests
    if (c->accepting()) return c.get();
  }
  return nullptr;
}

void Transport::fail_unconnected(Request& r) {
  Error last{Errc::connection, "no connection"};
  for (const auto& c : conns_) {
    if (!c->last_error().message.empty()) {
      last = c->last_error();
      break;
    }
  }
  std::string message = std::string(r.name) + ": not connected (" + last.message + ")";
  complete(r, Error{last.code == Errc::auth ? Errc::auth : Errc::connection, std::move(message)});
}

void Transport::shutdown_loop() {
  const Error why{Errc::shutdown, "client is shutting down"};
  for (auto& r : batch_) complete(r, why);
  batch_.clear();
  for (auto& c : conns_) c->stop(why);
  {
    // Late submissions (from the callbacks above) are refused by submit() itself; collect any
    // that raced in before stopping_ was seen.
    std::vector<Request> late;
    {
      std::lock_guard lock(mu_);
      late.swap(queue_);
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
  timers_.emplace(Clock::now() + delay, std::move(fn));
  arm_timer();
}

void Transport::arm_timer() {
  if (timers_.empty()) {
    uv_timer_stop(&timer_);
    return;
  }
  const auto now = Clock::now();
  const auto first = timers_.begin()->first;
  const auto ms = first <= now ? 0
                               : std::chrono::ceil<std::chrono::milliseconds>(first - now).count();
  uv_timer_start(&timer_, on_timer_cb, static_cast<std::uint64_t>(ms), 0);
}

void Transport::on_timer_cb(uv_timer_t* handle) {
  auto* self = static_cast<Transport*>(handle->data);
  try {
    const auto now = Clock::now();
    std::vector<std::function<void()>> due;
    while (!self->timers_.empty() && self->timers_.begin()->first <= now) {
      due.push_back(std::move(self->timers_.begin()->second));
      self->timers_.erase(self->timers_.begin());
    }
    for (auto& fn : due) fn();
    self->arm_timer();
    for (auto& c : self->conns_) c->flush();
  } catch (...) {
  }
}

void Transport::submit(Request&& r) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      const bool wake = queue_.empty();
      queue_.push_back(std::move(r));
      // Under the lock, so that no send can follow the destructor's.
      if (wake) uv_async_send(&async_);
      return;
    }
  }
  complete(r, Error{Errc::shutdown, std::string(r.name) + ": client is shutting down"});
}

void Transport::on_connection_state(const Connection& c, Connection::State from,
                                    Connection::State to) {
  using S = Connection::State;
  auto bucket = [this](S s) -> std::atomic<std::size_t>* {
    switch (s) {
      case S::ready: return &ready_;
      case S::connecting:
      case S::handshaking: return &connecting_;
      case S::down:
      case S::closing: return &down_;
      case S::stopped: return nullptr;
    }
    return nullptr;
  };
  auto* a = bucket(from);
  auto* b = bucket(to);
  if (a != b) {
    if (a != nullptr) a->fetch_sub(1);
    if (b != nullptr) b->fetch_add(1);
  }
  if (to == S::closing) {
    if (from == S::ready) reconnects_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(status_mu_);
    last_error_ = c.last_error();
  }
  if (to == S::ready || to == S::closing) {
    std::lock_guard lock(first_mu_);
    if (!first_seen_[c.index()]) {
      first_seen_[c.index()] = true;
      ++first_outcomes_;
    }
    first_cv_.notify_all();
  }
  if (to == S::ready && ready_.load(std::memory_order_relaxed) == 1) {
    if (disabled_.exchange(false)) {
      logger_.log(LogLevel::warning, "redis " + endpoint() + " reachable: client enabled");
    }
    // The server is back: the rest of the pool need not sit out its backoff.
    for (auto& other : conns_) other->reconnect_now();
    if (on_available_) on_available_();
  }
  // One line per pool-level change, not per connection or per attempt.
  if (from == S::ready && to != S::ready && to != S::stopped &&
      ready_.load(std::memory_order_relaxed) == 0) {
    logger_.log(LogLevel::warning,
                "redis " + endpoint() + " unreachable: " + c.last_error().to_string());
    reported_down_ = true;
  } else if (to == S::ready && ready_.load(std::memory_order_relaxed) == 1 && reported_down_) {
    logger_.log(LogLevel::info, "redis " + endpoint() + " reachable again");
    reported_down_ = false;
  }
}

void Transport::disable_unless_ready() {
  disabled_.store(true);
  // A connection that became ready before the store above saw disabled_ == false and will not
  // clear it: undo. (ready_ is incremented before the loop thread clears disabled_.)
  if (ready_.load() > 0) disabled_.store(false);
}

bool Transport::wait_first_outcome(std::chrono::milliseconds limit) {
  std::unique_lock lock(first_mu_);
  first_cv_.wait_for(lock, limit, [&] {
    return ready_.load(std::memory_order_relaxed) > 0 || first_outcomes_ >= conns_.size();
  });
  return ready_.load(std::memory_order_relaxed) > 0;
}

Error Transport::last_error() const {
  std::lock_guard lock(status_mu_);
  return last_error_;
}

PoolStatus Transport::status() const {
  PoolStatus s;
  s.ready = ready_.load(std::memory_order_relaxed);
  s.connecting = connecting_.load(std::memory_order_relaxed);
  s.down = down_.load(std::memory_order_relaxed);
  s.reconnects = reconnects_.load(std::memory_order_relaxed);
  std::lock_guard lock(status_mu_);
  s.last_error = last_error_.message.empty() ? std::string() : last_error_.to_string();
  return s;
}

}  // namespace rcache::detail
