// What a call sends, before any attempt: built on the caller's thread, run by the Executor.
//
// Thread safety: a plain value, moved into the executor.
#pragma once

#include <cstdint>
#include <string>

#include "metrics/metrics.hpp"
#include "protocol/commands.hpp"

namespace rcache::detail {

struct Command {
  std::string wire;           // one or more RESP-encoded commands
  std::uint32_t replies = 1;  // how many replies `wire` produces
  const char* name = "";      // command name for messages (static string)
  bool idempotent = true;     // safe to send twice (INCRBY is not)
  Op op = Op::other;          // for metrics

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
