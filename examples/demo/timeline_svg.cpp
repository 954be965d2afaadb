#include "timeline_svg.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

namespace demo {
namespace {

constexpr double kWidth = 1000, kHeight = 520;
// The plot area.
constexpr double kLeft = 80, kRight = 920, kTop = 118, kBottom = 420;
constexpr double kStripTop = 474, kStripHeight = 16;  // the breaker's strip

constexpr const char* kAnsweredColor = "#2ca02c";
constexpr const char* kRateLimitedColor = "#d62728";
constexpr const char* kUpstreamColor = "#1f77b4";
constexpr const char* kHitRateColor = "#9467bd";
constexpr const char* kDownColor = "#d62728";
constexpr const char* kGroupColor = "#ff7f0e";

std::string esc(const std::string& s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string num(double v, int decimals = 1) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// The smallest of 1, 2, 2.5, 5 x 10^k that is >= v (10 at least).
double nice_ceiling(double v) {
  if (v <= 10) return 10;
  const double p = std::pow(10.0, std::floor(std::log10(v)));
  for (const double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (m * p >= v) return m * p;
  }
  return 10 * p;
}

const char* breaker_color(rcache::BreakerState s) {
  switch (s) {
    case rcache::BreakerState::closed:
      return "#a1d99b";
    case rcache::BreakerState::half_open:
      return "#fdae6b";
    case rcache::BreakerState::open:
    case rcache::BreakerState::forced_open:
      return "#d62728";
    case rcache::BreakerState::disabled:
      break;
  }
  return "#cccccc";
}

struct Series {
  const char* id;
  std::string label;  // in the legend and the tooltips
  const char* color;
  const char* dash;  // stroke-dasharray, "" for a solid line
  bool right_axis;   // a percentage
  std::vector<std::optional<double>> values;
};

class Svg {
 public:
  explicit Svg(const Chart& c)
      : c_(c), n_(std::max<std::size_t>(1, c.seconds.size())), series_(make_series(c)) {
    double top = c.api_limit;
    for (const auto& s : series_) {
      if (s.right_axis) continue;
      for (const auto& v : s.values) top = std::max(top, v.value_or(0));
    }
    ymax_ = nice_ceiling(top * 1.1);
  }

  std::string render() {
    out_ += R"(<?xml version="1.0" encoding="UTF-8"?>)"
            "\n";
    out_ += R"(<svg xmlns="http://www.w3.org/2000/svg" width=")" + num(kWidth, 0) +
            R"(" height=")" + num(kHeight, 0) + R"(" viewBox="0 0 )" + num(kWidth, 0) + " " +
            num(kHeight, 0) + R"(" font-family="Helvetica, Arial, sans-serif" font-size="12">)" +
            "\n";
    out_ += "<title>" + esc(c_.title) + "</title>\n";
    out_ += R"(<rect x="0" y="0" width="100%" height="100%" fill="#ffffff"/>)"
            "\n";
    text(kLeft, 26, c_.title, R"(font-size="16" font-weight="bold")");
    text(kLeft, 44, c_.subtitle, R"(fill="#555555")");
    legend();
    phases();
    redis_band();
    axes();
    for (const auto& s : series_) line(s);
    marks();
    breaker_strip();
    out_ += "</svg>\n";
    return std::move(out_);
  }

 private:
  static std::vector<Series> make_series(const Chart& c) {
    std::vector<Series> s = {
        {"series-answered", "answered/s", kAnsweredColor, "", false, {}},
        {"series-429", "429/s", kRateLimitedColor, "", false, {}},
        {"series-upstream", "API calls/s", kUpstreamColor, "", false, {}},
        {"series-hit-rate",
         "answered without an API call (%, right axis)",
         kHitRateColor,
         "6 3",
         true,
         {}},
    };
    auto share = [](const Second& sec) -> std::optional<double> {
      if (sec.answered == 0) return std::nullopt;
      return 100.0 * static_cast<double>(sec.no_api) / static_cast<double>(sec.answered);
    };
    for (const Second& sec : c.seconds) {
      s[0].values.emplace_back(static_cast<double>(sec.answered));
      s[1].values.emplace_back(static_cast<double>(sec.rate_limited));
      s[2].values.emplace_back(static_cast<double>(sec.api_calls));
      s[3].values.push_back(share(sec));
    }
    if (!c.group.empty()) {
      s.push_back({"series-hit-rate-group", c.group_label, kGroupColor, "3 2", true, {}});
      for (const Second& sec : c.group) s.back().values.push_back(share(sec));
    }
    return s;
  }

  double x(double second) const {
    return kLeft + (kRight - kLeft) * second / static_cast<double>(n_);
  }
  double y(double v, bool right_axis) const {
    const double top = right_axis ? 100.0 : ymax_;
    return kBottom - (kBottom - kTop) * std::clamp(v / top, 0.0, 1.0);
  }

  void text(double tx, double ty, const std::string& s, const std::string& attrs = "") {
    out_ += "<text x=\"" + num(tx) + "\" y=\"" + num(ty) + "\"" +
            (attrs.empty() ? "" : " " + attrs) + ">" + esc(s) + "</text>\n";
  }
  void rect(double rx, double ry, double w, double h, const std::string& attrs,
            const std::string& title = "") {
    out_ += "<rect x=\"" + num(rx) + "\" y=\"" + num(ry) + "\" width=\"" + num(w) + "\" height=\"" +
            num(h) + "\" " + attrs;
    out_ += title.empty() ? "/>\n" : "><title>" + esc(title) + "</title></rect>\n";
  }
  void hline(double y0, const std::string& attrs) {
    out_ += "<line x1=\"" + num(kLeft) + "\" y1=\"" + num(y0) + "\" x2=\"" + num(kRight) +
            "\" y2=\"" + num(y0) + "\" " + attrs + "/>\n";
  }
  void vline(double x0, double y0, double y1, const std::string& attrs) {
    out_ += "<line x1=\"" + num(x0) + "\" y1=\"" + num(y0) + "\" x2=\"" + num(x0) + "\" y2=\"" +
            num(y1) + "\" " + attrs + "/>\n";
  }

  // Two rows above the plot: the lines, then the band and the breaker's colours.
  void legend() {
    out_ += "<g id=\"legend\">\n";
    double lx = kLeft;
    auto line_item = [&](double ly, const char* color, const char* dash, const std::string& label) {
      out_ += "<line x1=\"" + num(lx) + "\" y1=\"" + num(ly - 4) + "\" x2=\"" + num(lx + 24) +
              "\" y2=\"" + num(ly - 4) + "\" stroke=\"" + color + "\" stroke-width=\"2.5\"" +
              (*dash ? std::string(" stroke-dasharray=\"") + dash + "\"" : "") + "/>\n";
      text(lx + 30, ly, label);
      lx += 30 + 6.8 * static_cast<double>(label.size()) + 22;
    };
    auto box_item = [&](double ly, const std::string& fill, const std::string& label) {
      rect(lx, ly - 11, 24, 12, "fill=\"" + fill + "\" stroke=\"#999999\" stroke-width=\"0.5\"");
      text(lx + 30, ly, label);
      lx += 30 + 6.8 * static_cast<double>(label.size()) + 22;
    };
    for (const auto& s : series_) line_item(66, s.color, s.dash, s.label);
    lx = kLeft;
    if (c_.api_limit > 0) {
      line_item(86, kUpstreamColor, "2 3", "API limit (" + num(c_.api_limit, 0) + "/s)");
    }
    box_item(86, "#f0c8c8", c_.down_label);
    box_item(86, "#eeeeee", "warm-up (not in the table)");
    text(lx, 86, "breaker:");
    lx += 60;
    for (const auto s : {rcache::BreakerState::closed, rcache::BreakerState::half_open,
                         rcache::BreakerState::open}) {
      box_item(86, breaker_color(s), breaker_name(s));
    }
    out_ += "</g>\n";
  }

  void phases() {
    out_ += "<g id=\"phases\">\n";
    for (const Phase& p : c_.phases) {
      const double x0 = x(p.begin), x1 = x(p.end);
      if (!p.counted) rect(x0, kTop, x1 - x0, kBottom - kTop, "fill=\"#eeeeee\"");
      if (p.begin > 0) vline(x0, kTop, kBottom, R"(stroke="#888888" stroke-dasharray="4 3")");
      text((x0 + x1) / 2, kTop - 6, p.name + (p.counted ? "" : " (not in table)"),
           R"(text-anchor="middle" font-size="11" fill="#333333")");
    }
    out_ += "</g>\n";
  }

  void redis_band() {
    std::string values;
    for (const Second& s : c_.seconds) {
      values += (values.empty() ? "" : ",") + num(std::min(1.0, s.redis_down), 2);
    }
    out_ += "<g id=\"band-redis-down\" data-values=\"" + values + "\">\n";
    for (const auto& [from, to] : c_.redis_down) {
      rect(x(from), kTop, std::max(1.0, x(to) - x(from)), kBottom - kTop,
           std::string("fill=\"") + kDownColor + "\" fill-opacity=\"0.16\"",
           c_.down_label + " from t=" + num(from) + " s to t=" + num(to) + " s");
    }
    out_ += "</g>\n";
  }

  void marks() {
    out_ += "<g id=\"marks\">\n";
    double row = 0;
    for (const auto& [at, label] : c_.marks) {
      const double mx = x(at);
      vline(mx, kTop, kBottom, R"(stroke="#333333" stroke-width="1" stroke-dasharray="1 2")");
      const bool left = mx > (kLeft + kRight) / 2;  // the label on the side with room
      text(left ? mx - 4 : mx + 4, kTop + 14 + 14 * row, label + " (t=" + num(at) + " s)",
           std::string("font-size=\"11\" fill=\"#333333\" stroke=\"#ffffff\" "
                       "stroke-width=\"3\" paint-order=\"stroke\" text-anchor=\"") +
               (left ? "end" : "start") + "\"");
      row = row >= 7 ? 0 : row + 1;  // one row each, so labels never overlap
    }
    out_ += "</g>\n";
  }

  void axes() {
    out_ += "<g id=\"axes\" stroke-width=\"1\">\n";
    // Left: requests per second; right: percent.
    for (int i = 0; i <= 5; ++i) {
      const double v = ymax_ * i / 5, yy = y(v, false);
      hline(yy, i == 0 ? R"(stroke="#333333")" : R"(stroke="#e3e3e3")");
      text(kLeft - 8, yy + 4, num(v, ymax_ >= 50 ? 0 : 1), R"(text-anchor="end")");
      text(kRight + 8, yy + 4, num(20.0 * i, 0) + " %",
           "fill=\"" + std::string(kHitRateColor) + "\"");
    }
    vline(kLeft, kTop, kBottom, R"(stroke="#333333")");
    vline(kRight, kTop, kBottom, R"(stroke="#333333")");
    if (c_.api_limit > 0) {
      const double ly = y(c_.api_limit, false);
      hline(ly, std::string("stroke=\"") + kUpstreamColor +
                    "\" stroke-width=\"1.2\" stroke-dasharray=\"2 3\"");
      text(kRight - 4, ly - 4, "API limit " + num(c_.api_limit, 0) + "/s",
           std::string("text-anchor=\"end\" font-size=\"11\" fill=\"") + kUpstreamColor + "\"");
    }
    // Seconds: a tick each second, a label every 1, 2 or 5.
    const int every = n_ <= 15 ? 1 : n_ <= 30 ? 2 : 5;
    for (std::size_t i = 0; i <= n_; ++i) {
      const double xx = x(static_cast<double>(i));
      vline(xx, kBottom, kBottom + 4, R"(stroke="#333333")");
      if (i % static_cast<std::size_t>(every) == 0) {
        text(xx, kBottom + 17, std::to_string(i), R"(text-anchor="middle")");
      }
    }
    text((kLeft + kRight) / 2, kBottom + 36, "seconds since the load started",
         R"(text-anchor="middle")");
    const std::string left_title = "requests per second";
    out_ += "<text x=\"0\" y=\"0\" text-anchor=\"middle\" transform=\"translate(" +
            num(kLeft - 50) + "," + num((kTop + kBottom) / 2) + ") rotate(-90)\">" +
            esc(left_title) + "</text>\n";
    out_ += "<text x=\"0\" y=\"0\" text-anchor=\"middle\" fill=\"" + std::string(kHitRateColor) +
            "\" transform=\"translate(" + num(kRight + 58) + "," + num((kTop + kBottom) / 2) +
            ") rotate(90)\">" + esc("% answered without an API call") + "</text>\n";
    out_ += "</g>\n";
  }

  void line(const Series& s) {
    std::string points, values, dots;
    for (std::size_t i = 0; i < s.values.size(); ++i) {
      const auto& v = s.values[i];
      values += (i == 0 ? "" : ",") + (v ? num(*v, s.right_axis ? 1 : 0) : std::string("-"));
      if (!v) continue;
      const double px = x(static_cast<double>(i) + 0.5), py = y(*v, s.right_axis);
      points += (points.empty() ? "" : " ") + num(px) + "," + num(py);
      dots += "<circle cx=\"" + num(px) + "\" cy=\"" + num(py) +
              "\" r=\"2.5\"><title>t=" + std::to_string(i) + "-" + std::to_string(i + 1) +
              " s: " + num(*v, s.right_axis ? 1 : 0) + (s.right_axis ? " % " : " ") + esc(s.label) +
              "</title></circle>\n";
    }
    out_ +=
        "<polyline id=\"" + std::string(s.id) + "\" data-values=\"" + values +
        "\" fill=\"none\" stroke=\"" + s.color + "\" stroke-width=\"2\"" +
        (*s.dash ? std::string(" stroke-dasharray=\"") + s.dash + "\"" : "") +
        " stroke-linejoin=\"round\" points=\"" + points + "\"><title>" +
        esc(std::string(s.id) == "series-hit-rate-group" && !c_.group_title.empty() ? c_.group_title
                                                                                    : s.label) +
        "</title></polyline>\n";
    out_ += "<g fill=\"" + std::string(s.color) + "\">\n" + dots + "</g>\n";
  }

  void breaker_strip() {
    text(kLeft - 8, kStripTop + 12, "breaker", R"(text-anchor="end")");
    std::string values;
    for (const Second& s : c_.seconds)
      values += (values.empty() ? "" : ",") + std::string(breaker_name(s.breaker));
    out_ += "<g id=\"series-breaker\" data-values=\"" + values + "\">\n";
    for (std::size_t i = 0; i < c_.seconds.size(); ++i) {
      const auto state = c_.seconds[i].breaker;
      const double x0 = x(static_cast<double>(i));
      rect(x0, kStripTop, x(static_cast<double>(i + 1)) - x0, kStripHeight,
           std::string("fill=\"") + breaker_color(state) +
               "\" stroke=\"#ffffff\" stroke-width=\"0.5\"",
           "t=" + std::to_string(i) + "-" + std::to_string(i + 1) + " s: breaker " +
               breaker_name(state));
    }
    out_ += "</g>\n";
    text(kLeft, kStripTop + kStripHeight + 18,
         "the worst state of each second: closed = calls go to Redis, open = Redis is skipped "
         "(calls fail fast), half-open = probing Redis",
         R"(font-size="11" fill="#555555")");
  }

  const Chart& c_;
  std::size_t n_;
  std::vector<Series> series_;
  double ymax_ = 10;
  std::string out_;
};

}  // namespace

const char* breaker_name(rcache::BreakerState s) {
  switch (s) {
    case rcache::BreakerState::closed:
      return "closed";
    case rcache::BreakerState::half_open:
      return "half-open";
    case rcache::BreakerState::open:
      return "open";
    case rcache::BreakerState::forced_open:
      return "forced-open";
    case rcache::BreakerState::disabled:
      return "disabled";
  }
  return "unknown";
}

std::string timeline_svg(const Chart& chart) {
  return Svg(chart).render();
}

}  // namespace demo
