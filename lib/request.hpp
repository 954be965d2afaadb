// A command on its way through the transport.
//
// Thread safety: a Request is built on the caller's thread, handed to Transport::submit() and from
// then on touched only by the loop thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rcache/error.hpp"
#include "metrics/metrics.hpp"
#include "resp.hpp"

namespace rcache::detail {

using Clock = std::chrono::steady_clock;

// What a request ends with: an error, or its replies.
struct Outcome {
  std::optional<Error> error;
  bool sent = false;              // bytes of it may have reached the server
  ReplyPtr reply;                 // reply to the last command of the request
  std::vector<ReplyPtr> earlier;  // replies to the commands before it (multi-command requests)
};

// Runs exactly once, on the loop thread (or on the thread that submits after shutdown began).
using Completion = std::function<void(Outcome&&)>;

// What a call sends, before any attempt: built on the caller's thread.
struct Command {
  std::string wire;           // one or more RESP-encoded commands
  std::uint32_t replies = 1;  // how many replies `wire` produces
  const char* name = "";      // command name for messages (static string)
  bool idempotent = true;     // safe to send twice (INCRBY is not)
  Op op = Op::other;          // for metrics
};

// One attempt of a Command on the wire. Retries share the same bytes.
struct Request {
  std::shared_ptr<const std::string> wire;
  std::uint32_t replies = 1; // how many replies `wire` produces
  const char* name = "";     // command name for error messages (static string)
  Clock::time_point deadline = Clock::time_point::max();
  Completion done;
};

// Invokes the completion; an exception from it is swallowed (it must never reach libuv).
void complete(Request& request, Outcome&& outcome) noexcept;
// `sent`: the request had been handed to a socket (it may have run on the server).
void complete(Request& request, Error error, bool sent = false) noexcept;

}  // namespace rcache::detail
