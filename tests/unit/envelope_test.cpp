// The value envelope: round trips, coexistence with plain values, and hostile inputs.
#include "codec/envelope.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "cache/xfetch.hpp"
#include "rcache/stored_value.hpp"

namespace rcache::detail {
namespace {

using ::testing::HasSubstr;

std::string random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

std::string json_like(std::size_t n) {
  std::string s;
  for (int i = 0; s.size() < n; ++i) {
    s += R"({"id":"rec)" + std::to_string(i) + R"(","fields":{"Name":"Customer )" +
         std::to_string(i * 7) + R"(","Status":"active","Tags":["a","b"]}},)";
  }
  s.resize(n);
  return s;
}

std::string stored(std::string_view v, const EnvelopeOptions& o) {
  return std::string(encode_value(v, o).view(v));
}

Result<std::string> roundtrip(std::string_view v, const EnvelopeOptions& o = {}) {
  return decode_value(stored(v, o), o, "k");
}

std::string zlib_of(std::string_view v) {
  uLongf n = compressBound(static_cast<uLong>(v.size()));
  std::string z(n, '\0');
  compress2(reinterpret_cast<Bytef*>(z.data()), &n, reinterpret_cast<const Bytef*>(v.data()),
            static_cast<uLong>(v.size()), 9);
  z.resize(n);
  return z;
}

