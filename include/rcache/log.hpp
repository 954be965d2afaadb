// rcache — logging hook.
//
// rcache logs one line per state change (pool reachable/unreachable, breaker transitions, mode
// changes), never one per failed call. Messages never contain a password.
//
// Two ways to receive them (Config::log_sink, Config::log_event_sink):
//  - LogSink: the level and the human line ("redis 127.0.0.1:6379 unreachable: ...").
//  - LogEventSink: the same line with structured fields, to forward to spdlog, JSON logs or a
//    log pipeline without parsing text: a stable event name, the endpoint, and the from/to
//    states of a state change. The event names are listed in docs/OPERATIONS.md.
// The start and the end of an outage are logged at the same level (warning): whoever sees
// "redis_unreachable" or a breaker opening also sees "redis_reachable" or it closing. Events
// that can repeat quickly (a breaker re-tripping after each probe, a hostile server's broken
// replies) are rate-limited: at most one per event, endpoint and state pair every 10 s; the next
// one shown carries how many were suppressed.
//
// Thread safety: the sink may be called from any rcache thread, concurrently; it must not call
// back into the Client.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "rcache/export.hpp"

namespace rcache {

enum class LogLevel { debug = 0, info = 1, warning = 2, error = 3, off = 4 };

RCACHE_API std::string_view to_string(LogLevel level) noexcept;

// Receives each line that passes Config::log_level. Empty: write to stderr.
using LogSink = std::function<void(LogLevel level, std::string_view message)>;

// One log event. The views are valid during the call only.
struct LogEvent {
  LogLevel level = LogLevel::info;
  std::string_view event;     // stable snake_case name: "redis_unreachable", "breaker_transition"
  std::string_view endpoint;  // "127.0.0.1:6379", "/run/redis.sock", or "" when none applies
  std::string_view from;      // state changes: the states before and after ("closed", "open");
  std::string_view to;        // empty for other events
  std::string_view message;   // the human line, as a LogSink receives it
  std::uint64_t suppressed = 0;  // events like this one dropped by the rate limit since the last
};

// Receives each event that passes Config::log_level; when set, log_sink is not called.
using LogEventSink = std::function<void(const LogEvent& event)>;

}  // namespace rcache
