// rcache CLI: progress lines on stderr for long runs: at most once a second, the first after a
// second (short runs print none), only when stderr is a terminal or with --progress, never with
// --quiet. On a terminal the line is rewritten in place.
//
// Thread safety: one thread (the command's).
#pragma once

#include <chrono>
#include <string>

#include "cli.hpp"

namespace rcache::cli {

class Progress {
 public:
  explicit Progress(const Context& ctx);
  ~Progress() { done(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Shows `line()` if a second has passed since the last line (or the start).
  template <class F>
  void tick(F&& line) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now < next_) return;
    next_ = now + std::chrono::seconds(1);
    show(line());
  }
  // Ends a line rewritten in place, so that what follows starts on its own line.
  void done();

 private:
  void show(const std::string& line);

  bool enabled_ = false;
  bool tty_ = false;
  bool open_line_ = false;
  std::chrono::steady_clock::time_point next_;
};

}  // namespace rcache::cli
