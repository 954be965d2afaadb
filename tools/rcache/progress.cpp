// rcache CLI: progress lines on stderr.
#include "progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace rcache::cli {

Progress::Progress(const Context& ctx)
    : tty_(::isatty(STDERR_FILENO) == 1),
      next_(std::chrono::steady_clock::now() + std::chrono::seconds(1)) {
  enabled_ = !ctx.quiet() && (tty_ || ctx.inv().global.progress);
}

void Progress::show(const std::string& line) {
  if (tty_) {
    std::fprintf(stderr, "\r\033[Krcache: %s", line.c_str());
    open_line_ = true;
  } else {
    std::fprintf(stderr, "rcache: %s\n", line.c_str());
  }
  std::fflush(stderr);
}

void Progress::done() {
  if (!open_line_) return;
  std::fputc('\n', stderr);
  open_line_ = false;
}

}  // namespace rcache::cli
