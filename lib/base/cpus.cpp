// The CPUs this process may use (see cpus.hpp).
#include "base/cpus.hpp"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <string>

namespace rcache::detail {

namespace {

std::optional<std::string> read_small(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string text;
  std::getline(in, text);  // one line is all these files hold
  return text;
}

std::optional<long long> number(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.remove_suffix(1);
  long long v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// The process's cgroup v2 path ("0::/some/path"), if it has one.
std::optional<std::string> cgroup_v2_path() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  for (int i = 0; i < 64 && std::getline(in, line); ++i) {
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  }
  return std::nullopt;
}

std::optional<unsigned> cgroup_cpus() {
  if (auto path = cgroup_v2_path()) {
    // The limit may sit on any ancestor: the smallest one on the way up counts.
    std::optional<unsigned> best;
    std::string p = *path;
    for (int depth = 0; depth < 32; ++depth) {
      if (auto text = read_small("/sys/fs/cgroup" + (p == "/" ? std::string() : p) + "/cpu.max")) {
        if (auto c = cpus_of_cpu_max(*text)) best = best ? std::min(*best, *c) : *c;
      }
      if (p.empty() || p == "/") break;
      const auto slash = p.rfind('/');
      p = slash == 0 || slash == std::string::npos ? std::string("/") : p.substr(0, slash);
    }
    if (best) return best;
  }
  const auto quota = read_small("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us");
  const auto period = read_small("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us");
  if (quota && period) {
    const auto q = number(*quota);
    const auto per = number(*period);
    if (q && per) return cpus_of_cfs(*q, *per);
  }
  return std::nullopt;
}

}  // namespace

std::optional<unsigned> cpus_of_cfs(long long quota_us, long long period_us) noexcept {
  if (quota_us <= 0 || period_us <= 0) return std::nullopt;
  return static_cast<unsigned>(std::max<long long>(1, (quota_us + period_us - 1) / period_us));
}

std::optional<unsigned> cpus_of_cpu_max(std::string_view text) noexcept {
  const auto space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const std::string_view quota = text.substr(0, space);
  if (quota == "max") return std::nullopt;
  const auto q = number(quota);
  const auto p = number(text.substr(space + 1));
  if (!q || !p) return std::nullopt;
  return cpus_of_cfs(*q, *p);
}

unsigned usable_cpus() noexcept {
  try {
    unsigned n = 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) n = static_cast<unsigned>(CPU_COUNT(&set));
    if (n == 0) n = 1;
    if (auto c = cgroup_cpus()) n = std::min(n, *c);
    return std::max(n, 1u);
  } catch (...) {
    return 1;  // out of memory reading a file: assume the worst, which only turns the spin off
  }
}

}  // namespace rcache::detail
