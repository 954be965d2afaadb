// rcache — logging hook.
//
// rcache logs one line per state change (pool reachable/unreachable, breaker transitions, mode
// changes), never one per failed call. Messages never contain a password.
//
// Thread safety: the sink may be called from any rcache thread, concurrently; it must not call
// back into the Client.
#pragma once

#include <functional>
#include <string_view>

#include "rcache/export.hpp"

namespace rcache {

enum class LogLevel { debug = 0, info = 1, warning = 2, error = 3, off = 4 };

RCACHE_API std::string_view to_string(LogLevel level) noexcept;

// Receives each line that passes Config::log_level. Empty: write to stderr.
using LogSink = std::function<void(LogLevel level, std::string_view message)>;

}  // namespace rcache
