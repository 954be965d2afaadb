// A Subscriber's connection: calls, messages, loss and restore, heartbeat, lifetime.
#include "resilience/subscriber.hpp"

#include <utility>

#include "protocol/replies.hpp"

namespace rcache::detail {

using Kind = Subscriptions::Kind;

namespace {

bool subscribing(PubSubVerb v) noexcept {
  return v == PubSubVerb::subscribe || v == PubSubVerb::psubscribe;
}
Kind kind_of(PubSubVerb v) noexcept {
  return v == PubSubVerb::subscribe || v == PubSubVerb::unsubscribe ? Kind::channel : Kind::pattern;
}
PubSubVerb undo_of(PubSubVerb v) noexcept {
  return v == PubSubVerb::subscribe ? PubSubVerb::unsubscribe : PubSubVerb::punsubscribe;
}
std::chrono::microseconds micros(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d);
}
const Error& shutdown_error() {
  static const Error e{Errc::shutdown, "the subscriber is closed"};
  return e;
}

}  // namespace

// One call of the application; its caller waits on `cv`.
struct SubscriberCore::Call {
  std::uint64_t id = 0;
  PubSubVerb verb = PubSubVerb::subscribe;
  std::vector<std::string> names;
  Subscriptions::Handler handler;
  TimePoint deadline{};
  std::vector<bool> added;      // names this call made new in the registry
  std::vector<bool> confirmed;  // names Redis confirmed for this call
  std::size_t left = 0;         // replies outstanding
  std::optional<Error> error;   // the first one
  bool finished = false;        // loop thread

  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;  // guarded by mu
  Result<void> result;
};

// Holds retired cores until the transport is destroyed (its stop hook owns it).
struct SubscriberCore::Keeper {
  std::mutex mu;  // a close() racing the transport's stop keeps its core from another thread
  std::vector<std::shared_ptr<SubscriberCore>> kept;  // guarded by mu
  void keep(std::shared_ptr<SubscriberCore> c) {
    std::lock_guard lock(mu);
    kept.push_back(std::move(c));
  }
};

class SubscriberCore::Observer final : public LinkObserver {
 public:
  explicit Observer(SubscriberCore& c) : c_(c) {}
  void on_link_state(const Link& link, LinkState from, LinkState to) override {
    if (c_.closed_) return;
    if (to == LinkState::ready) c_.on_ready();
    if (to == LinkState::closing) c_.on_closing(link.last_error(), from);
  }
  BackoffShape reconnect_shape() const override {
    return BackoffShape::doubling(c_.setup_.cfg.reconnect_backoff_min,
                                  c_.setup_.cfg.reconnect_backoff_max);
  }
  // Asked at every attempt: the attempt's target is chosen here.
  const Target* target() const override {
    if (!c_.setup_.target) return nullptr;
    c_.target_ = c_.setup_.target(c_.attempts_++);
    return c_.target_ ? &*c_.target_ : nullptr;
  }

 private:
  SubscriberCore& c_;
};

SubscriberCore::SubscriberCore(Setup setup, Transport& transport, const ClockSource& clock)
    : setup_(std::move(setup)),
      logger_(setup_.cfg.log_sink, setup_.cfg.log_event_sink, setup_.cfg.log_level),
      transport_(transport),
      clock_(clock),
      endpoint_(transport.endpoint()) {}

SubscriberCore::~SubscriberCore() = default;

Result<void> SubscriberCore::start(std::chrono::milliseconds limit) {
  if (transport_.stopping()) return Error{Errc::shutdown, "client is shutting down"};
  transport_.post([self = shared_from_this()] { self->begin(); });
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, limit, [&] { return first_done_; });
  if (first_error_) return *first_error_;
  return {};
}

void SubscriberCore::begin() {
  if (transport_.stopping() || closed_) {
    closed_ = true;
    first_outcome(Error{Errc::shutdown, "client is shutting down"});
    return;
  }
  // The transport's stop (the Client going first) makes the core inert; the Keeper then holds it
  // until the transport (and its loop) are gone.
  std::weak_ptr<SubscriberCore> weak = weak_from_this();
  auto keeper = std::make_shared<Keeper>();  // owned by the hook alone: the transport's lifetime
  keeper_ = keeper;
  transport_.on_stop([weak, keeper] {
    auto self = weak.lock();
    if (!self) return;
    self->gone_.store(true, std::memory_order_release);
    self->stop_inline(Error{Errc::shutdown, "client is shutting down"});
    keeper->keep(std::move(self));
  });
  observer_ = std::make_unique<Observer>(*this);
  link_ = transport_.make_link(setup_.cfg, *observer_, 0);
  link_->set_push_handler([this](Outcome&& o) { on_push(std::move(o)); });
  if (!setup_.wait_for_target || (setup_.target && setup_.target(attempts_))) {
    started_ = true;
    link_->start();
  }
  transport_.schedule_after(micros(kHeartbeat), [weak] {
    if (auto self = weak.lock()) self->heartbeat();
  });
}

