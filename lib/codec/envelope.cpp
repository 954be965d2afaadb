// The value envelope: zlib above a threshold, binary header, capped exact inflate, legacy hex.
#include "codec/envelope.hpp"

#include <zlib.h>

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

namespace rcache::detail {

namespace {

constexpr char kMagic[4] = {'\xFF', 'R', 'C', 'Z'};
constexpr std::uint8_t kVersion = 1;
constexpr std::uint8_t kStored = 0;
constexpr std::uint8_t kZlib = 1;

void put_u64(char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
void put_u32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
std::uint64_t get_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::uint32_t adler_of(std::string_view s) {
  uLong a = adler32(0L, Z_NULL, 0);
  // adler32 takes uInt lengths: feed large values in pieces.
  std::size_t off = 0;
  while (off < s.size()) {
    const auto n = static_cast<uInt>(std::min<std::size_t>(s.size() - off, 1u << 30));
    a = adler32(a, reinterpret_cast<const Bytef*>(s.data() + off), n);
    off += n;
  }
  return static_cast<std::uint32_t>(a);
}

// The Adler-32 of the original that a zlib stream carries in its last 4 bytes (big-endian).
std::uint32_t zlib_trailer(std::string_view z) {
  if (z.size() < 4) return 0;
  std::uint32_t v = 0;
  for (std::size_t i = z.size() - 4; i < z.size(); ++i)
    v = (v << 8) | static_cast<unsigned char>(z[i]);
  return v;
}

// The header followed by room for `payload` bytes (appended by the caller).
std::string header(std::uint8_t codec, std::uint64_t length, std::uint32_t checksum,
                   std::size_t payload) {
  std::string h;
  h.reserve(kEnvelopeHeader + payload);
  h.resize(kEnvelopeHeader, '\0');
  std::memcpy(h.data(), kMagic, 4);
  h[4] = static_cast<char>(kVersion);
  h[5] = static_cast<char>(codec);
  put_u64(h.data() + 8, length);
  put_u32(h.data() + 16, checksum);
  return h;
}

Error corrupt(std::string_view key, const std::string& why) {
  if (key.empty()) return Error{Errc::corrupt_value, "value is corrupt: " + why};
  std::string shown(key.substr(0, 64));
  if (key.size() > 64) shown += "...";
  return Error{Errc::corrupt_value, "value of key '" + shown + "' is corrupt: " + why};
}

// Inflates a zlib stream into exactly `expected` bytes; never writes past them.
Result<std::string> inflate_exact(std::string_view in, std::uint64_t expected,
                                  std::string_view key) {
  std::string out(static_cast<std::size_t>(expected), '\0');
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) return corrupt(key, "zlib init failed");
  std::size_t in_off = 0;
  std::size_t out_off = 0;
  int rc = Z_OK;
  // Bounded: every round either makes progress or ends the loop.
  for (;;) {
    const auto in_chunk = static_cast<uInt>(std::min<std::size_t>(in.size() - in_off, 1u << 30));
    const auto out_chunk = static_cast<uInt>(std::min<std::size_t>(out.size() - out_off, 1u << 30));
    Bytef scratch = 0;
    const bool probing = out_chunk == 0;  // output full: may the stream still produce bytes?
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + in_off));
    zs.avail_in = in_chunk;
    zs.next_out = probing ? &scratch : reinterpret_cast<Bytef*>(out.data() + out_off);
    zs.avail_out = probing ? 1 : out_chunk;
    rc = inflate(&zs, Z_NO_FLUSH);
    in_off += in_chunk - zs.avail_in;
    if (probing) {
      if (zs.avail_out == 0) {
        inflateEnd(&zs);
        return corrupt(key, "stream inflates past the declared length " + std::to_string(expected));
      }
    } else {
      out_off += out_chunk - zs.avail_out;
    }
    if (rc == Z_STREAM_END) break;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0 && in_off == in.size()) break;  // input ran out
    if (rc != Z_OK && rc != Z_BUF_ERROR) break;
    if (rc == Z_BUF_ERROR && probing) break;
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    if (rc == Z_DATA_ERROR && zs.msg != nullptr &&
        std::string_view(zs.msg) == "incorrect data check") {
      return corrupt(key, "checksum mismatch");
    }
    return corrupt(key, rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_STREAM_ERROR
                            ? "invalid zlib data"
                            : "truncated zlib stream");
  }
  if (out_off != out.size()) {
    return corrupt(key, "stream ends after " + std::to_string(out_off) + " bytes, declared " +
                            std::to_string(expected));
  }
  if (in_off != in.size()) return corrupt(key, "trailing bytes after the zlib stream");
  return out;
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "compressed:<hex of zlib>", as the Python services wrote it; the original length is unknown,
// so inflate grows the output up to the cap.
Result<std::string> decode_legacy_hex(std::string_view hex, const EnvelopeOptions& o,
                                      std::string_view key) {
  if (hex.size() % 2 != 0) return corrupt(key, "legacy hex value has an odd length");
  std::string z(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < z.size(); ++i) {
    const int hi = hexval(hex[2 * i]);
    const int lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return corrupt(key, "legacy hex value has a non-hex character");
    z[i] = static_cast<char>(hi * 16 + lo);
  }
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) return corrupt(key, "zlib init failed");
  std::string out;
  zs.next_in = reinterpret_cast<Bytef*>(z.data());
  zs.avail_in = static_cast<uInt>(z.size());
  int rc = Z_OK;
  char buf[64 * 1024];
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    const std::size_t got = sizeof buf - zs.avail_out;
    if (out.size() + got > o.max_decompressed) {
      inflateEnd(&zs);
      return corrupt(key, "legacy value inflates past max_decompressed_size " +
                              std::to_string(o.max_decompressed));
    }
    out.append(buf, got);
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) break;
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) return corrupt(key, "legacy value is not a complete zlib stream");
  return out;
}

