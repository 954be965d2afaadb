// The three call forms over a Result<Command> (build -> run -> parse), and local-mode fallback.
//
// Thread safety: as Client.
#pragma once

#include <future>
#include <memory>

#include "client/core.hpp"

namespace rcache::detail {

// A built command, or the argument error that stopped it.
inline Result<Command> command_of(const char* name, Result<Wire> wire, Op op,
                                  bool idempotent = true) {
  if (!wire) return std::move(wire).error();
  return Command::of(name, std::move(*wire), op, idempotent);
}

// Parse adaptor: a parser over the last reply.
template <class T, class F>
auto on_reply(F f) {
  return [f = std::move(f)](Outcome& o) -> Result<T> { return f(*o.reply); };
}

template <class T, class Parse>
Result<T> run(ClientCore& core, Result<Command> cmd, Parse parse) {
  if (!cmd) return std::move(cmd).error();
  return core.call<T>(std::move(*cmd), std::move(parse));
}

template <class T, class Parse>
void run_async(ClientCore& core, Result<Command> cmd, Parse parse, Callback<T> cb) {
  if (!cmd) {
    core.fail_async<T>(std::move(cmd).error(), std::move(cb));
    return;
  }
  core.call_async<T>(std::move(*cmd), std::move(parse), std::move(cb));
}

template <class T>
std::future<Result<T>> future_of(const std::function<void(Callback<T>)>& start) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  start([promise](Result<T> r) { promise->set_value(std::move(r)); });
  return future;
}

// Local mode: an answer from the local store replaces an "unavailable" error. `local` is called
// with that error (a local write may decline and return it).
template <class T, class Local>
Result<T> or_fallback(ClientCore& core, Result<T> r, Local local) {
  if (r.ok() || !core.availability().falls_back(r.error())) return r;
  return local(std::move(r).error());
}

template <class T, class Local>
Callback<T> with_fallback(ClientCore& core, Callback<T> cb, Local local) {
  if (!core.availability().local_mode()) return cb;
  return [&core, cb = std::move(cb), local = std::move(local)](Result<T> r) {
    r = or_fallback(core, std::move(r), local);
    if (cb) cb(std::move(r));
  };
}

}  // namespace rcache::detail
