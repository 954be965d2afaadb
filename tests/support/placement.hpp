// CPU placement for benchmarks: pin every thread of a process to one CPU.
#pragma once

#include <sys/types.h>

namespace rcache::test {

// Pins every thread `pid` has now to `cpu`. False if any could not be pinned.
bool pin_thread_group(pid_t pid, int cpu);

}  // namespace rcache::test