// An envelope header: version 1, `codec`, declared `length`, checksum 0.
std::string header_for(char codec, std::uint64_t length) {
  std::string h(kEnvelopeHeader, '\0');
  h[0] = '\xFF';
  h[1] = 'R';
  h[2] = 'C';
  h[3] = 'Z';
  h[4] = 1;
  h[5] = codec;
  for (int i = 0; i < 8; ++i) h[8 + i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return h;
}

TEST(Envelope, RoundTripsAcrossSizesAroundTheThreshold) {
  EnvelopeOptions o;
  for (std::size_t n : {0u, 1u, 100u, 2047u, 2048u, 2049u, 4096u, 65536u, 1u << 20, 8u << 20}) {
    for (const auto& v : {json_like(n), random_bytes(n, n)}) {
      auto r = roundtrip(v, o);
      ASSERT_TRUE(r.ok()) << n << ": " << r.error().message;
      ASSERT_EQ(*r, v) << n;
    }
  }
}

TEST(Envelope, SmallAndIncompressibleValuesAreStoredPlain) {
  EnvelopeOptions o;
  const auto small = json_like(2047);
  EXPECT_TRUE(encode_value(small, o).plain);
  const auto noise = random_bytes(10000, 1);
  auto e = encode_value(noise, o);
  EXPECT_FALSE(e.compressed);
  EXPECT_TRUE(e.plain);
  EXPECT_EQ(stored(noise, o), noise);
}

TEST(Envelope, CompressibleValuesShrinkAtLeastTenPercent) {
  EnvelopeOptions o;
  const auto v = json_like(100000);
  auto e = encode_value(v, o);
  EXPECT_TRUE(e.compressed);
  EXPECT_LE(e.bytes.size(), v.size() * 9 / 10);
  EXPECT_TRUE(looks_like_envelope(e.bytes));
}

TEST(Envelope, ForeignValuesReadBackUnchangedEvenIfTheyLookLikeOurs) {
  EnvelopeOptions o;
  EXPECT_EQ(*decode_value(std::string("plain text"), o, "k"), "plain text");
  EXPECT_EQ(*decode_value(std::string(), o, "k"), "");
  // A user value that starts with our magic is wrapped on write and comes back intact.
  const std::string tricky = std::string("\xFFRCZ") + "user bytes";
  auto r = roundtrip(tricky, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, tricky);
}

TEST(Envelope, DisabledCompressionStillRoundTrips) {
  EnvelopeOptions o;
  o.enabled = false;
  const auto v = json_like(50000);
  EXPECT_EQ(stored(v, o), v);
  EXPECT_EQ(*roundtrip(v, o), v);
}

TEST(Envelope, CorruptionIsReportedNamingTheKey) {
  EnvelopeOptions o;
  const std::string good = encode_value(json_like(20000), o).bytes;
  ASSERT_TRUE(looks_like_envelope(good));
  struct Case {
    std::string bytes;
    const char* why;
  };
  std::string bad_crc = good;
  bad_crc[16] ^= 0x01;
  std::string bad_version = good;
  bad_version[4] = 9;
  std::string bad_codec = good;
  bad_codec[5] = 7;
  std::string truncated = good.substr(0, good.size() / 2);
  std::string short_header = good.substr(0, 10);
  std::string lying_short = good;
  lying_short[8] = static_cast<char>(lying_short[8] - 1);  // declares one byte fewer
  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x40;
  const Case cases[] = {
      {bad_crc, "checksum"},
      {bad_version, "version"},
      {bad_codec, "codec"},
      {truncated, "truncated"},
      {short_header, "header truncated"},
      {lying_short, "past the declared length"},
      {flipped, ""},
  };
  for (const auto& c : cases) {
    auto r = decode_value(std::string(c.bytes), o, "user:42");
    ASSERT_FALSE(r.ok()) << c.why;
    EXPECT_EQ(r.error().code, Errc::corrupt_value) << c.why;
    EXPECT_THAT(r.error().message, HasSubstr("user:42")) << c.why;
    EXPECT_THAT(r.error().message, HasSubstr(c.why));
  }
}

TEST(Envelope, ZlibBombIsRefusedWithoutAllocatingIt) {
  // 1 GiB of zeros deflates to a few MiB (deflate tops out near 1000:1). Declared as 1 GiB it is
  // refused by the cap before any allocation; declared as 1 KiB it is refused after 1 KiB.
  EnvelopeOptions o;  // cap 512 MiB
  std::string zeros(1 << 20, '\0');
  std::string z;
  {
    z_stream zs{};
    deflateInit(&zs, 1);
    std::string out(1 << 20, '\0');
    std::size_t total = 0;
    for (int i = 0; i < 1024; ++i) {  // 1 GiB of input, streamed
      zs.next_in = reinterpret_cast<Bytef*>(zeros.data());
      zs.avail_in = static_cast<uInt>(zeros.size());
      do {
        zs.next_out = reinterpret_cast<Bytef*>(out.data());
        zs.avail_out = static_cast<uInt>(out.size());
        deflate(&zs, i == 1023 ? Z_FINISH : Z_NO_FLUSH);
        z.append(out.data(), out.size() - zs.avail_out);
      } while (zs.avail_out == 0);
      total += zeros.size();
    }
    deflateEnd(&zs);
  }
  std::string bomb(kEnvelopeHeader, '\0');
  bomb[0] = '\xFF';
  bomb[1] = 'R';
  bomb[2] = 'C';
  bomb[3] = 'Z';
  bomb[4] = 1;
  bomb[5] = 1;
  const std::uint64_t gib = 1ull << 30;
  for (int i = 0; i < 8; ++i) bomb[8 + i] = static_cast<char>((gib >> (8 * i)) & 0xff);
  bomb += z;
  auto r = decode_value(std::string(bomb), o, "bomb");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("exceeds max_decompressed_size"));
  // Lying the other way (declares 1 KiB): refused at 1 KiB of output.
  bomb[8] = 0;
  bomb[9] = 4;
  for (int i = 10; i < 16; ++i) bomb[i] = 0;
  auto r2 = decode_value(std::string(bomb), o, "bomb");
  ASSERT_FALSE(r2.ok());
  EXPECT_THAT(r2.error().message, HasSubstr("past the declared length"));
}

