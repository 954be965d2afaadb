// Client::get_or_load_async(): cache-aside without blocking. A chain of steps on the loop thread:
// read the key; on a miss join the key's flight (shared with the blocking form) or lead it: read
// once more, call the asynchronous loader, write what it loaded, end the flight. Each caller's
// callback runs once on the loop thread, with the leader's result, or Errc::timeout when the
// flight outlasts LoadOptions::wait_for_load.
#include <atomic>

#include "client/calls.hpp"
#include "client/load_steps.hpp"
#include "protocol/commands.hpp"
#include "protocol/replies.hpp"
#include "rcache/client.hpp"

namespace rcache {

using detail::ClientCore;
using detail::Command;
using detail::command_of;
using detail::Counter;
using detail::Op;
using detail::Outcome;
using OptString = std::optional<std::string>;

namespace {

class AsyncLoad : public std::enable_shared_from_this<AsyncLoad> {
 public:
  AsyncLoad(ClientCore& core, std::string key, const LoadOptions& o, AsyncLoader loader,
            Callback<Loaded> cb)
      : core_(core),
        key_(std::move(key)),
        o_(o),
        loader_(std::move(loader)),
        cb_(std::move(cb)),
        start_(core.clock().now()),
        budget_(core.scoped_budget()) {}

  // On the caller's thread.
  void begin() {
    near_ = core_.availability().near_cache();
    if (near_ != nullptr) near_key_ = detail::near_key(core_.config(), key_);
    if (near_ != nullptr && o_.near_cache) {
      if (auto v = near_->get(near_key_)) {
        return post_end(Loaded{std::move(*v), Loaded::Source::near_cache, false});
      }
    }
    read(key_, &AsyncLoad::on_read);
  }

 private:
  using Step = void (AsyncLoad::*)(Result<detail::RawRead>);

  void post_end(Result<Loaded> r) {
    core_.transport().post(
        [self = shared_from_this(), r = std::move(r)]() mutable { self->end(std::move(r)); });
  }

  // A command of this load (not a user call), bounded by the caller's CallDeadline if any.
  void send(Command&& cmd, std::function<void(Outcome&&)> next) {
    if (budget_) cmd.deadline = core_.clock().now() + *budget_;
    detail::Completion done = std::move(next);
    auto refused = core_.dispatcher().execute(std::move(cmd), std::move(done));
    if (refused) return;
    // Refused before sending: execute() left `done` untouched; it runs on the loop thread.
    // NOLINTNEXTLINE(bugprone-use-after-move)
    core_.transport().post([done = std::move(done), e = std::move(refused).error()]() mutable {
      Outcome o;
      o.error = std::move(e);
      done(std::move(o));
    });
  }

  void read(const std::string& key, Step next) {
    auto cmd =
        command_of("GET", detail::get_with_pttl_command(core_.config(), key, false), Op::internal);
    if (!cmd) return post_end(std::move(cmd).error());
    send(std::move(*cmd), [self = shared_from_this(), next](Outcome&& o) {
      auto parse = [](Outcome& x) { return detail::parse_get_with_pttl(x.earlier, *x.reply); };
      Result<detail::RawRead> r = ClientCore::parse_safely<detail::RawRead>("GET", parse, o);
      ((*self).*next)(std::move(r));
    });
  }

  void on_read(Result<detail::RawRead> r) {
    if (!r.ok() && !detail::unavailable(r.error())) return end(std::move(r).error());
    if (r.ok() && r->raw) return end(detail::from_cache(core_, std::move(*r->raw), key_));
    outage_ = !r.ok();
    if (outage_ && near_ != nullptr && o_.near_cache) {
      copy_ = near_->get_during_outage(near_key_);
      if (copy_ && !copy_->expired) {
        return end(Loaded{
            std::move(copy_->value),
            copy_->stale ? Loaded::Source::near_cache_stale : Loaded::Source::near_cache, false});
      }
    }
    join();
  }

