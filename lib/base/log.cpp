// The logger: level filter over the user's sink (stderr by default); to_string(LogLevel).
#include "base/log.hpp"

#include <cstdio>

namespace rcache {

std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warning:
      return "warning";
    case LogLevel::error:
      return "error";
    case LogLevel::off:
      return "off";
  }
  return "unknown";
}

namespace detail {

void Logger::event(LogLevel l, std::string_view name, std::string_view endpoint,
                   const std::string& message, std::string_view from, std::string_view to,
                   bool limited) const noexcept {
  if (!enabled(l)) return;
  try {
    std::uint64_t dropped = 0;
    if (limited) {
      std::string key;
      key.append(name).append("|").append(endpoint).append("|").append(from).append("|").append(to);
      const TimePoint now = clock_.now();
      const std::lock_guard lock(mu_);
      Repeat& r = repeats_[key];
      if (r.shown != TimePoint{} && now - r.shown < kRepeatWindow) {
        ++r.dropped;
        return;
      }
      dropped = r.dropped;
      r = Repeat{now, 0};
    }
    std::string line = message;
    if (dropped > 0) {
      line += " (" + std::to_string(dropped) + " more like this not shown since the last one)";
    }
    if (events_) {
      events_(LogEvent{l, name, endpoint, from, to, line, dropped});
    } else if (sink_) {
      sink_(l, line);
    } else {
      std::fprintf(stderr, "rcache %s: %s\n", std::string(to_string(l)).c_str(), line.c_str());
    }
  } catch (...) {
    // A throwing sink (or no memory for the line) loses the line, nothing else.
  }
}

}  // namespace detail
}  // namespace rcache
