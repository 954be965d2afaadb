// The value envelope: how rcache stores values in Redis.
//
//   plain bytes                       values below the threshold, incompressible ones, and every
//                                     value written by another client
//   "\xFFRCZ" v codec 0 0 len adler data   an envelope (20-byte header, little-endian):
//     offset 0  magic "\xFF" "RCZ"     (0xFF never starts UTF-8 text, so JSON/text never collide)
//            4  format version (1)
//            5  codec: 0 stored (raw bytes follow), 1 zlib
//            6  2 reserved bytes (0)
//            8  original length, u64
//           16  Adler-32 of the original bytes (for zlib: the stream's own trailer, so encoding
//               costs no extra pass; inflate verifies it, and it must match the header)
//           20  payload
//
// A value that is not worth compressing but happens to start with the magic is stored with codec
// 0, so reading never mistakes user bytes for an envelope.
//
// Decoding never allocates more than the declared original length, which must be within the cap
// and within what the stored zlib bytes can inflate to (deflate's maximum ratio is about 1032:1,
// so a 27-byte value cannot make a read allocate more than ~28 KiB), and checks: known version and
// codec, payload inflates to exactly the declared length, the zlib stream ends where the value
// ends, and the Adler-32 matches. Any failure is Errc::corrupt_value.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "rcache/error.hpp"

namespace rcache::detail {

struct EnvelopeOptions {
  bool enabled = true;
  std::size_t threshold = 2048;  // compress values of at least this many bytes
  int level = 1;                 // zlib level 1..9
  double min_saving = 0.10;      // keep compressed only if at least 10 % smaller
  std::size_t max_decompressed = std::size_t{64} * 1024 * 1024;
  bool legacy_hex = false;  // also read "compressed:<hex of zlib>"
};

inline constexpr std::size_t kEnvelopeHeader = 20;

struct Encoded {
  std::string bytes;        // the stored form, unless `plain`
  bool plain = false;       // store the original bytes as they are (no copy made)
  bool compressed = false;  // zlib envelope (for metrics)
  std::string_view view(std::string_view original) const noexcept {
    return plain ? original : std::string_view(bytes);
  }
};

Encoded encode_value(std::string_view value, const EnvelopeOptions& o);

// `key` only names the value in error messages.
Result<std::string> decode_value(std::string&& stored, const EnvelopeOptions& o,
                                 std::string_view key);

bool looks_like_envelope(std::string_view stored) noexcept;

// The header of a value that looks like an envelope: checked for length, version and codec
// (Errc::corrupt_value naming `key` otherwise); the payload is not read.
struct EnvelopeHead {
  bool compressed = false;   // codec 1 (zlib), else 0 (stored)
  std::uint64_t length = 0;  // declared original length
  std::uint32_t checksum = 0;
};
Result<EnvelopeHead> read_envelope_head(std::string_view stored, std::string_view key);

// The most bytes deflate can expand one byte of stream into (rounded up from 1032).
inline constexpr std::uint64_t kDeflateMaxRatio = 1032;
// Whether `stream_bytes` of zlib data could inflate to `length` bytes at all.
bool deflate_can_produce(std::uint64_t length, std::size_t stream_bytes) noexcept;

}  // namespace rcache::detail
