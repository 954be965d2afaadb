// How many CPUs this process may use: its affinity mask, bounded by a cgroup CPU quota (v2
// cpu.max or v1 cfs_quota_us / cfs_period_us, rounded up). A container limited to one CPU and a
// process pinned to one CPU both count as 1.
//
// Thread safety: pure reads of /proc and /sys; callable from any thread.
#pragma once

#include <optional>
#include <string_view>

namespace rcache::detail {

// At least 1.
unsigned usable_cpus() noexcept;

// The CPUs a quota file's text allows, rounded up: cgroup v2 "cpu.max" ("max 100000" or
// "150000 100000"), or nullopt for no limit or text it cannot read. Pure, for tests.
std::optional<unsigned> cpus_of_cpu_max(std::string_view text) noexcept;
// cgroup v1: cfs_quota_us (-1: no limit) and cfs_period_us.
std::optional<unsigned> cpus_of_cfs(long long quota_us, long long period_us) noexcept;

}  // namespace rcache::detail
