// SHA-1 (FIPS 180-4), for naming Lua scripts as Redis does (EVALSHA). Not for security.
//
// Thread safety: a pure function.
#pragma once

#include <string>
#include <string_view>

namespace rcache::detail {

// The digest as 40 lowercase hex digits.
std::string sha1_hex(std::string_view bytes);

}  // namespace rcache::detail
