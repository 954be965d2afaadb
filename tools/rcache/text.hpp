// rcache CLI: bytes as text: key escaping for terminals, UTF-8 checks, JSON strings, base64,
// and the number formats the commands print.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rcache::cli {

// Whether `s` is well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
bool is_utf8(std::string_view s) noexcept;

// A key as one printable line: valid UTF-8 stays as it is, except a backslash (written "\\"),
// control bytes and DEL ("\n", "\r", "\t", else "\xHH"), and bytes that are not UTF-8 ("\xHH").
std::string escape_key(std::string_view key);

// The inverse of escape_key ("\\", "\n", "\r", "\t", "\xHH"); nullopt for a malformed escape.
std::optional<std::string> unescape_key(std::string_view text);

// `s` (valid UTF-8) as a JSON string literal, quotes included.
std::string json_string(std::string_view s);

// Standard base64 with padding.
std::string base64_encode(std::string_view bytes);
// Strict: the standard alphabet, a length that is a multiple of 4, padding only at the end.
std::optional<std::string> base64_decode(std::string_view text);

// "1,234,567".
std::string with_commas(std::uint64_t n);
// "1 key", "1,234 keys": with_commas(n) and the noun, plural unless n == 1.
std::string count_of(std::uint64_t n, std::string_view noun);
// "12.3 MiB", "512 B".
std::string human_bytes(std::uint64_t n);
// A fixed-point number in the C locale: fixed(0.2137, 2) == "0.21".
std::string fixed(double v, int decimals);

}  // namespace rcache::cli
