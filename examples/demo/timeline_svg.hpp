// The demo's timeline as a hand-written SVG picture, one point per second: answered/s, 429/s,
// API calls/s, the share answered without an API call, the circuit breaker's state, and a shaded
// band where Redis was down. Opens in any browser.
//
// Each series is an element with an id (series-answered, series-429, series-upstream,
// series-hit-rate, series-breaker, band-redis-down; with a group: series-hit-rate-group) and a
// data-values attribute holding its per-second values, comma-separated ("-" where a second has
// none), for tools and tests. Marks are vertical lines in <g id="marks">.
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
  std::string down_label = "Redis down";              // what the band means
  double api_limit = 0;                               // requests/s; drawn when > 0
  // A group of keys (with --cluster: the killed master's) whose share answered without an API
  // call gets a line of its own, when `group` is not empty.
  std::vector<Second> group;
  std::string group_label;                            // short: it goes in the legend's first row
  std::string group_title;                            // the line's tooltip
  std::vector<std::pair<double, std::string>> marks;  // labelled moments, in seconds
};

std::string timeline_svg(const Chart& chart);

// "closed", "half-open", "open", "forced-open", "disabled": the word the table and chart use.
const char* breaker_name(rcache::BreakerState s);

}  // namespace demo
