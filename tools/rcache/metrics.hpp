// rcache CLI: `stats --metrics`: fetch a service's Prometheus page (plain HTTP/1.0 GET over a
// socket, bounded in time and size) and summarize its rcache_* series per client label (the
// families are listed in docs/METRICS.md).
//
// Thread safety: pure functions, except http_get's socket I/O on the calling thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rcache/error.hpp"

namespace rcache::cli {

struct HttpTarget {
  std::string host;
  std::string port = "80";
  std::string path = "/metrics";
};

// http://host[:port][/path] (IPv6 as [addr]); anything but http:// is Errc::invalid_argument.
Result<HttpTarget> parse_http_url(std::string_view url);

// The body of a 200 response; any other status, a timeout or a body over `max_bytes` is an
// error saying so.
Result<std::string> http_get(const HttpTarget& target, std::chrono::milliseconds timeout,
                             std::size_t max_bytes = std::size_t{32} << 20);

struct ClientMetrics {
  std::string client;  // the `client` label
  double hits = 0, misses = 0;
  std::map<std::string, double> calls;             // op -> calls (every result)
  std::map<std::string, double> errors;            // op -> calls that ended in an error
  std::map<std::string, double> errors_by_reason;  // Errc name -> count
  std::map<std::string, double> rejected;          // reason -> commands refused
  std::map<std::string, double> connections;       // state -> connections
  std::string breaker;                             // the state whose gauge is 1
  std::optional<double> up;
  double retries = 0, reconnects = 0;
};

struct MetricsSummary {
  std::string version;                 // rcache_build_info's label
  std::vector<ClientMetrics> clients;  // in order of first appearance
  std::size_t series = 0;              // rcache_* samples read
};

MetricsSummary summarize_metrics(std::string_view page);
std::string render_metrics_text(const MetricsSummary& s, std::string_view url);
std::string render_metrics_json(const MetricsSummary& s, std::string_view url);

}  // namespace rcache::cli
