// The pieces get_or_load (blocking) and get_or_load_async share: option checks, reading a cached
// form, the source of a result and its record in the metrics.
//
// Thread safety: as Client.
#pragma once

#include <string>

#include "client/core.hpp"
#include "rcache/get_or_load.hpp"

namespace rcache::detail {

Result<void> check_load_options(const LoadOptions& o);
// A stored form read from the key: the cached "not found", or the decoded value.
Result<Loaded> from_cache(ClientCore& core, std::string&& raw, const std::string& key);
// A rate as short text ("2.5").
std::string rate_text(double r);
LoadSource load_source(const Result<Loaded>& r);
// The call's record: hit (served from Redis or the near cache) or miss (loaded), and its source.
void record_load(ClientCore& core, const Result<Loaded>& r, TimePoint start);

}  // namespace rcache::detail
