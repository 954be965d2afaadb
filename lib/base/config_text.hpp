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

inline std::string ms(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + "ms";
}

}  // namespace rcache::detail