void SubscriberCore::first_outcome(std::optional<Error> e) {
  std::lock_guard lock(mu_);
  if (first_done_) return;
  first_done_ = true;
  // Only a refusal fails create(): an unreachable server is retried like the client's pool.
  if (e && (e->code == Errc::auth || e->code == Errc::tls || e->code == Errc::shutdown ||
            e->code == Errc::invalid_argument)) {
    first_error_ = std::move(e);
  }
  cv_.notify_all();
}

void SubscriberCore::set_error(const std::string& e) {
  std::lock_guard lock(mu_);
  last_error_ = e;
}

// ---- calls ----

Result<void> SubscriberCore::run(PubSubVerb verb, std::vector<std::string> names,
                                 MessageHandler handler, TimePoint deadline) {
  if (gone() || transport_.stopping()) return Error{Errc::shutdown, "client is shutting down"};
  auto call = std::make_shared<Call>();
  call->verb = verb;
  call->names = std::move(names);
  if (handler) call->handler = std::make_shared<const MessageHandler>(std::move(handler));
  call->deadline = deadline;
  // post() runs at once on this thread only when the transport is stopping: then it must not
  // touch the loop's state.
  transport_.post([self = shared_from_this(), call] {
    if (!self->transport_.on_loop_thread()) {
      self->finish(call, Error{Errc::shutdown, "client is shutting down"});
      return;
    }
    self->start_call(call);
  });
  std::unique_lock lock(call->mu);
  // The loop fails the call at its deadline; the margin only guards against a loop that stalls.
  const auto margin = std::chrono::seconds(1);
  if (!call->cv.wait_until(lock,
                           std::chrono::steady_clock::now() + (deadline - clock_.now()) + margin,
                           [&] { return call->ready; })) {
    return Error{Errc::timeout, std::string(command_name(verb)) + ": no answer in time"};
  }
  return call->result;
}

void SubscriberCore::start_call(const std::shared_ptr<Call>& call) {
  if (closed_) {
    finish(call, shutdown_error());
    return;
  }
  call->id = next_call_++;
  if (!subscribing(call->verb)) {
    // No handler of these names runs from now on, and a new connection will not restore them.
    for (const auto& n : call->names) subs_.remove(kind_of(call->verb), n);
    channels_.store(subs_.size(Kind::channel), std::memory_order_relaxed);
    patterns_.store(subs_.size(Kind::pattern), std::memory_order_relaxed);
    if (link_->state() != LinkState::ready) {
      finish(call, {});  // nothing is subscribed without a connection
      return;
    }
  }
  if (link_->state() == LinkState::ready) {
    send_call(call);
    return;
  }
  waiting_.push_back(call);
  if (started_) link_->reconnect_now();  // waiting out a backoff: try now, the caller is waiting
  const auto wait = call->deadline - clock_.now();
  transport_.schedule_after(
      micros(std::max(wait, std::chrono::nanoseconds(0))), [weak = weak_from_this(), call] {
        auto self = weak.lock();
        if (!self || call->finished) return;
        std::erase(self->waiting_, call);
        self->finish(call, Error{Errc::timeout, std::string(command_name(call->verb)) +
                                                    ": no connection to Redis in time"});
      });
}

void SubscriberCore::send(PubSubVerb verb, const std::string& name, TimePoint deadline,
                          Completion done) {
  Request r;
  r.wire = std::make_shared<const std::string>(pubsub_command(verb, name));
  r.name = command_name(verb).data();  // a literal: NUL-terminated
  r.deadline = deadline;
  r.done = std::move(done);
  link_->enqueue(std::move(r));
}

void SubscriberCore::send_call(const std::shared_ptr<Call>& call) {
  const std::size_t n = call->names.size();
  call->left = n;
  call->added.assign(n, false);
  call->confirmed.assign(n, false);
  const Kind kind = kind_of(call->verb);
  for (std::size_t i = 0; i < n; ++i) {
    if (subscribing(call->verb)) {
      call->added[i] = subs_.add(kind, call->names[i], call->handler, call->id);
    }
    send(call->verb, call->names[i], call->deadline,
         [this, call, i](Outcome&& o) { on_call_reply(call, i, std::move(o)); });
  }
  channels_.store(subs_.size(Kind::channel), std::memory_order_relaxed);
  patterns_.store(subs_.size(Kind::pattern), std::memory_order_relaxed);
  link_->flush();
}

