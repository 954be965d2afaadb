// SHA-1 (script names for EVALSHA): the FIPS 180-4 examples, and every length around the block
// and padding boundaries against OpenSSL's digest.
#include "base/sha1.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <string>

namespace rcache::detail {
namespace {

std::string openssl_sha1(const std::string& s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(s.data(), s.size(), md, &len, EVP_sha1(), nullptr), 1);
  std::string hex;
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[md[i] >> 4];
    hex += kHex[md[i] & 15];
  }
  return hex;
}

TEST(Sha1, FipsExamples) {
  EXPECT_EQ(sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(sha1_hex(std::string(1000000, 'a')), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST(Sha1, EveryLengthAroundTheBlocksAgreesWithOpenssl) {
  std::string s;
  for (int n = 0; n <= 300; ++n) {
    EXPECT_EQ(sha1_hex(s), openssl_sha1(s)) << n << " bytes";
    s += static_cast<char>((n * 131 + 7) & 0xff);  // every byte value, NUL included
  }
}

}  // namespace
}  // namespace rcache::detail
