// Client::delete_pattern(): SCAN + UNLINK per batch, chained on the loop thread, never KEYS.
#include "client/calls.hpp"
#include "protocol/commands.hpp"
#include "protocol/replies.hpp"
#include "rcache/client.hpp"

namespace rcache {

using detail::ClientCore;
using detail::Command;
using detail::Op;
using detail::Outcome;

namespace {

// One deletion job. The first SCAN is submitted from the caller's thread (so it keeps its place
// among the caller's commands); every later step runs on the loop thread, and the user's
// callback always does (a refusal of the first SCAN is posted there).
struct PatternDelete : std::enable_shared_from_this<PatternDelete> {
  ClientCore* core = nullptr;
  std::string match;
  std::string cursor = "0";
  std::uint64_t removed = 0;
  std::uint64_t rounds = 0;
  std::vector<std::string> batch;  // the keys of the UNLINK in flight (as Redis names them)
  Callback<std::uint64_t> cb;
  detail::TimePoint start{};

  static constexpr std::uint64_t kMaxRounds = std::uint64_t{1} << 32;  // a guard, not a limit

  void finish(Result<std::uint64_t> r) {
    core->record(Op::delete_pattern, r, start);
    Callback<std::uint64_t> done = std::move(cb);
    cb = nullptr;
    if (!done) return;
    try {
      done(std::move(r));
    } catch (...) {
      // Like every callback: an exception is discarded, never propagated into libuv.
    }
  }

  void fail(Error e) {
    e.message =
        "delete_pattern stopped after removing " + std::to_string(removed) + " keys: " + e.message;
    finish(std::move(e));
  }

  void send(Command&& cmd, void (PatternDelete::*next)(Outcome&&)) {
    auto refused = core->executor().execute(
        std::move(cmd),
        [self = shared_from_this(), next](Outcome&& o) { ((*self).*next)(std::move(o)); });
    if (refused) return;
    if (core->on_loop_thread()) {
      fail(std::move(refused).error());
    } else {
      core->transport().post([self = shared_from_this(), e = std::move(refused).error()]() mutable {
        self->fail(std::move(e));
      });
    }
  }

  void scan() {
    if (++rounds > kMaxRounds) {
      fail(Error{Errc::protocol, "SCAN cursor never returned to 0"});
      return;
    }
    send(Command::of("SCAN", detail::scan_command(cursor, match, core->config().scan_count),
                     Op::delete_pattern),
         &PatternDelete::on_scan);
  }

  void on_scan(Outcome&& o) {
    if (o.error) return fail(std::move(*o.error));
    auto page = detail::parse_scan(*o.reply);
    if (!page) return fail(std::move(page).error());
    cursor = std::move(page->cursor);
    if (page->keys.empty()) return next();
    send(Command::of("UNLINK", detail::unlink_command(page->keys), Op::delete_pattern),
         &PatternDelete::on_unlink);
    batch = std::move(page->keys);
  }

  void on_unlink(Outcome&& o) {
    // Near cache: the batch is gone (or may be): its copies go before the call returns. The
    // keys came from SCAN, so they already carry the key prefix.
    if (detail::NearCache* near = core->availability().near_cache()) {
      for (const auto& k : batch) near->invalidate(k);
    }
    batch.clear();
    if (o.error) return fail(std::move(*o.error));
    auto n = detail::parse_integer("UNLINK", *o.reply);
    if (!n) return fail(std::move(n).error());
    removed += static_cast<std::uint64_t>(*n);
    next();
  }

  void next() {
    if (cursor == "0") return finish(removed);  // the batch that came with cursor 0 is done too
    scan();
  }
};

void start_pattern_delete(ClientCore& core, std::string_view pattern, Callback<std::uint64_t> cb) {
  if (pattern.size() > core.config().max_value_size) {
    core.fail_async<std::uint64_t>(
        Error{Errc::too_large, "delete_pattern: pattern is over max_value_size"}, std::move(cb));
    return;
  }
  auto job = std::make_shared<PatternDelete>();
  job->core = &core;
  job->match = detail::escape_glob(core.config().key_prefix);
  job->match.append(pattern);
  job->cb = std::move(cb);
  job->start = core.clock().now();
  job->scan();
}

}  // namespace

void Client::delete_pattern_async(std::string_view pattern, Callback<std::uint64_t> cb) {
  start_pattern_delete(*core_, pattern, std::move(cb));
}
std::future<Result<std::uint64_t>> Client::delete_pattern_async(std::string_view pattern) {
  return detail::future_of<std::uint64_t>(
      [&](Callback<std::uint64_t> cb) { start_pattern_delete(*core_, pattern, std::move(cb)); });
}
Result<std::uint64_t> Client::delete_pattern(std::string_view pattern) {
  if (auto e = core_->refuse_on_loop_thread("delete_pattern")) return std::move(*e);
  return delete_pattern_async(pattern).get();
}

}  // namespace rcache
