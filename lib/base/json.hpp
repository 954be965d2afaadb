// Minimal JSON writing for the stats and health snapshots.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace rcache::detail {

// Appends `s` as a JSON string literal (quotes included); bytes below 0x20, '"' and '\\' are
// escaped, other bytes pass through (invalid UTF-8 is replaced by \ufffd).
void append_json_string(std::string& out, std::string_view s);

// Appends a number with '.' as the decimal point whatever the locale; NaN and infinities as null.
void append_json_number(std::string& out, double v);

}  // namespace rcache::detail
