// Client::delete_pattern() and count_pattern(): SCAN (+ UNLINK per batch unless dry), chained on
// the loop thread, never KEYS.
#include <unordered_map>

#include "client/calls.hpp"
#include "protocol/cluster.hpp"
#include "protocol/commands.hpp"
#include "protocol/replies.hpp"
#include "rcache/client.hpp"

namespace rcache {

using detail::ClientCore;
using detail::Command;
using detail::Op;
using detail::Outcome;

namespace {

// One deletion job: a scan per master (one with a single Redis), each with its own cursor; the
// job ends when every scan has. The first SCANs are submitted from the caller's thread (so they
// keep their place among the caller's commands); every later step runs on the loop thread, and
// the user's callback always does (a refusal of a first SCAN is posted there).
struct PatternDelete {
  ClientCore* core = nullptr;
  std::string match;
  PatternOptions options;
  Op op = Op::delete_pattern;  // Op::scan for a dry run (count_pattern)
  // A CallDeadline scope of the caller: each step's deadline (the steps run on the loop thread).
  std::optional<std::chrono::milliseconds> budget;
  std::uint64_t removed = 0;   // loop thread
  std::size_t scans_left = 0;  // loop thread (set before the first SCAN is sent)
  std::optional<Error> error;  // loop thread: the first scan that failed
  Callback<std::uint64_t> cb;
  detail::TimePoint start{};

  // After each page: the caller's progress callback (loop thread; its exceptions discarded).
  void progressed() const noexcept {
    if (!options.progress) return;
    try {
      options.progress(removed);
    } catch (...) {
    }
  }

  void scan_done(std::optional<Error> e) {
    if (e && !error) error = std::move(e);
    if (--scans_left > 0) return;
    Result<std::uint64_t> r = removed;
    if (error) {
      Error out = std::move(*error);
      out.message = (options.dry_run ? "count_pattern stopped after counting "
                                     : "delete_pattern stopped after removing ") +
                    std::to_string(removed) + " keys: " + out.message;
      r = std::move(out);
    }
    core->record(op, r, start);
    Callback<std::uint64_t> done = std::move(cb);
    cb = nullptr;
    if (!done) return;
    try {
      done(std::move(r));
    } catch (...) {
      // Like every callback: an exception is discarded, never propagated into libuv.
    }
  }
};

// The scan of one node. With a cluster, a SCAN that fails because its master is unreachable is
// tried again (kResumes times, kResumeDelay apart) on the master that serves `slot` by then: on a
// replacement after a failover (cursors are per server), and on the same master too (a page
// whose UNLINKs failed was already past its cursor; a restarted server has a new hash seed), it
// starts again from cursor 0, which keeps the count exact (UNLINK counts only the keys it
// removed, and those are gone).
struct NodeScan : std::enable_shared_from_this<NodeScan> {
  std::shared_ptr<PatternDelete> job;
  detail::ClusterNode* node = nullptr;  // null: the single Redis
  std::uint16_t slot = 0;               // a slot `node` served when the job began
  std::string cursor = "0";
  std::uint64_t rounds = 0;
  int resumes = 0;
  std::vector<std::string> batch;  // the keys of the UNLINKs in flight (as Redis names them)
  std::size_t unlinks_left = 0;    // loop thread: UNLINKs of this page still in flight
  std::uint64_t page_removed = 0;  // loop thread: what they removed so far
  std::optional<Error> page_error;

  static constexpr std::uint64_t kMaxRounds = std::uint64_t{1} << 32;  // a guard, not a limit
  static constexpr int kResumes = 50;
  static constexpr std::chrono::milliseconds kResumeDelay{100};

  ClientCore& core() const { return *job->core; }
  void fail(Error e) { job->scan_done(std::move(e)); }

