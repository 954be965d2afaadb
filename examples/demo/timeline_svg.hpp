// The demo's timeline as a hand-written SVG picture, one point per second: answered/s, 429/s,
// API calls/s, the share answered without an API call, the circuit breaker's state, and a shaded
// band where Redis was down. Opens in any browser.
//
// Each series is an element with an id (series-answered, series-429, series-upstream,
// series-hit-rate, series-breaker, band-redis-down) and a data-values attribute holding its
// per-second values, comma-separated ("-" where a second has none), for tools and tests.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "timeline.hpp"

namespace demo {

struct Chart {
  std::string title;
  std::string subtitle;
  std::vector<Second> seconds;
  std::vector<Phase> phases;                          // drawn as labelled ranges
  std::vector<std::pair<double, double>> redis_down;  // [from, to) in seconds
  double api_limit = 0;                               // requests/s; drawn when > 0
};

std::string timeline_svg(const Chart& chart);

// "closed", "half-open", "open", "forced-open", "disabled": the word the table and chart use.
const char* breaker_name(rcache::BreakerState s);

}  // namespace demo
