// The usable-CPU count that gates the blocking caller's spin: cgroup quota texts and the live
// process.
#include "base/cpus.hpp"

#include <gtest/gtest.h>
#include <sched.h>

namespace rcache::detail {
namespace {

TEST(Cpus, CgroupV2CpuMaxIsRoundedUpAndMaxMeansNoLimit) {
  EXPECT_EQ(cpus_of_cpu_max("max 100000"), std::nullopt);
  EXPECT_EQ(cpus_of_cpu_max("100000 100000"), 1u);
  EXPECT_EQ(cpus_of_cpu_max("150000 100000"), 2u);
  EXPECT_EQ(cpus_of_cpu_max("50000 100000"), 1u);  // half a CPU is still one to run on
  EXPECT_EQ(cpus_of_cpu_max("400000 100000\n"), 4u);
}

TEST(Cpus, UnreadableQuotaTextIsNoLimitNotACrash) {
  EXPECT_EQ(cpus_of_cpu_max(""), std::nullopt);
  EXPECT_EQ(cpus_of_cpu_max("100000"), std::nullopt);
  EXPECT_EQ(cpus_of_cpu_max("abc 100000"), std::nullopt);
  EXPECT_EQ(cpus_of_cpu_max("100000 0"), std::nullopt);
  EXPECT_EQ(cpus_of_cpu_max("-5 100000"), std::nullopt);
  EXPECT_EQ(cpus_of_cfs(-1, 100000), std::nullopt);  // cgroup v1: no quota
  EXPECT_EQ(cpus_of_cfs(250000, 100000), 3u);
}

TEST(Cpus, TheAffinityMaskBoundsTheCount) {
  cpu_set_t saved;
  ASSERT_EQ(sched_getaffinity(0, sizeof(saved), &saved), 0);
  const unsigned all = usable_cpus();
  EXPECT_GE(all, 1u);
  EXPECT_LE(all, static_cast<unsigned>(CPU_COUNT(&saved)));
  // Pinned to one CPU (this thread: sched_getaffinity(0) reads the calling thread's mask).
  int first = 0;
  while (!CPU_ISSET(first, &saved)) ++first;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  EXPECT_EQ(usable_cpus(), 1u);
  ASSERT_EQ(sched_setaffinity(0, sizeof(saved), &saved), 0);
  EXPECT_EQ(usable_cpus(), all);
}

}  // namespace
}  // namespace rcache::detail
