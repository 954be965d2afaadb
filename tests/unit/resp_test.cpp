// RESP encoding and reply/error mapping: pure logic, no server.
#include "protocol/resp.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "protocol/commands.hpp"
#include "protocol/replies.hpp"
#include "reply_bytes.hpp"

using namespace rcache;
using namespace rcache::detail;
using ::testing::HasSubstr;

namespace {

std::string hiredis_format(const std::vector<std::string>& argv) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  char* out = nullptr;
  const int n =
      redisFormatCommandArgv(&out, static_cast<int>(argv.size()), ptrs.data(), lens.data());
  std::string s(out, static_cast<size_t>(n));
  redisFreeCommand(out);
  return s;
}

TEST(RespWriter, MatchesHiredisFormatting) {
  std::mt19937 rng(42);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string> argv;
    const int argc = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < argc; ++i) {
      std::string a(rng() % 300, '\0');
      for (auto& c : a) c = static_cast<char>(rng());
      argv.push_back(std::move(a));
    }
    std::string mine;
    RespWriter w(mine);
    w.begin(argv.size());
    for (const auto& a : argv) w.arg(a);
    ASSERT_EQ(mine, hiredis_format(argv)) << "round " << round;
  }
}

TEST(RespWriter, TwoPieceArgumentAndIntegers) {
  std::string out;
  RespWriter w(out);
  w.begin(3);
  w.arg("GET");
  w.arg("pre:", "key");
  w.arg(std::int64_t{-42});
  EXPECT_EQ(out, "*3\r\n$3\r\nGET\r\n$7\r\npre:key\r\n$3\r\n-42\r\n");
}

TEST(RespWriter, EmptyAndBinaryArguments) {
  std::string out;
  RespWriter w(out);
  w.begin(2);
  w.arg("");
  w.arg(std::string_view("a\0b", 3));
  EXPECT_EQ(out, std::string("*2\r\n$0\r\n\r\n$3\r\na\0b\r\n", 19));
}

ReplyPtr parse(std::string_view bytes) {
  redisReader* r = create_reader();
  redisReaderFeed(r, bytes.data(), bytes.size());
  void* reply = nullptr;
  const int rc = redisReaderGetReply(r, &reply);
  redisReaderFree(r);
  EXPECT_EQ(rc, REDIS_OK);
  return ReplyPtr(static_cast<redisReply*>(reply));
}

TEST(ReplyErrors, AuthWordsMapToAuth) {
  auto wrongpass = parse("-WRONGPASS invalid username-password pair\r\n");
  EXPECT_EQ(error_from_reply(*wrongpass, "AUTH").code, Errc::auth);
  auto noauth = parse("-NOAUTH Authentication required.\r\n");
  EXPECT_EQ(error_from_reply(*noauth).code, Errc::auth);
}

TEST(ReplyErrors, OtherErrorsAreServerErrorsWithText) {
  auto wrongtype = parse("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
  Error e = error_from_reply(*wrongtype, "GET");
  EXPECT_EQ(e.code, Errc::server);
  EXPECT_THAT(e.message, HasSubstr("GET: WRONGTYPE Operation"));
}

TEST(ReplyConversion, NestedArrayWithNilAndError) {
  auto r = parse("*4\r\n$3\r\nabc\r\n$-1\r\n:7\r\n*1\r\n-ERR inner\r\n");
  Reply out = to_reply(*r);
  ASSERT_EQ(out.kind, Reply::Kind::array);
  ASSERT_EQ(out.elements.size(), 4u);
  EXPECT_EQ(out.elements[0].str, "abc");
  EXPECT_TRUE(out.elements[1].is_nil());
  EXPECT_EQ(out.elements[2].integer, 7);
  EXPECT_EQ(out.elements[3].elements[0].kind, Reply::Kind::error);
  EXPECT_EQ(out.elements[3].elements[0].str, "ERR inner");
}

TEST(Reader, GarbageIsAProtocolError) {
  redisReader* r = create_reader();
  const char junk[] = "!this is not resp\r\n";
  redisReaderFeed(r, junk, sizeof junk - 1);
  void* reply = nullptr;
  EXPECT_EQ(redisReaderGetReply(r, &reply), REDIS_ERR);
  Error e = error_from_reader(*r);
  EXPECT_EQ(e.code, Errc::protocol);
  EXPECT_THAT(e.message, HasSubstr("invalid reply"));
  redisReaderFree(r);
}

TEST(Reader, HugeArrayCountIsRefusedWithoutAllocating) {
  redisReader* r = create_reader();
  const char huge[] = "*2000000000\r\n";
  redisReaderFeed(r, huge, sizeof huge - 1);
  void* reply = nullptr;
  EXPECT_EQ(redisReaderGetReply(r, &reply), REDIS_ERR);
  EXPECT_EQ(reply, nullptr);
  redisReaderFree(r);
}

// The near cache's MGET: the values and each key's PTTL, in order; a reply count that does not
// match the keys is a protocol error, not a shifted answer.
TEST(MgetWithPttl, ValuesAndTtlsInOrder) {
  Config cfg;
  cfg.key_prefix = "p:";
  auto w = mget_with_pttl_command(cfg, {"a", "b"});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->replies, 3u);
  EXPECT_EQ(w->bytes,
            "*3\r\n$4\r\nMGET\r\n$3\r\np:a\r\n$3\r\np:b\r\n"
            "*2\r\n$4\r\nPTTL\r\n$3\r\np:a\r\n*2\r\n$4\r\nPTTL\r\n$3\r\np:b\r\n");
  EXPECT_FALSE(mget_with_pttl_command(cfg, {}).ok());

  std::vector<ReplyPtr> earlier;
  earlier.push_back(rcache::test::parse_reply("*2\r\n$1\r\nx\r\n$-1\r\n"));
  earlier.push_back(rcache::test::parse_reply(":1500\r\n"));
  auto last = rcache::test::parse_reply(":-2\r\n");
  auto r = parse_mget_with_pttl(earlier, *last, 2);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].raw, std::optional<std::string>("x"));
  EXPECT_EQ((*r)[0].pttl_ms, 1500);
  EXPECT_EQ((*r)[1].raw, std::nullopt);
  EXPECT_EQ((*r)[1].pttl_ms, -2);

  auto short_count = parse_mget_with_pttl(earlier, *last, 3);
  ASSERT_FALSE(short_count.ok());
  EXPECT_EQ(short_count.error().code, Errc::protocol);
  std::vector<ReplyPtr> wrong;
  wrong.push_back(rcache::test::parse_reply("*1\r\n$1\r\nx\r\n"));
  wrong.push_back(rcache::test::parse_reply(":1\r\n"));
  EXPECT_EQ(parse_mget_with_pttl(wrong, *last, 2).error().code, Errc::protocol);
}

TEST(ErrorCode, IsAStdErrorCode) {
  std::error_code ec = Errc::timeout;
  EXPECT_EQ(ec.category().name(), std::string("rcache"));
  EXPECT_EQ(ec.message(), "timeout");
  EXPECT_EQ(Error({Errc::server, "x"}).to_string(), "server: x");
}

}  // namespace