  void send(Command&& cmd, bool on_node, void (NodeScan::*next)(Outcome&&)) {
    if (job->budget) cmd.deadline = core().clock().now() + *job->budget;
    auto self = shared_from_this();
    detail::Completion done = [self, next](Outcome&& o) { ((*self).*next)(std::move(o)); };
    auto refused = on_node && node != nullptr
                       ? core().cluster()->execute_on(*node, std::move(cmd), std::move(done))
                       : core().dispatcher().execute(std::move(cmd), std::move(done));
    if (refused) return;
    if (next == &NodeScan::on_unlink) {  // counted with the page's other UNLINKs
      auto unlink_failed = [self, e = std::move(refused).error()]() mutable {
        Outcome o;
        o.error = std::move(e);
        self->on_unlink(std::move(o));
      };
      if (core().on_loop_thread()) {
        unlink_failed();
      } else {
        core().transport().post(std::move(unlink_failed));
      }
      return;
    }
    if (resume(refused.error())) return;
    if (core().on_loop_thread()) {
      fail(std::move(refused).error());
    } else {
      core().transport().post(
          [self, e = std::move(refused).error()]() mutable { self->fail(std::move(e)); });
    }
  }

  // Worth resuming: the master could not be reached, or the cluster said it is failing over
  // (CLUSTERDOWN or TRYAGAIN as the answer, once the router's own retries within the deadline
  // ran out: a promotion can take longer than one call's deadline).
  static bool resumable(const Error& e) {
    if (detail::unavailable(e)) return true;
    return e.code == Errc::server && (e.message.find("CLUSTERDOWN") != std::string::npos ||
                                      e.message.find("TRYAGAIN") != std::string::npos);
  }

  // A cluster master could not be reached: try again soon, on whoever serves `slot` then.
  bool resume(const Error& e) {
    if (node == nullptr || !resumable(e) || ++resumes > kResumes) return false;
    if (!core().on_loop_thread()) {
      core().transport().post([self = shared_from_this()] { self->resume_now(); });
      return true;
    }
    core().cluster()->topology().refresh("delete_pattern: " + e.message);
    core().transport().schedule_after(kResumeDelay,
                                      [self = shared_from_this()] { self->resume_now(); });
    return true;
  }

  void resume_now() {
    if (core().transport().stopping()) {
      fail(Error{Errc::shutdown, "client is shutting down"});
      return;
    }
    if (auto v = core().cluster()->topology().view()) {
      detail::ClusterNode* owner = v->master_of(slot);
      if (owner != nullptr) node = owner;
    }
    cursor = "0";
    scan();
  }

  void scan() {
    if (++rounds > kMaxRounds) {
      fail(Error{Errc::protocol, "SCAN cursor never returned to 0"});
      return;
    }
    const std::size_t count =
        job->options.count != 0 ? job->options.count : core().config().scan_count;
    send(Command::of("SCAN", detail::scan_command(cursor, job->match, count), job->op), true,
         &NodeScan::on_scan);
  }

  // A completion that throws (out of memory grouping a page) would never end the job: it fails.
  void on_scan(Outcome&& o) {
    try {
      read_page(std::move(o));
    } catch (const std::exception& e) {
      fail(Error{Errc::too_large, std::string("out of memory reading a SCAN page: ") + e.what()});
    }
  }

  void read_page(Outcome&& o) {
    if (o.error) {
      if (resume(*o.error)) return;
      return fail(std::move(*o.error));
    }
    auto page = detail::parse_scan(*o.reply);
    if (!page) return fail(std::move(page).error());
    cursor = std::move(page->cursor);
    if (job->options.dry_run) {
      job->removed += page->keys.size();
      job->progressed();
      return next();
    }
    if (page->keys.empty()) return next();
    batch = std::move(page->keys);
    // A cluster refuses a multi-key command across slots: one UNLINK per slot of the page, each
    // counted as it succeeds, so that a page cut short by a failover counts exactly what went.
    std::vector<std::vector<std::string>> groups;
    if (node == nullptr) {
      groups.push_back(batch);
    } else {
      std::unordered_map<std::uint16_t, std::size_t> slots;  // slot -> index in groups
      for (const auto& k : batch) {
        auto [it, added] = slots.try_emplace(detail::key_slot(k), groups.size());
        if (added) groups.emplace_back();
        groups[it->second].push_back(k);
      }
    }
    unlinks_left = groups.size();
    page_removed = 0;
    page_error.reset();
    for (auto& g : groups) {
      send(Command::of("UNLINK", detail::unlink_command(g), Op::delete_pattern), false,
           &NodeScan::on_unlink);
    }
  }