// A 27-byte value (20-byte header + a 7-byte zlib stream) declaring 512 MiB: refused from the
// header, with the default cap raised so that only the ratio check stands in the way.
TEST(Envelope, ATinyValueCannotDeclareMoreThanDeflateCanProduce) {
  EnvelopeOptions o;
  o.max_decompressed = std::size_t{1} << 32;
  const std::string z = zlib_of("");  // the smallest valid stream
  std::string bomb = header_for(1, 512ull << 20) + z;
  ASSERT_LE(bomb.size(), 40u);
  auto r = decode_value(std::string(bomb), o, "bomb");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::corrupt_value);
  EXPECT_THAT(r.error().message, HasSubstr("is more than " + std::to_string(z.size()) +
                                           " bytes of zlib data can inflate to"));
  EXPECT_FALSE(deflate_can_produce(512ull << 20, z.size()));
  EXPECT_TRUE(deflate_can_produce(z.size() * 1032, z.size()));
}

// The bound is not tighter than deflate: the best ratio zlib reaches (level 9 on zeros) decodes.
TEST(Envelope, TheMostCompressibleValueStillDecodes) {
  EnvelopeOptions o;
  o.level = 9;
  const std::string zeros(std::size_t{16} << 20, '\0');
  const std::string s = stored(zeros, o);
  ASSERT_EQ(s.substr(0, 4), "\xFFRCZ");
  EXPECT_GT(zeros.size() / (s.size() - kEnvelopeHeader), 1000u);  // near the 1032:1 limit
  auto r = decode_value(std::string(s), o, "zeros");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(*r == zeros);
}

TEST(Envelope, TheDefaultCapIs64MiB) {
  EXPECT_EQ(EnvelopeOptions{}.max_decompressed, std::size_t{64} << 20);
}

// Incompressible values are found from a sample: a large random value is stored plain without
// deflating all of it, a large compressible one is still compressed.
TEST(Envelope, LargeIncompressibleValuesAreStoredPlainAndCompressibleOnesCompressed) {
  EnvelopeOptions o;
  const std::string noise = random_bytes(std::size_t{4} << 20, 7);
  Encoded e = encode_value(noise, o);
  EXPECT_TRUE(e.plain);
  EXPECT_FALSE(e.compressed);
  const std::string text = json_like(std::size_t{4} << 20);
  Encoded t = encode_value(text, o);
  EXPECT_TRUE(t.compressed);
  EXPECT_LT(t.bytes.size(), text.size() / 2);
}

// The sample decides by entropy: data that Huffman coding alone cannot shrink by min_saving is
// stored plain; low-entropy data with random bytes mixed in, base64 of random bytes, and any
// value when min_saving is 0 are still deflated; what is stored always decodes to the original.
TEST(Envelope, TheIncompressibleSampleDecidesByEntropyAndNeverLosesBytes) {
  EnvelopeOptions o;
  for (const std::size_t n : {std::size_t{2048}, std::size_t{4096}, std::size_t{65536}}) {
    const std::string noise = random_bytes(n, n);
    EXPECT_TRUE(encode_value(noise, o).plain) << n;
    // Random bytes in a JSON value: entropy well under 7.2 bits, still compressed.
    std::string mixed = json_like(n);
    const std::string salt = random_bytes(n / 16, 3);
    for (std::size_t i = 0; i < salt.size(); ++i) mixed[i * 16] = salt[i];
    EXPECT_TRUE(encode_value(mixed, o).compressed) << n;
    ASSERT_TRUE(roundtrip(mixed, o)) << n;
    EXPECT_EQ(*roundtrip(mixed, o), mixed);
  }
  // base64 of random bytes: 6 bits per byte, Huffman alone saves about 25 %.
  const std::string raw = random_bytes(48 * 1024, 9);
  static const char* kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string b64;
  for (std::size_t i = 0; i + 3 <= raw.size(); i += 3) {
    const auto v = (static_cast<unsigned char>(raw[i]) << 16) |
                   (static_cast<unsigned char>(raw[i + 1]) << 8) |
                   static_cast<unsigned char>(raw[i + 2]);
    for (int k = 3; k >= 0; --k) b64 += kB64[(v >> (6 * k)) & 63];
  }
  const Encoded e = encode_value(b64, o);
  EXPECT_TRUE(e.compressed);
  EXPECT_LT(e.bytes.size(), b64.size() * 85 / 100);
  // min_saving 0: no sample verdict; random bytes are deflated, kept only if not larger.
  EnvelopeOptions any = o;
  any.min_saving = 0.0;
  const std::string noise = random_bytes(8192, 5);
  const auto r = decode_value(stored(noise, any), any, "k");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, noise);
}

