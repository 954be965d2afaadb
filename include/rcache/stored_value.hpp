// rcache — what a stored value is, for tools: which codec wrote it, its sizes, its decoded bytes.
//
// Client::get() decodes values by itself; these functions are for operators and tools that read
// raw bytes (DUMP-free inspection in the `rcache` CLI, migrations, debugging).
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "rcache/error.hpp"
#include "rcache/export.hpp"

namespace rcache {

struct StoredValueInfo {
  // plain: the bytes are the value (small, incompressible, or written by another client);
  // stored: an envelope without compression (a value that starts with the envelope's magic);
  // zlib: a compressed envelope; legacy_hex: "compressed:<hex of zlib>" (Config::legacy_hex);
  // not_found: get_or_load's cached "not found" marker.
  enum class Codec { plain, stored, zlib, legacy_hex, not_found };
  Codec codec = Codec::plain;
  std::uint64_t stored_bytes = 0;    // as in Redis
  std::uint64_t original_bytes = 0;  // the value's length (declared by the envelope if any)
  // original / stored (1.0 for plain; > 1 means compression saved space).
  double ratio() const noexcept {
    return stored_bytes == 0
               ? 1.0
               : static_cast<double>(original_bytes) / static_cast<double>(stored_bytes);
  }
};

// "plain", "stored", "zlib", "legacy_hex", "not_found".
RCACHE_API std::string_view to_string(StoredValueInfo::Codec c) noexcept;

// Reads the envelope header only (no inflate): Errc::corrupt_value naming the problem for a
// truncated header, an unknown version or codec. `legacy_hex` as Config::legacy_hex.
RCACHE_API Result<StoredValueInfo> inspect_stored(std::string_view stored, bool legacy_hex = false);

// The value as Client::get() would return it: checked (length, checksum) and decompressed, at
// most `max_decompressed` bytes (Config::max_decompressed_size). A "not found" marker is
// Errc::invalid_argument (it is no value).
RCACHE_API Result<std::string> decode_stored(std::string stored, bool legacy_hex = false,
                                             std::size_t max_decompressed = std::size_t{64} * 1024 *
                                                                            1024);

}  // namespace rcache
