// rcache CLI: the Prometheus text page of a service, read and summarized per rcache client.
#include "metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

#include "text.hpp"

namespace rcache::cli {
namespace {

struct Sample {
  std::string_view name;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;

  std::string label(std::string_view key) const {
    for (const auto& [k, v] : labels) {
      if (k == key) return v;
    }
    return "";
  }
};

bool parse_value(std::string_view s, double& out) {
  if (s == "+Inf" || s == "Inf") {
    out = INFINITY;
    return true;
  }
  if (s == "-Inf") {
    out = -INFINITY;
    return true;
  }
  if (s == "NaN") {
    out = NAN;
    return true;
  }
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// `name{k="v",...} value [timestamp]`; false for anything else (comments are skipped before).
bool parse_sample(std::string_view line, Sample& s) {
  std::size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  s.name = line.substr(0, i);
  s.labels.clear();
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      const auto eq = line.find('=', i);
      if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
        return false;
      }
      std::string key(line.substr(i, eq - i));
      std::string value;
      i = eq + 2;
      for (; i < line.size() && line[i] != '"'; ++i) {
        if (line[i] == '\\' && i + 1 < line.size()) {
          ++i;
          value += line[i] == 'n' ? '\n' : line[i];
        } else {
          value += line[i];
        }
      }
      if (i >= line.size()) return false;
      ++i;  // the closing quote
      s.labels.emplace_back(std::move(key), std::move(value));
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return false;
    ++i;  // '}'
  }
  while (i < line.size() && line[i] == ' ') ++i;
  const auto end = line.find(' ', i);
  return parse_value(line.substr(i, end == std::string_view::npos ? end : end - i), s.value);
}

ClientMetrics& client_of(MetricsSummary& m, const std::string& name) {
  for (auto& c : m.clients) {
    if (c.client == name) return c;
  }
  m.clients.emplace_back();
  m.clients.back().client = name;
  return m.clients.back();
}

void add(MetricsSummary& m, const Sample& s) {
  if (s.name == "rcache_build_info") {
    m.version = s.label("version");
    return;
  }
  const std::string client = s.label("client");
  if (client.empty()) return;
  ClientMetrics& c = client_of(m, client);
  if (s.name == "rcache_hits_total") {
    c.hits += s.value;
  } else if (s.name == "rcache_misses_total") {
    c.misses += s.value;
  } else if (s.name == "rcache_requests_total") {
    c.calls[s.label("op")] += s.value;
    if (s.label("result") == "error") c.errors[s.label("op")] += s.value;
  } else if (s.name == "rcache_errors_total") {
    c.errors_by_reason[s.label("reason")] += s.value;
  } else if (s.name == "rcache_rejected_total") {
    c.rejected[s.label("reason")] += s.value;
  } else if (s.name == "rcache_circuit_state") {
    if (s.value == 1) c.breaker = s.label("state");
  } else if (s.name == "rcache_up") {
    c.up = s.value;
  } else if (s.name == "rcache_connections") {
    c.connections[s.label("state")] += s.value;
  } else if (s.name == "rcache_retries_total") {
    c.retries += s.value;
  } else if (s.name == "rcache_reconnects_total") {
    c.reconnects += s.value;
  }
}

std::string count_text(double v) {
  if (v >= 0 && v < 1e18 && std::floor(v) == v) return with_commas(static_cast<std::uint64_t>(v));
  return fixed(v, 2);
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  if (std::floor(v) == v && std::fabs(v) < 1e18) return std::to_string(static_cast<long long>(v));
  return fixed(v, 6);
}

double total(const std::map<std::string, double>& m) {
  double t = 0;
  for (const auto& [k, v] : m) t += v;
  return t;
}

// "a 3, b 1" by count, largest first; zeros left out. "none" when all are zero.
std::string by_count(const std::map<std::string, double>& m) {
  std::vector<std::pair<std::string, double>> v(m.begin(), m.end());
  std::stable_sort(v.begin(), v.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string out;
  for (const auto& [k, n] : v) {
    if (n == 0) continue;
    out += (out.empty() ? "" : ", ") + k + " " + count_text(n);
  }
  return out.empty() ? "none" : out;
}

std::string json_map(const std::map<std::string, double>& m) {
  std::string out = "{";
  for (const auto& [k, v] : m) {
    out += (out.size() > 1 ? "," : "") + json_string(k) + ":" + json_number(v);
  }
  return out + "}";
}

double hit_rate(const ClientMetrics& c) {
  return c.hits + c.misses > 0 ? c.hits / (c.hits + c.misses) : 0;
}

}  // namespace

MetricsSummary summarize_metrics(std::string_view page) {
  MetricsSummary m;
  Sample s;
  std::size_t pos = 0;
  while (pos < page.size()) {
    std::size_t end = page.find('\n', pos);
    if (end == std::string_view::npos) end = page.size();
    std::string_view line = page.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.rfind("rcache_", 0) != 0) continue;  // comments, blanks, other families
    if (!parse_sample(line, s)) continue;
    ++m.series;
    add(m, s);
  }
  return m;
}

