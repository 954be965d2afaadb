// CPU placement for benchmarks.
#include "placement.hpp"

#include <dirent.h>
#include <sched.h>

#include <cstdlib>
#include <string>

namespace rcache::test {

bool pin_thread_group(pid_t pid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return false;
  bool ok = true;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    ok = sched_setaffinity(static_cast<pid_t>(std::atoi(e->d_name)), sizeof set, &set) == 0 && ok;
  }
  closedir(d);
  return ok;
}

}  // namespace rcache::test