  void on_unlink(Outcome&& o) {
    if (o.error) {
      if (!page_error) page_error = std::move(*o.error);
    } else if (auto n = detail::parse_integer("UNLINK", *o.reply); n) {
      page_removed += static_cast<std::uint64_t>(*n);
    } else if (!page_error) {
      page_error = std::move(n).error();
    }
    if (--unlinks_left > 0) return;
    // Near cache: the batch is gone (or may be): its copies go before the call returns. The
    // keys came from SCAN, so they already carry the key prefix.
    if (detail::NearCache* near = core().availability().near_cache()) {
      for (const auto& k : batch) near->invalidate(k);
    }
    batch.clear();
    job->removed += page_removed;
    job->progressed();
    if (page_error) {
      // A master lost mid-page: the scan starts again on its replacement, which finds what is
      // left (the keys removed are counted already and are gone).
      if (resume(*page_error)) return;
      return fail(std::move(*page_error));
    }
    next();
  }

  void next() {
    if (cursor == "0") return job->scan_done(std::nullopt);  // the last batch is done too
    scan();
  }
};

void start_pattern_delete(ClientCore& core, std::string_view pattern, PatternOptions options,
                          Callback<std::uint64_t> cb) {
  const char* name = options.dry_run ? "count_pattern" : "delete_pattern";
  if (pattern.size() > core.config().max_value_size) {
    core.fail_async<std::uint64_t>(
        Error{Errc::too_large, std::string(name) + ": pattern is over max_value_size"},
        std::move(cb));
    return;
  }
  auto job = std::make_shared<PatternDelete>();
  job->core = &core;
  job->op = options.dry_run ? Op::scan : Op::delete_pattern;
  job->options = std::move(options);
  job->budget = core.scoped_budget();
  job->match = detail::escape_glob(core.config().key_prefix);
  job->match.append(pattern);
  job->cb = std::move(cb);
  job->start = core.clock().now();
  std::vector<std::shared_ptr<NodeScan>> scans;
  if (auto* router = core.cluster()) {
    auto view = router->topology().view();
    if (view != nullptr) {
      for (auto m : view->map.masters()) {
        auto s = std::make_shared<NodeScan>();
        s->job = job;
        s->node = view->nodes[m];
        for (std::uint32_t slot = 0; slot < detail::kClusterSlots; ++slot) {
          if (view->map.master_of(static_cast<std::uint16_t>(slot)) == m) {
            s->slot = static_cast<std::uint16_t>(slot);
            break;
          }
        }
        scans.push_back(std::move(s));
      }
    }
  }
  if (scans.empty()) {  // a single Redis, or a cluster with no map yet (the SCAN says why)
    auto s = std::make_shared<NodeScan>();
    s->job = job;
    scans.push_back(std::move(s));
  }
  job->scans_left = scans.size();
  for (auto& s : scans) s->scan();
}

}  // namespace

void Client::delete_pattern_async(std::string_view pattern, Callback<std::uint64_t> cb) {
  start_pattern_delete(*core_, pattern, {}, std::move(cb));
}
void Client::delete_pattern_async(std::string_view pattern, const PatternOptions& options,
                                  Callback<std::uint64_t> cb) {
  start_pattern_delete(*core_, pattern, options, std::move(cb));
}
std::future<Result<std::uint64_t>> Client::delete_pattern_async(std::string_view pattern) {
  return detail::future_of<std::uint64_t>([&](Callback<std::uint64_t> cb) {
    start_pattern_delete(*core_, pattern, {}, std::move(cb));
  });
}
Result<std::uint64_t> Client::delete_pattern(std::string_view pattern) {
  return delete_pattern(pattern, PatternOptions{});
}
Result<std::uint64_t> Client::delete_pattern(std::string_view pattern,
                                             const PatternOptions& options) {
  if (auto e = core_->refuse_on_loop_thread(options.dry_run ? "count_pattern" : "delete_pattern")) {
    return std::move(*e);
  }
  return detail::future_of<std::uint64_t>([&](Callback<std::uint64_t> cb) {
           start_pattern_delete(*core_, pattern, options, std::move(cb));
         })
      .get();
}
Result<std::uint64_t> Client::count_pattern(std::string_view pattern) {
  PatternOptions o;
  o.dry_run = true;
  return delete_pattern(pattern, o);
}

}  // namespace rcache
