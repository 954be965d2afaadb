// rcache — a decoded Redis reply, as returned by Client::command().
//
// Thread safety: a plain value type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rcache {

struct Reply {
  enum class Kind { nil, status, integer, string, array, error };

  Kind kind = Kind::nil;
  std::int64_t integer = 0;     // Kind::integer
  std::string str;              // Kind::string (binary-safe), status text, or error text
  std::vector<Reply> elements;  // Kind::array

  bool is_nil() const noexcept { return kind == Kind::nil; }
};

}  // namespace rcache
