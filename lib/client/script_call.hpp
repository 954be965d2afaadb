// A script call: EVALSHA, then EVAL with the source if the server answers NOSCRIPT, as one call
// of the application (one deadline, one record in the metrics, one callback).
//
// Thread safety: as Client.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "client/core.hpp"
#include "protocol/commands.hpp"

namespace rcache::detail {

// `parse` reads the final reply (EVALSHA's, or EVAL's after NOSCRIPT); `cb` runs on the loop
// thread. `first` is the EVALSHA command; `source` the script, sent only after NOSCRIPT.
template <class T, class Parse>
void eval_async(ClientCore& core, Command&& first, std::shared_ptr<const std::string> source,
                Parse parse, Callback<T> cb) {
  const auto start = core.clock().now();
  const Op op = first.op;
  core.stamp(first);
  if (first.deadline == TimePoint{}) first.deadline = start + core.config().deadline;
  const TimePoint deadline = first.deadline;
  const bool idempotent = first.idempotent;
  auto sent = std::make_shared<std::string>(first.wire);  // for EVAL's tail, after NOSCRIPT
  auto finish = [&core, start, op](Parse& p, Callback<T>& done, Outcome& o) {
    Result<T> r = ClientCore::parse_safely<T>("EVALSHA", p, o);
    core.record(op, r, start);
    if (!done) return;
    try {
      done(std::move(r));
    } catch (...) {
      // Like every callback: an exception is discarded, never propagated into libuv.
    }
  };
  Completion on_first = [&core, source = std::move(source), sent, deadline, idempotent, op, finish,
                         parse = std::move(parse), cb = std::move(cb)](Outcome&& o) mutable {
    if (o.error || !o.reply || !is_noscript(*o.reply)) return finish(parse, cb, o);
    // The server does not know the script (it did not run): EVAL loads and runs it.
    Command again;
    again.wire = eval_from_evalsha(*sent, *source);
    again.name = "EVAL";
    again.op = op;
    again.idempotent = idempotent;
    again.keys = 0;
    again.deadline = deadline;
    auto state = std::make_shared<std::pair<Parse, Callback<T>>>(std::move(parse), std::move(cb));
    Completion on_eval = [state, finish](Outcome&& o2) mutable {
      finish(state->first, state->second, o2);
    };
    auto refused = core.dispatcher().execute(std::move(again), std::move(on_eval));
    if (!refused) {
      Outcome e;
      e.error = std::move(refused).error();
      finish(state->first, state->second, e);  // execute() left on_eval untouched: ours to end
    }
  };
  auto refused = core.dispatcher().execute(std::move(first), std::move(on_first));
  if (!refused) {
    // Refused before anything was sent: execute() left on_first untouched; end it on the loop.
    // NOLINTNEXTLINE(bugprone-use-after-move)
    core.transport().post([done = std::move(on_first), e = std::move(refused).error()]() mutable {
      Outcome o;
      o.error = std::move(e);
      done(std::move(o));
    });
  }
}

}  // namespace rcache::detail
