// Internal logger over Config::log_sink / log_event_sink / log_level, with the rate limit of
// repeatable events.
//
// Thread safety: event() and log() may be called from any thread.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "base/clock.hpp"
#include "rcache/config.hpp"
#include "rcache/log.hpp"

namespace rcache::detail {

class Logger {
 public:
  static constexpr std::chrono::seconds kRepeatWindow{10};

  Logger(LogSink sink, LogLevel level, const ClockSource& clock = SteadyClock::instance())
      : sink_(std::move(sink)), level_(level), clock_(clock) {}
  Logger(LogSink sink, LogEventSink events, LogLevel level,
         const ClockSource& clock = SteadyClock::instance())
      : sink_(std::move(sink)), events_(std::move(events)), level_(level), clock_(clock) {}
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  bool enabled(LogLevel l) const noexcept { return l >= level_ && level_ != LogLevel::off; }

  // One event. `limited`: it may repeat quickly; shown at most once per kRepeatWindow for one
  // (event, endpoint, from, to), the next one shown says how many were dropped.
  void event(LogLevel l, std::string_view name, std::string_view endpoint,
             const std::string& message, std::string_view from = {}, std::string_view to = {},
             bool limited = false) const noexcept;

 private:
  struct Repeat {
    TimePoint shown{};
    std::uint64_t dropped = 0;
  };
  LogSink sink_;
  LogEventSink events_;
  LogLevel level_;
  const ClockSource& clock_;
  mutable std::mutex mu_;
  mutable std::map<std::string, Repeat> repeats_;
};

}  // namespace rcache::detail
