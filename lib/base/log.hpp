// Internal logger over Config::log_sink / log_level.
//
// Thread safety: log() may be called from any thread.
#pragma once

#include <string>

#include "rcache/config.hpp"
#include "rcache/log.hpp"

namespace rcache::detail {

class Logger {
 public:
  Logger(LogSink sink, LogLevel level) : sink_(std::move(sink)), level_(level) {}
  bool enabled(LogLevel l) const noexcept { return l >= level_ && level_ != LogLevel::off; }
  void log(LogLevel l, const std::string& message) const noexcept;

 private:
  LogSink sink_;
  LogLevel level_;
};

}  // namespace rcache::detail