std::string render_metrics_text(const MetricsSummary& s, std::string_view url) {
  std::string t = "rcache metrics from " + std::string(url);
  if (!s.version.empty()) t += " (rcache " + s.version + ")";
  t += ": " + std::to_string(s.clients.size()) + " client(s), " + std::to_string(s.series) +
       " series\n";
  for (const auto& c : s.clients) {
    t += "\nclient " + c.client + ": " +
         (c.up ? (*c.up == 1 ? std::string("up") : std::string("DOWN")) : std::string("up ?")) +
         ", breaker " + (c.breaker.empty() ? std::string("?") : c.breaker) + "\n";
    t += "  hit rate     " +
         (c.hits + c.misses > 0 ? fixed(hit_rate(c) * 100, 1) + " %" : std::string("n/a")) + " (" +
         count_text(c.hits) + " hits, " + count_text(c.misses) + " misses)\n";
    t += "  calls        " + count_text(total(c.calls)) + ", errors " +
         count_text(total(c.errors)) + "\n";
    t += "  by op        " + by_count(c.calls) + "\n";
    t += "  errors       " + by_count(c.errors_by_reason) + "\n";
    t += "  rejected     " + by_count(c.rejected) + "\n";
    t += "  retries      " + count_text(c.retries) + ", reconnects " + count_text(c.reconnects) +
         "\n";
    const auto conn = [&](const char* state) {
      const auto it = c.connections.find(state);
      return count_text(it == c.connections.end() ? 0 : it->second);
    };
    t += "  connections  " + conn("ready") + " ready, " + conn("connecting") + " connecting, " +
         conn("down") + " down\n";
  }
  return t;
}

std::string render_metrics_json(const MetricsSummary& s, std::string_view url) {
  std::string j =
      "{\"ok\":true,\"command\":\"stats\",\"source\":\"metrics\",\"url\":" + json_string(url) +
      ",\"version\":" + json_string(s.version) + ",\"series\":" + std::to_string(s.series) +
      ",\"clients\":{";
  bool first = true;
  for (const auto& c : s.clients) {
    j += std::string(first ? "" : ",") + json_string(c.client) +
         ":{\"up\":" + (c.up ? json_number(*c.up) : "null") +
         ",\"breaker\":" + json_string(c.breaker) + ",\"hits\":" + json_number(c.hits) +
         ",\"misses\":" + json_number(c.misses) + ",\"hit_rate\":" + fixed(hit_rate(c), 4) +
         ",\"calls\":" + json_map(c.calls) + ",\"errors\":" + json_map(c.errors) +
         ",\"errors_by_reason\":" + json_map(c.errors_by_reason) +
         ",\"rejected\":" + json_map(c.rejected) + ",\"retries\":" + json_number(c.retries) +
         ",\"reconnects\":" + json_number(c.reconnects) +
         ",\"connections\":" + json_map(c.connections) + "}";
    first = false;
  }
  return j + "}}\n";
}

}  // namespace rcache::cli