void SubscriberCore::on_call_reply(const std::shared_ptr<Call>& call, std::size_t i, Outcome&& o) {
  const std::string& name = call->names[i];
  Result<void> r =
      o.error ? Result<void>(std::move(*o.error)) : check_confirmation(*o.reply, call->verb, name);
  if (subscribing(call->verb)) {
    if (r.ok()) {
      subs_.confirm(kind_of(call->verb), name, call->id);
      call->confirmed[i] = true;
    } else {
      subs_.abandon(kind_of(call->verb), name, call->id);
    }
  }
  if (!r.ok() && !call->error) call->error = r.error();
  if (--call->left > 0) return;
  if (call->error && subscribing(call->verb) && !closed_) {
    // All or nothing: what this call made new and Redis confirmed goes again.
    for (std::size_t k = 0; k < call->names.size(); ++k) {
      if (!call->added[k] || !call->confirmed[k]) continue;
      subs_.remove(kind_of(call->verb), call->names[k]);
      if (link_->state() == LinkState::ready) {
        send(undo_of(call->verb), call->names[k], clock_.now() + setup_.cfg.command_timeout,
             [](Outcome&&) {});
      }
    }
    link_->flush();
  }
  channels_.store(subs_.size(Kind::channel), std::memory_order_relaxed);
  patterns_.store(subs_.size(Kind::pattern), std::memory_order_relaxed);
  finish(call, call->error ? Result<void>(*call->error) : Result<void>());
}

void SubscriberCore::finish(const std::shared_ptr<Call>& call, Result<void> r) {
  if (call->finished) return;
  call->finished = true;
  std::lock_guard lock(call->mu);  // notify under the lock: the caller may go as soon as it sees
  call->result = std::move(r);
  call->ready = true;
  call->cv.notify_all();
}

// ---- connection ----

void SubscriberCore::on_ready() {
  restore(incarnation_);  // with nothing to restore, connected at once: create() then says so
  first_outcome(std::nullopt);
  // Calls made while there was no connection go after the restore, on the same connection.
  while (!waiting_.empty() && link_->state() == LinkState::ready) {
    auto call = std::move(waiting_.front());
    waiting_.pop_front();
    if (!call->finished) send_call(call);
  }
  link_->flush();
}

void SubscriberCore::restore(std::uint64_t incarnation) {
  struct Round {
    std::size_t left = 0;
    std::optional<Error> error;
  };
  auto round = std::make_shared<Round>();
  const TimePoint deadline = clock_.now() + setup_.cfg.command_timeout;
  for (const Kind kind : {Kind::channel, Kind::pattern}) {
    const PubSubVerb verb = kind == Kind::channel ? PubSubVerb::subscribe : PubSubVerb::psubscribe;
    for (const auto& name : subs_.to_restore(kind)) {
      ++round->left;
      send(verb, name, deadline, [this, round, incarnation, verb, name](Outcome&& o) {
        Result<void> r =
            o.error ? Result<void>(std::move(*o.error)) : check_confirmation(*o.reply, verb, name);
        if (!r.ok() && !round->error) round->error = r.error();
        if (--round->left > 0 || closed_ || incarnation != incarnation_) return;
        if (round->error) {
          retry_restore(incarnation,
                        "pub/sub: subscribing again failed: " + round->error->to_string());
          return;
        }
        restored(incarnation);
      });
    }
  }
  if (round->left == 0) restored(incarnation);
}

void SubscriberCore::restored(std::uint64_t incarnation) {
  if (closed_ || incarnation != incarnation_) return;
  connected_.store(true, std::memory_order_relaxed);
  if (!std::exchange(lost_, false)) return;
  resubscribes_.fetch_add(1, std::memory_order_relaxed);
  logger_.event(LogLevel::warning, "pubsub_resubscribed", endpoint_,
                "redis " + endpoint_ + ": pub/sub subscribed again (" +
                    std::to_string(subs_.size(Kind::channel)) + " channels, " +
                    std::to_string(subs_.size(Kind::pattern)) +
                    " patterns); messages published meanwhile were lost");
  if (setup_.options.on_resubscribed) {
    try {
      setup_.options.on_resubscribed();
    } catch (...) {
      // The application's callback failed: the subscriber goes on.
    }
  }
}

void SubscriberCore::retry_restore(std::uint64_t incarnation, const std::string& why) {
  set_error(why);
  logger_.event(LogLevel::error, "pubsub_restore_failed", endpoint_,
                "redis " + endpoint_ + ": " + why + "; trying again on a new connection", {}, {},
                true);
  transport_.schedule_after(micros(setup_.cfg.reconnect_backoff_max),
                            [weak = weak_from_this(), incarnation, why] {
                              auto self = weak.lock();
                              if (!self || self->closed_ || incarnation != self->incarnation_) {
                                return;
                              }
                              self->link_->redial(Error{Errc::connection, why});
                            });
}