// The per-thread deflate stream is reset between values and re-made when the level changes: the
// stored bytes are exactly what a fresh zlib stream produces, in any order, on many threads.
TEST(Envelope, AReusedDeflateStreamGivesTheSameBytesAsAFreshOne) {
  const auto fresh = [](std::string_view v, int level) {
    uLongf n = compressBound(static_cast<uLong>(v.size()));
    std::string z(n, '\0');
    EXPECT_EQ(
        compress2(reinterpret_cast<Bytef*>(z.data()), &n, reinterpret_cast<const Bytef*>(v.data()),
                  static_cast<uLong>(v.size()), level),
        Z_OK);
    z.resize(n);
    return z;
  };
  const auto check = [&](std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 40; ++i) {
      EnvelopeOptions o;
      o.level = (i % 3 == 0) ? 9 : 1;
      const std::string v = json_like(2048 + rng() % (3u << 20 >> (i % 4 == 0 ? 0 : 6)));
      const Encoded e = encode_value(v, o);
      if (!e.compressed) {
        ADD_FAILURE() << "json of " << v.size() << " bytes was not compressed";
        return;
      }
      if (e.bytes.substr(kEnvelopeHeader) != fresh(v, o.level)) {
        ADD_FAILURE() << "stream differs at value " << i << " (" << v.size() << " bytes)";
        return;
      }
    }
  };
  std::vector<std::thread> threads;
  for (std::uint64_t t = 0; t < 4; ++t) threads.emplace_back(check, t + 1);
  for (auto& t : threads) t.join();
}

TEST(Envelope, LegacyHexIsReadWhenEnabled) {
  const std::string original = json_like(5000);
  uLongf n = compressBound(static_cast<uLong>(original.size()));
  std::string z(n, '\0');
  compress(reinterpret_cast<Bytef*>(z.data()), &n, reinterpret_cast<const Bytef*>(original.data()),
           static_cast<uLong>(original.size()));
  z.resize(n);
  std::string hex = "compressed:";
  static const char* digits = "0123456789abcdef";
  for (unsigned char c : z) {
    hex += digits[c >> 4];
    hex += digits[c & 15];
  }
  EnvelopeOptions o;
  EXPECT_EQ(*decode_value(std::string(hex), o, "k"), hex);  // off: plain value
  o.legacy_hex = true;
  auto r = decode_value(std::string(hex), o, "k");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, original);
  auto bad = decode_value("compressed:zz", o, "k");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::corrupt_value);
}