// Incompressible values are recognised before deflating them. Huffman coding alone brings a value
// to about its order-0 entropy H (bits per byte) / 8 of its size; when an evenly spread 4 KiB
// sample has H > 8 × (1 − min_saving) (7.2 bits at the default 10 %), only long repeats could still
// save enough, and random, encrypted or already compressed bytes (H ≈ 7.95 on such a sample) have
// none. Such values are stored plain at the cost of one pass over 4 KiB (~2 µs) instead of
// deflating all of them and throwing the result away. The trade, written down: a value made of
// repeats of one random block is stored plain too.
constexpr std::size_t kSample = 4096;
constexpr std::size_t kSamplePieces = 4;

bool looks_incompressible(std::string_view value, double min_saving) {
  if (min_saving <= 0.0) return false;
  std::array<std::uint32_t, 256> counts{};
  std::size_t n = 0;
  const auto take = [&](std::size_t from, std::size_t len) {
    const auto* p = reinterpret_cast<const unsigned char*>(value.data() + from);
    for (std::size_t i = 0; i < len; ++i) ++counts[p[i]];
    n += len;
  };
  if (value.size() <= kSample) {
    take(0, value.size());
  } else {
    const std::size_t piece = kSample / kSamplePieces;
    const std::size_t stride = (value.size() - piece) / (kSamplePieces - 1);
    for (std::size_t i = 0; i < kSamplePieces; ++i) take(i * stride, piece);
  }
  if (n == 0) return false;
  double sum = 0;  // Σ c·log2(c); H = log2(n) − sum / n
  for (const std::uint32_t c : counts) {
    if (c > 1) sum += static_cast<double>(c) * std::log2(static_cast<double>(c));
  }
  const double h = std::log2(static_cast<double>(n)) - sum / static_cast<double>(n);
  return h > 8.0 * (1.0 - min_saving);
}

// One deflate stream per thread and level, reset between values: deflateInit allocates and
// initialises about 256 KiB at level 1, more than deflating a 4 KiB value costs. The output
// scratch is kept too. Freed when the thread ends.
struct Deflater {
  z_stream zs{};
  int level = -1;
  std::vector<Bytef> out;
  Deflater() = default;
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
  ~Deflater() {
    if (level >= 0) deflateEnd(&zs);
  }
  // The zlib stream of `value` in out[0, n), or false (then the value is stored plain).
  bool deflate_all(std::string_view value, int lvl, std::size_t& n) {
    if (level != lvl) {
      if (level >= 0) deflateEnd(&zs);
      level = -1;
      zs = z_stream{};
      if (deflateInit(&zs, lvl) != Z_OK) return false;
      level = lvl;
    } else if (deflateReset(&zs) != Z_OK) {
      return false;
    }
    const uLong bound = deflateBound(&zs, static_cast<uLong>(value.size()));
    if (out.size() < bound) out.resize(bound);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(value.data()));
    zs.avail_in = static_cast<uInt>(value.size());
    zs.next_out = out.data();
    zs.avail_out = static_cast<uInt>(bound);
    const int rc = deflate(&zs, Z_FINISH);
    n = static_cast<std::size_t>(zs.total_out);
    return rc == Z_STREAM_END;
  }
  // Scratch above 1 MiB is not kept for the thread's life: a 64 MiB value's bound is given back.
  void trim() {
    if (out.size() > kKeep) {
      out.clear();
      out.shrink_to_fit();
    }
  }
  static constexpr std::size_t kKeep = std::size_t{1} << 20;
};

