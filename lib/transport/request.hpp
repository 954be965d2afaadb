// A command on its way through the transport, and what it ends with.
//
// Thread safety: a Request is built on the caller's thread, handed to Transport::submit() and from
// then on touched only by the loop thread. Its completion runs exactly once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "protocol/resp.hpp"
#include "rcache/error.hpp"

namespace rcache::detail {

class Pool;

// What a request ends with: an error, or its replies.
struct Outcome {
  std::optional<Error> error;
  bool sent = false;              // bytes of it may have reached the server
  ReplyPtr reply;                 // reply to the last command of the request
  std::vector<ReplyPtr> earlier;  // replies to the commands before it (multi-command requests)
  // Non-zero when a connection drop ended it: every request failed by the same drop carries the
  // same id, so that the layers above can take one drop as one signal, not one per request. The
  // pool gives connections that were serving and are lost together one id (LinkObserver::drop_id):
  // a kill of the whole pool is one event for the breaker and the retry budget, whatever
  // pool_size is.
  std::uint64_t drop = 0;
};

// Runs exactly once, on the loop thread (or on the thread that submits after shutdown began).
using Completion = std::function<void(Outcome&&)>;

// One attempt of a command on the wire. Retries share the same bytes.
struct Request {
  std::shared_ptr<const std::string> wire;
  std::uint32_t replies = 1;  // how many replies `wire` produces
  const char* name = "";      // command name for error messages (static string)
  TimePoint deadline = TimePoint::max();
  Completion done;
  Pool* pool = nullptr;  // the pool that sends it (a cluster node's); null: the Transport's own
};

// Invokes the completion; an exception from it is swallowed (it must never reach libuv).
void complete(Request& request, Outcome&& outcome) noexcept;
// `sent`: the request had been handed to a socket (it may have run on the server).
void complete(Request& request, Error error, bool sent = false) noexcept;
void complete(Completion& done, Outcome&& outcome) noexcept;

}  // namespace rcache::detail
