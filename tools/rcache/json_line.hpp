// rcache CLI: a parser for one line of a backup file: a flat JSON object whose values are
// strings, integers, true/false or null (nested objects, arrays and fractions are refused).
//
// Thread safety: pure functions and plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rcache::cli {

struct JsonValue {
  enum class Kind { null, boolean, integer, string };
  Kind kind = Kind::null;
  bool boolean = false;
  std::int64_t integer = 0;
  std::string string;  // UTF-8, escapes decoded
};

class FlatJson {
 public:
  // The member named `name`, or nullptr (the last one wins when a name repeats).
  const JsonValue* find(std::string_view name) const;
  std::vector<std::pair<std::string, JsonValue>> members;
};

// Parses `text` as one flat object; on failure, says what is wrong and at which byte (0-based).
struct JsonError {
  std::string what;
  std::size_t offset = 0;
};
std::optional<FlatJson> parse_flat_json(std::string_view text, JsonError& error);

}  // namespace rcache::cli
