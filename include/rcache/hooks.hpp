// rcache — a per-operation hook, for tracing (OpenTelemetry spans, your own tracer) or logging of
// slow calls.
//
// Config::op_hook is called once per call the application made, when it ends, with what a span
// needs: the operation, how many keys it touched, how long it took, how it ended and the node
// that served it. get_or_load is one operation (its own reads and writes are not reported), a
// call refused without touching Redis is reported with its error.
//
//   c.op_hook = [](const rcache::OpEvent& e) {
//     auto span = tracer->StartSpan(std::string("rcache.") + std::string(e.op),
//                                   {.start_system_time = std::chrono::system_clock::now() -
//                                                         e.duration});
//     span->SetAttribute("db.system", "redis");  ... span->End();
//   };
//
// The hook runs on the thread that completes the call: the caller's for blocking calls and for
// async calls answered at once from the near cache, the client's loop thread for other callbacks
// and futures (and for delete_pattern). Argument errors (nothing attempted) are not reported.
// Keep it short and non-blocking (hand work to another thread); it must not call back into the
// Client. An exception it throws is swallowed.
// examples/tracing_hook.cpp records spans this way.
//
// Thread safety: the hook may be called from several threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

#include "rcache/error.hpp"

namespace rcache {

struct OpEvent {
  std::string_view op;     // "get", "set", "mget", "get_or_load", "delete_pattern", ...
  std::uint32_t keys = 1;  // keys the call named (mget, mset, del, unlink, exists: several)
  std::chrono::nanoseconds duration{0};  // submission to result, retries included
  std::string_view outcome;              // "hit", "miss", "ok" or "error"
  Errc error{};                          // the error kind when outcome is "error"
  std::string_view node;  // the Redis that served it ("127.0.0.1:6379"; the current master)
};

using OpHook = std::function<void(const OpEvent& event)>;

}  // namespace rcache
