// Query options that other Redis clients put in a shared REDIS_URL (redis-py, go-redis, Lettuce,
// Jedis, node-redis): those with a meaning in rcache are mapped onto Config, the others are
// named so that Client::create can log them in one warning (or, in strict mode, refused).
// The table is in docs/URLS.md.
//
// Thread safety: pure functions.
#pragma once

#include <string_view>

#include "rcache/config.hpp"

namespace rcache::detail {

enum class Foreign {
  mapped,   // applied to the Config
  ignored,  // known elsewhere, no rcache meaning: to be named in the warning
  unknown   // nobody's option that we know of
};

// Applies another client's option `key`=`raw` (raw still percent-encoded). A malformed value of
// an option that is mapped is an error naming it, in every mode.
Result<Foreign> apply_foreign_option(std::string_view key, std::string_view raw, Config& cfg);

// "5", "0.5" (seconds), "250ms", "5s", "1m": a duration of at least 1 ms and at most 1 hour.
Result<std::chrono::milliseconds> parse_url_duration(std::string_view key, std::string_view raw);

}  // namespace rcache::detail
