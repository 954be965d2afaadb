// The declared counters (RCACHE_COUNTERS) as a table the exporters loop over: the Stats field,
// its JSON group and key, its Prometheus family, label and help.
//
// Thread safety: constant data.
#pragma once

#include <cstdint>
#include <string_view>

#include "rcache/stats.hpp"

namespace rcache::detail {

struct CounterInfo {
  std::uint64_t Stats::*field;
  std::string_view group;  // "" when the JSON key is top-level
  std::string_view key;
  std::string_view family;
  std::string_view label;  // "name=value" or ""
  std::string_view help;
};

inline constexpr CounterInfo kCounterTable[] = {
#define RCACHE_COUNTER_ROW(field, group, key, family, label, help) \
  {&Stats::field, group, key, family, label, help},
    RCACHE_COUNTERS(RCACHE_COUNTER_ROW)
#undef RCACHE_COUNTER_ROW
};

}  // namespace rcache::detail