// Fuzz-style, bounded in time: mutated envelopes never crash and never allocate past the cap
// (the cap is small here, so an over-allocation would also show as ASan/RSS trouble).
TEST(Envelope, MutatedEnvelopesNeverCrash) {
  EnvelopeOptions o;
  o.max_decompressed = 1 << 20;
  std::mt19937_64 rng(1234);
  std::vector<std::string> seeds = {stored(json_like(30000), o), stored(json_like(3000), o),
                                    stored(std::string("\xFFRCZ") + "x", o)};
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  int rounds = 0;
  while (std::chrono::steady_clock::now() < end && rounds < 200000) {
    std::string v = seeds[rng() % seeds.size()];
    switch (rng() % 4) {
      case 0:
        for (int k = 0; k < 1 + static_cast<int>(rng() % 8); ++k) {
          v[rng() % v.size()] ^= static_cast<char>(1u << (rng() % 8));
        }
        break;
      case 1:
        v.resize(rng() % v.size());
        break;
      case 2:  // lie about the length
        for (int i = 8; i < 16; ++i) v[static_cast<std::size_t>(i)] = static_cast<char>(rng());
        break;
      case 3:
        v += random_bytes(rng() % 64, rng());
        break;
    }
    auto r = decode_value(std::move(v), o, "fuzz");
    if (r.ok()) {
      ASSERT_LE(r->size(), o.max_decompressed);
    }
    ++rounds;
  }
  std::printf("[ figures  ] %d mutated envelopes decoded without a crash\n", rounds);
  EXPECT_GT(rounds, 1000);
}

}  // namespace
}  // namespace rcache::detail

// ---- the public view for tools (rcache/stored_value.hpp) ----

namespace rcache {
namespace {

TEST(StoredValue, NamesTheCodecAndSizesOfEachForm) {
  detail::EnvelopeOptions o;
  const std::string text = detail::json_like(8000);
  const std::string z = detail::stored(text, o);
  auto zi = inspect_stored(z);
  ASSERT_TRUE(zi.ok()) << zi.error().to_string();
  EXPECT_EQ(zi->codec, StoredValueInfo::Codec::zlib);
  EXPECT_EQ(zi->original_bytes, text.size());
  EXPECT_EQ(zi->stored_bytes, z.size());
  EXPECT_GT(zi->ratio(), 2.0);
  EXPECT_EQ(decode_stored(z).value(), text);

  auto pi = inspect_stored("hello");
  ASSERT_TRUE(pi.ok());
  EXPECT_EQ(pi->codec, StoredValueInfo::Codec::plain);
  EXPECT_EQ(pi->original_bytes, 5u);
  EXPECT_DOUBLE_EQ(pi->ratio(), 1.0);
  EXPECT_EQ(decode_stored("hello").value(), "hello");

  // A short value that starts with the magic is wrapped as "stored" (codec 0).
  const std::string magic("\xFFRCZ-user-bytes", 15);
  const std::string s = detail::stored(magic, o);
  EXPECT_EQ(inspect_stored(s).value().codec, StoredValueInfo::Codec::stored);
  EXPECT_EQ(decode_stored(s).value(), magic);

  const std::string marker(detail::kNegativeMarker);
  EXPECT_EQ(inspect_stored(marker).value().codec, StoredValueInfo::Codec::not_found);
  EXPECT_EQ(decode_stored(marker).error().code, Errc::invalid_argument);
  EXPECT_EQ(to_string(StoredValueInfo::Codec::zlib), "zlib");
}

TEST(StoredValue, CorruptEnvelopesAreNamedNotDecoded) {
  detail::EnvelopeOptions o;
  const std::string z = detail::stored(detail::json_like(8000), o);
  auto truncated = inspect_stored(z.substr(0, 10));
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.error().code, Errc::corrupt_value);
  EXPECT_THAT(truncated.error().message, ::testing::HasSubstr("header truncated"));
  std::string bad_codec = z;
  bad_codec[5] = 7;
  EXPECT_THAT(inspect_stored(bad_codec).error().message, ::testing::HasSubstr("unknown codec 7"));
  std::string flipped = z;
  flipped[flipped.size() / 2] ^= 0x55;
  auto d = decode_stored(flipped);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, Errc::corrupt_value);
  // A declared length past the cap is refused before anything is inflated.
  auto capped = decode_stored(z, false, 1000);
  ASSERT_FALSE(capped.ok());
  EXPECT_THAT(capped.error().message, ::testing::HasSubstr("max_decompressed_size"));
}

}  // namespace
}  // namespace rcache
