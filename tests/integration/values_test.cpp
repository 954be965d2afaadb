// Values through a real server: the envelope on the wire, foreign values, corruption.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <random>

#include "fixtures.hpp"

namespace rcache::test {
namespace {

using ::testing::HasSubstr;

std::string json_like(std::size_t n) {
  std::string s;
  for (int i = 0; s.size() < n; ++i) {
    s += R"({"id":"rec)" + std::to_string(i) + R"(","fields":{"Name":"Customer )" +
         std::to_string(i * 7) + R"(","Notes":"called back, wants the blue plan"}},)";
  }
  s.resize(n);
  return s;
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

class Values : public RedisTest {
 protected:
  std::string raw_get(const std::string& key) {
    auto r = client().command({"GET", key});
    EXPECT_TRUE(r.ok());
    return r->str;
  }
};

TEST_F(Values, RoundTripFromZeroBytesToEightMebibytes) {
  for (std::size_t n : {0u, 1u, 2047u, 2048u, 2049u, 100000u, 1u << 20, 8u << 20}) {
    for (const auto& v : {json_like(n), random_bytes(n, static_cast<unsigned>(n))}) {
      ASSERT_TRUE(client().set("v", v).ok()) << n;
      auto r = client().get("v");
      ASSERT_TRUE(r.ok()) << r.error().to_string();
      ASSERT_TRUE(r->has_value());
      ASSERT_TRUE(**r == v) << n;
    }
  }
}

TEST_F(Values, LargeCompressibleValuesAreStoredCompressedSmallOnesPlain) {
  const auto big = json_like(50000);
  ASSERT_TRUE(client().set("big", big).ok());
  const std::string stored = raw_get("big");
  EXPECT_EQ(stored.substr(0, 4), "\xFFRCZ");
  EXPECT_LT(stored.size(), big.size() / 2);
  ASSERT_TRUE(client().set("small", "hello").ok());
  EXPECT_EQ(raw_get("small"), "hello");
  Stats s = client().stats();
  EXPECT_EQ(s.compressed_bytes_in, big.size());
  EXPECT_EQ(s.compressed_bytes_out, stored.size());
  EXPECT_GT(s.compression_ratio, 0);
  EXPECT_LT(s.compression_ratio, 0.5);
}

TEST_F(Values, ValuesWrittenByAnotherClientReadBackUnchanged) {
  const auto foreign = json_like(10000);  // big enough that we would have compressed it
  ASSERT_TRUE(client().command({"SET", "foreign", foreign}).ok());
  EXPECT_EQ(client().get("foreign").value(), std::optional<std::string>(foreign));
  auto m = client().mget({"foreign", "none"});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)[0], std::optional<std::string>(foreign));
}

TEST_F(Values, CorruptStoredValueIsAnErrorNamingTheKeyAndLosesNothing) {
  ASSERT_TRUE(client().set("doc", json_like(30000)).ok());
  std::string stored = raw_get("doc");
  stored[stored.size() / 2] ^= 0x55;
  ASSERT_TRUE(client().command({"SET", "doc", stored}).ok());
  auto r = client().get("doc");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::corrupt_value);
  EXPECT_THAT(r.error().message, HasSubstr("'doc'"));
  EXPECT_EQ(raw_get("doc"), stored);  // nothing was deleted or rewritten
  auto m = client().mget({"doc"});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, Errc::corrupt_value);
}

TEST_F(Values, LegacyHexValuesReadBackWhenEnabled) {
  const std::string original = json_like(5000);
  uLongf n = compressBound(static_cast<uLong>(original.size()));
  std::string z(n, '\0');
  compress(reinterpret_cast<Bytef*>(z.data()), &n, reinterpret_cast<const Bytef*>(original.data()),
           static_cast<uLong>(original.size()));
  z.resize(n);
  std::string hex = "compressed:";
  for (unsigned char c : z) {
    static const char* d = "0123456789abcdef";
    hex += d[c >> 4];
    hex += d[c & 15];
  }
  ASSERT_TRUE(client().command({"SET", "legacy", hex}).ok());
  EXPECT_EQ(client().get("legacy").value(), std::optional<std::string>(hex));  // off by default
  Config c = config_for(*server_);
  c.legacy_hex = true;
  auto compat = make_client(c);
  EXPECT_EQ(compat->get("legacy").value(), std::optional<std::string>(original));
}

}  // namespace
}  // namespace rcache::test