  void join() {
    auto self = shared_from_this();
    flight_ = core_.single_flight().join(key_, [self](const Result<Loaded>& r) {
      self->core_.transport().post(
          [self, copy = Result<Loaded>(r)]() mutable { self->end(std::move(copy)); });
    });
    if (!flight_) {  // a follower: the leader's result, or a timeout
      const auto wait = o_.wait_for_load.count() > 0 ? o_.wait_for_load
                        : budget_                    ? *budget_
                                                     : core_.config().deadline;
      const auto left = start_ + wait - core_.clock().now();
      core_.transport().schedule_after(std::chrono::duration_cast<std::chrono::microseconds>(
                                           std::max(left, detail::TimePoint::duration::zero())),
                                       [self] { self->end(self->follower_timeout()); });
      return;
    }
    if (outage_) return outage_load();
    // The leader reads once more: another caller's load may have been written just now.
    read(key_, &AsyncLoad::on_reread);
  }

  void on_reread(Result<detail::RawRead> r) {
    if (r.ok() && r->raw) return lead_done(detail::from_cache(core_, std::move(*r->raw), key_));
    if (!r.ok() && !detail::unavailable(r.error())) return lead_done(std::move(r).error());
    if (!r.ok()) return outage_load();
    run_loader(false);
  }

  void outage_load() {
    if (!core_.outage_loads().admit(core_.clock().now())) {
      core_.metrics().add(Counter::outage_loads_refused);
      if (copy_) return lead_done(Loaded{copy_->value, Loaded::Source::near_cache_stale, false});
      return lead_done(
          Error{Errc::rejected, "get_or_load: Redis is unavailable and the outage load cap (" +
                                    detail::rate_text(core_.outage_loads().rate()) +
                                    " loads/s, outage_loads_per_second) is reached; no copy of "
                                    "this key to serve"});
    }
    run_loader(true);
  }

  // `done` for the user's loader: once, from any thread; if it dies uncalled, the load fails.
  struct DoneOnce {
    std::shared_ptr<AsyncLoad> load;
    std::atomic<bool> called{false};
    explicit DoneOnce(std::shared_ptr<AsyncLoad> l) : load(std::move(l)) {}
    DoneOnce(const DoneOnce&) = delete;
    DoneOnce& operator=(const DoneOnce&) = delete;
    ~DoneOnce() {
      if (!called.load()) {
        deliver(
            Error{Errc::invalid_argument,
                  "get_or_load_async: the loader dropped its done callback without calling it"});
      }
    }
    void deliver(Result<OptString> r) {
      called = true;
      auto l = load;
      l->core_.transport().post([l, r = std::move(r)]() mutable { l->on_loaded(std::move(r)); });
    }
  };

  void run_loader(bool bypass) {
    bypass_ = bypass;
    load_start_ = core_.clock().now();
    auto once = std::make_shared<DoneOnce>(shared_from_this());
    LoadDone done = [once](Result<OptString> r) {
      if (once->called.exchange(true)) return;  // only the first call counts
      once->deliver(std::move(r));
    };
    try {
      loader_(std::move(done));
    } catch (const std::exception& e) {
      if (!once->called.exchange(true)) {
        once->deliver(Error{Errc::invalid_argument,
                            std::string("get_or_load_async: loader threw: ") + e.what()});
      }
    } catch (...) {
      if (!once->called.exchange(true)) {
        once->deliver(Error{Errc::invalid_argument, "get_or_load_async: loader threw"});
      }
    }
  }

  void on_loaded(Result<OptString> got) {
    auto& metrics = core_.metrics();
    const auto took = core_.clock().now() - load_start_;
    metrics.add(Counter::loader_calls);
    metrics.loader_ran(took);
    core_.load_times().note(key_, took);
    if (!got.ok()) {
      metrics.add(Counter::loader_errors);
      if (o_.stale_if_error && !bypass_) {
        error_ = std::move(got).error();
        return read(key_ + std::string(detail::kStaleSuffix), &AsyncLoad::on_stale);
      }
      if (bypass_ && copy_) {
        return lead_done(Loaded{copy_->value, Loaded::Source::near_cache_stale, false});
      }
      return lead_done(std::move(got).error());  // loader errors are returned, never cached
    }
    if (bypass_) {
      metrics.add(Counter::bypassed);
      return lead_done(Loaded{std::move(*got), Loaded::Source::loader, true});
    }
    loaded_ = Loaded{std::move(*got), Loaded::Source::loader, false};
    if (loaded_.value) {
      if (o_.stale_if_error) {
        write(key_ + std::string(detail::kStaleSuffix), *loaded_.value, o_.stale_ttl, false);
      }
      return write(key_, *loaded_.value,
                   detail::jittered_ttl(o_.ttl, o_.ttl_jitter, detail::uniform01()), true);
    }
    if (o_.negative_cache) {
      return write(key_, detail::kNegativeMarker,
                   detail::jittered_ttl(o_.negative_ttl, o_.ttl_jitter, detail::uniform01()), true,
                   true);
    }
    lead_done(loaded_);
  }