void SubscriberCore::on_closing(const Error& why, LinkState from) {
  ++incarnation_;
  connected_.store(false, std::memory_order_relaxed);
  set_error(why.to_string());
  if (from == LinkState::ready) {
    reconnects_.fetch_add(1, std::memory_order_relaxed);
    if (!subs_.empty()) {
      lost_ = true;
      logger_.event(LogLevel::warning, "pubsub_connection_lost", endpoint_,
                    "redis " + endpoint_ + ": pub/sub connection lost (" + why.to_string() +
                        "); reconnecting, messages are lost until it is back");
    }
    return;
  }
  // An attempt failed: the calls waiting for it fail with its reason.
  first_outcome(why);
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& call : waiting) finish(call, why);
}

void SubscriberCore::on_push(Outcome&& o) {
  if (closed_ || o.reply == nullptr) return;
  auto f = parse_push(*o.reply);
  if (!f) {
    bad_frames_.fetch_add(1, std::memory_order_relaxed);
    set_error(f.error().to_string());
    logger_.event(LogLevel::warning, "pubsub_bad_frame", endpoint_,
                  "redis " + endpoint_ + ": " + f.error().message + " (ignored)", {}, {}, true);
    return;
  }
  deliver(*f);
}

void SubscriberCore::deliver(const PushFrame& f) {
  if (f.kind != PushFrame::Kind::message && f.kind != PushFrame::Kind::pmessage) return;
  const bool plain = f.kind == PushFrame::Kind::message;
  const MessageHandler* h =
      subs_.find(plain ? Kind::channel : Kind::pattern, plain ? f.channel : f.pattern);
  if (h == nullptr || !*h) {
    unrouted_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  messages_.fetch_add(1, std::memory_order_relaxed);
  // The handler may unsubscribe (replacing the entry) or destroy the subscriber: it runs on a
  // copy of its shared handle.
  const MessageHandler handler = *h;
  try {
    handler(Message{f.channel, f.pattern, f.payload});
  } catch (...) {
    // The application's handler failed: discarded, delivery goes on.
  }
}

void SubscriberCore::heartbeat() {
  if (closed_ || transport_.stopping()) return;
  if (!started_) {
    if (setup_.target && setup_.target(attempts_)) {
      started_ = true;
      link_->start();
    }
  } else if (setup_.follow_target && link_->state() == LinkState::ready && setup_.target) {
    auto now = setup_.target(attempts_);
    if (now && target_ && !(*now == *target_)) {
      link_->redial(Error{Errc::connection, "the master moved; the subscriber follows it"});
    }
  }
  if (link_->state() == LinkState::ready && link_->pending() == 0) {
    Request r;
    r.wire = std::make_shared<const std::string>(ping_command().bytes);
    r.name = "PING";
    r.deadline = clock_.now() + setup_.cfg.command_timeout;
    r.done = [](Outcome&&) {};
    link_->enqueue(std::move(r));
    link_->flush();
  }
  transport_.schedule_after(micros(kHeartbeat), [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->heartbeat();
  });
}

// ---- lifetime ----

void SubscriberCore::close() {
  if (gone()) return;
  if (transport_.on_loop_thread()) {
    close_inline();
    return;
  }
  transport_.post([self = shared_from_this()] {
    if (self->transport_.on_loop_thread()) {
      self->close_inline();
    } else if (auto keeper = self->keeper_.lock()) {
      // Run here because the transport is stopping: its stop hook stops the link, whose
      // handles close after this returns.
      keeper->keep(self);
    }
    std::lock_guard lock(self->mu_);
    self->close_done_ = true;
    self->cv_.notify_all();
  });
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return close_done_; });
}

void SubscriberCore::close_inline() {
  if (closed_ || !link_) {
    closed_ = true;
    return;
  }
  // A connection stopped while connecting may have a name resolution running, whose callback
  // reaches the link whenever it ends: such a core is kept until the transport is gone. Any
  // other has closed its handles by the next loop turn.
  const bool resolving = link_->state() == LinkState::connecting;
  stop_inline(shutdown_error());
  auto keeper = keeper_.lock();
  if (resolving && keeper) {
    keeper->keep(shared_from_this());
    return;
  }
  transport_.schedule_after(micros(kRetireDelay), [self = shared_from_this(), keeper] {
    // Run at once when the transport is stopping: the handles may not be closed yet.
    if (self->transport_.stopping() && keeper) keeper->keep(self);
  });
}

void SubscriberCore::stop_inline(const Error& why) {
  if (std::exchange(closed_, true)) return;
  connected_.store(false, std::memory_order_relaxed);
  first_outcome(why);
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& call : waiting) finish(call, why);
  if (link_) link_->stop(why);  // fails the calls on the wire with `why`
}

}  // namespace rcache::detail
