// What the demo prints about its load: each phase's announcement, a line per second, the table
// per phase with its legend, and the single redis-server's outage in words.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "timeline.hpp"

namespace demo {

// The options, for --help (to stdout) or a wrong argument (to stderr).
void print_usage(FILE* to, const char* self);

// "steady (3 s): ..." as a phase begins; `cluster`: the phases of --cluster.
void announce(const Phase& p, int clients, bool cluster);

// "  t= 5- 6s  answered ..." for the second that just ended (sec counts from 1); with `killed`
// (--cluster) also the killed master's keys in that second.
void print_second(int sec, const Second& s, const Second* killed);

// "  >>> redis is down, the service stays live and ready: /healthz 200 ok, ..." from the
// "<path> <status> <body>" lines of `probes`.
void print_probes(const char* what, const std::string& probes);

// The table of the counted phases, the warm-up's line, the API's own latency (direct_ms: calls
// straight to it) and the legend. Returns every phase's summary, the warm-up's first. `cluster`:
// the redis column says "part" for a phase in which one master was down.
std::vector<PhaseSummary> print_table(const std::vector<Second>& seconds,
                                      const std::vector<Phase>& phases, int clients, bool cluster,
                                      const std::vector<double>& direct_ms);

// The single redis-server's outage and restart, against the steady phase.
void print_outage(const PhaseSummary& steady, const PhaseSummary& outage, const PhaseSummary& after,
                  long distinct_ids);

}  // namespace demo
