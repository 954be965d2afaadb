// Small text helpers shared by URL parsing (url.cpp) and Config validation (config.cpp).
//
// Thread safety: pure functions.
#pragma once

#include <charconv>
#include <chrono>
#include <string>
#include <string_view>

#include "rcache/error.hpp"

namespace rcache::detail {

inline Error invalid(std::string message) {
  return Error{Errc::invalid_argument, std::move(message)};
}

// Printable form of a user-supplied value for an error message: quoted, truncated, control
// bytes escaped. Never used for passwords.
inline std::string quote(std::string_view s) {
  constexpr std::size_t kMax = 64;
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f || c == '\'') {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMax) out += "...";
  out += "'";
  return out;
}

template <class Int>
inline bool parse_int(std::string_view s, Int& out) {
  if (s.empty()) return false;
  const auto* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && ptr == end;
}

inline bool has_control_or_space(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return true;
  }
  return false;
}

// "host:port", "[v6]:port", "host" or "[v6]" (port `default_port`) for `field` in messages.
struct HostPort {
  std::string host;
  int port = 0;
};
inline Result<HostPort> parse_host_port(std::string_view s, int default_port,
                                        std::string_view field) {
  HostPort out{std::string(), default_port};
  std::string_view host = s;
  std::string_view port;
  if (!s.empty() && s[0] == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) {
      return invalid(std::string(field) + ": " + quote(s) + " has '[' without ']'");
    }
    host = s.substr(1, close - 1);
    const auto after = s.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        return invalid(std::string(field) + ": unexpected " + quote(after) + " after IPv6 host");
      }
      port = after.substr(1);
      if (port.empty()) return invalid(std::string(field) + ": port is empty in " + quote(s));
    }
  } else if (const auto colon = s.rfind(':'); colon != std::string_view::npos) {
    if (s.find(':') != colon) {
      return invalid(std::string(field) + ": " + quote(s) +
                     " looks like an IPv6 address without brackets (use [addr]:port)");
    }
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (port.empty()) return invalid(std::string(field) + ": port is empty in " + quote(s));
  }
  if (host.empty()) return invalid(std::string(field) + ": host is empty in " + quote(s));
  if (has_control_or_space(host)) {
    return invalid(std::string(field) + ": host " + quote(host) + " is invalid");
  }
  out.host = std::string(host);
  if (!port.empty()) {
    int p = 0;
    if (!parse_int(port, p) || p < 1 || p > 65535) {
      return invalid(std::string(field) + ": port = " + quote(port) +
                     " is out of range (expected 1..65535)");
    }
    out.port = p;
  }
  return out;
}

inline std::string ms(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + "ms";
}

}  // namespace rcache::detail