Deflater& thread_deflater() {
  thread_local Deflater d;
  return d;
}

}  // namespace

bool looks_like_envelope(std::string_view s) noexcept {
  return s.size() >= 4 && std::memcmp(s.data(), kMagic, 4) == 0;
}

bool deflate_can_produce(std::uint64_t length, std::size_t stream_bytes) noexcept {
  // Deflate's best case is a 258-byte match per ~2 bits: about 1032:1. The constant allows for
  // the stream's header, trailer and block overhead on tiny inputs.
  return length <= static_cast<std::uint64_t>(stream_bytes) * kDeflateMaxRatio + 1024;
}

Encoded encode_value(std::string_view value, const EnvelopeOptions& o) {
  Encoded e;
  // avail_in is a uInt: larger values are stored plain (they are far above any sane cap anyway).
  if (o.enabled && value.size() >= o.threshold &&
      value.size() <= std::numeric_limits<uInt>::max() / 2 &&
      !looks_incompressible(value, o.min_saving)) {
    Deflater& d = thread_deflater();
    std::size_t n = 0;
    if (d.deflate_all(value, o.level, n) &&
        static_cast<double>(kEnvelopeHeader + n) <=
            (1.0 - o.min_saving) * static_cast<double>(value.size())) {
      const std::string_view stream(reinterpret_cast<const char*>(d.out.data()), n);
      // The checksum is the stream's own Adler-32 of the original: no second pass over it.
      e.bytes = header(kZlib, value.size(), zlib_trailer(stream), n);
      e.bytes.append(stream);
      e.compressed = true;
    }
    d.trim();
    if (e.compressed) return e;
  }
  if (looks_like_envelope(value)) {
    e.bytes = header(kStored, value.size(), adler_of(value),
                     value.size());  // user bytes that look like ours
    e.bytes.append(value);
    return e;
  }
  e.plain = true;
  return e;
}

Result<EnvelopeHead> read_envelope_head(std::string_view stored, std::string_view key) {
  if (stored.size() < kEnvelopeHeader) {
    return corrupt(key, "envelope header truncated (" + std::to_string(stored.size()) + " bytes)");
  }
  const auto version = static_cast<std::uint8_t>(stored[4]);
  const auto codec = static_cast<std::uint8_t>(stored[5]);
  if (version != kVersion) {
    return corrupt(key, "unsupported envelope version " + std::to_string(version));
  }
  if (codec != kStored && codec != kZlib) {
    return corrupt(key, "unknown codec " + std::to_string(codec));
  }
  EnvelopeHead h;
  h.compressed = codec == kZlib;
  h.length = get_u64(stored.data() + 8);
  h.checksum = get_u32(stored.data() + 16);
  return h;
}

Result<std::string> decode_value(std::string&& stored, const EnvelopeOptions& o,
                                 std::string_view key) {
  if (!looks_like_envelope(stored)) {
    constexpr std::string_view kLegacy = "compressed:";
    if (o.legacy_hex && std::string_view(stored).substr(0, kLegacy.size()) == kLegacy) {
      return decode_legacy_hex(std::string_view(stored).substr(kLegacy.size()), o, key);
    }
    return std::move(stored);
  }
  auto head = read_envelope_head(stored, key);
  if (!head) return std::move(head).error();
  const std::uint64_t length = head->length;
  const std::uint32_t crc = head->checksum;
  if (length > o.max_decompressed) {
    return corrupt(key, "declared length " + std::to_string(length) +
                            " exceeds max_decompressed_size " + std::to_string(o.max_decompressed));
  }
  const std::string_view payload = std::string_view(stored).substr(kEnvelopeHeader);
  if (!head->compressed) {
    if (payload.size() != length) {
      return corrupt(key, "stored payload is " + std::to_string(payload.size()) +
                              " bytes, declared " + std::to_string(length));
    }
    if (adler_of(payload) != crc) return corrupt(key, "checksum mismatch");
    return std::string(payload);
  }
  // Checked before anything is allocated: a few stored bytes cannot declare megabytes.
  if (!deflate_can_produce(length, payload.size())) {
    return corrupt(key, "declared length " + std::to_string(length) + " is more than " +
                            std::to_string(payload.size()) + " bytes of zlib data can inflate to");
  }
  // inflate checks the stream (length, truncation, its Adler-32 against the data); then the
  // header's checksum must agree with the stream's.
  auto out = inflate_exact(payload, length, key);
  if (out.ok() && zlib_trailer(payload) != crc) return corrupt(key, "checksum mismatch");
  return out;
}

}  // namespace rcache::detail
