// What a call sends, before any attempt: built on the caller's thread, run by the Executor.
//
// Thread safety: a plain value, moved into the executor.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/clock.hpp"
#include "metrics/metrics.hpp"
#include "protocol/commands.hpp"

namespace rcache::detail {

struct Command {
  std::string wire;           // one or more RESP-encoded commands
  std::uint32_t replies = 1;  // how many replies `wire` produces
  const char* name = "";      // command name for messages (static string)
  bool idempotent = true;     // safe to send twice (INCRBY is not)
  Op op = Op::other;          // for metrics
  std::uint32_t keys = 1;     // keys named, for the operation hook
  // Deferred bytes: when set, `wire` is empty and the executor calls this once the call is
  // admitted (disabled mode, bulkhead, breaker), inside the call's deadline and latency, to make
  // them (a SET compresses its value here, so a refused call costs no compression). It runs on
  // the calling thread before execute() returns, so it may hold views of the caller's arguments.
  std::function<Result<Wire>()> build;
  // When set, the bytes to send instead of `wire`, shared with the caller (a cluster call keeps
  // them to send again after a redirection).
  std::shared_ptr<const std::string> shared_wire;
  // When set, the call's deadline (a redirected call keeps its own); else now + Config::deadline.
  TimePoint deadline{};

  static Command of(const char* name, Wire&& w, Op op, bool idempotent = true) {
    Command c;
    c.wire = std::move(w.bytes);
    c.replies = w.replies;
    c.name = name;
    c.op = op;
    c.idempotent = idempotent;
    return c;
  }
};

}  // namespace rcache::detail