  void on_stale(Result<detail::RawRead> r) {
    if (r.ok() && r->raw) {
      auto v = core_.decode(std::move(*r->raw), key_);
      if (v.ok()) {
        core_.metrics().add(Counter::stale_served);
        return lead_done(Loaded{std::move(*v), Loaded::Source::stale, false});
      }
    }
    lead_done(std::move(*error_));
  }

  // SET of what was loaded (encoded) or of a marker; `then_end`: the flight ends once it is
  // written, so a caller arriving after the flight finds the value in Redis.
  void write(const std::string& key, std::string_view value, std::chrono::milliseconds ttl,
             bool then_end, bool marker = false) {
    SetOptions so;
    so.ttl = ttl;
    const detail::Encoded stored = marker ? detail::Encoded{} : core_.encode(value);
    auto w =
        detail::set_command(core_.config(), key, value, marker ? value : stored.view(value), so);
    if (!w) {
      if (then_end) lead_done(loaded_);  // not storable (too large): served, not cached
      return;
    }
    auto next = [self = shared_from_this(), key, then_end](Outcome&&) {
      detail::forget(self->core_, key);
      if (then_end) self->lead_done(self->loaded_);  // a failed write still serves the value
    };
    send(Command::of("SET", std::move(*w), Op::internal), std::move(next));
  }

  void lead_done(Result<Loaded> r) {
    core_.single_flight().finish(key_, flight_, r);  // followers get it posted
    end(std::move(r));
  }

  Error follower_timeout() const {
    std::string shown(key_.substr(0, 64));
    if (key_.size() > 64) shown += "...";
    return Error{Errc::timeout, "get_or_load: key '" + shown +
                                    "': the deadline passed while waiting for another caller's "
                                    "load of it (that load goes on)"};
  }

  // Loop thread; once.
  void end(Result<Loaded> r) {
    if (ended_) return;
    ended_ = true;
    detail::record_load(core_, r, start_);
    Callback<Loaded> cb = std::move(cb_);
    cb_ = nullptr;
    loader_ = nullptr;
    if (!cb) return;
    try {
      cb(std::move(r));
    } catch (...) {
      // Like every callback: an exception is discarded, never propagated into libuv.
    }
  }

  ClientCore& core_;
  const std::string key_;
  const LoadOptions o_;
  AsyncLoader loader_;
  Callback<Loaded> cb_;
  const detail::TimePoint start_;
  const std::optional<std::chrono::milliseconds> budget_;
  detail::NearCache* near_ = nullptr;
  std::string near_key_;
  bool outage_ = false;
  bool bypass_ = false;
  bool ended_ = false;
  std::optional<detail::NearCache::Outage> copy_;
  std::shared_ptr<detail::SingleFlight::Flight> flight_;
  detail::TimePoint load_start_{};
  Loaded loaded_;
  std::optional<Error> error_;
};

void start(ClientCore& core, std::string_view key, const LoadOptions& o, AsyncLoader loader,
           Callback<Loaded> cb) {
  if (auto r = detail::check_load_options(o); !r) {
    return core.fail_async<Loaded>(std::move(r).error(), std::move(cb));
  }
  if (!loader) {
    return core.fail_async<Loaded>(Error{Errc::invalid_argument, "get_or_load_async: no loader"},
                                   std::move(cb));
  }
  if (auto r = detail::check_key(core.config(), "get_or_load", key); !r) {
    return core.fail_async<Loaded>(std::move(r).error(), std::move(cb));
  }
  auto load =
      std::make_shared<AsyncLoad>(core, std::string(key), o, std::move(loader), std::move(cb));
  load->begin();
}

}  // namespace

void Client::get_or_load_async(std::string_view key, const LoadOptions& options, AsyncLoader loader,
                               Callback<Loaded> cb) {
  start(*core_, key, options, std::move(loader), std::move(cb));
}

std::future<Result<Loaded>> Client::get_or_load_async(std::string_view key,
                                                      const LoadOptions& options,
                                                      AsyncLoader loader) {
  return detail::future_of<Loaded>(
      [&](Callback<Loaded> cb) { start(*core_, key, options, std::move(loader), std::move(cb)); });
}

}  // namespace rcache
