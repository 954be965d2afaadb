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

void Logger::log(LogLevel l, const std::string& message) const noexcept {
  if (!enabled(l)) return;
  try {
    if (sink_) {
      sink_(l, message);
    } else {
      std::fprintf(stderr, "rcache %s: %s\n", std::string(to_string(l)).c_str(), message.c_str());
    }
  } catch (...) {
    // A throwing sink loses the line, nothing else.
  }
}

}  // namespace detail
}  // namespace rcache
