// Sentinel's pure logic: the master-address answer, +switch-master messages, and the ROLE step of
// the data connections' handshake.
#include "protocol/sentinel.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "protocol/handshake.hpp"
#include "reply_bytes.hpp"

namespace rcache::detail {
namespace {

using ::testing::HasSubstr;

ReplyPtr parse(std::string_view bytes) {
  return test::parse_reply(bytes);
}

TEST(SentinelReplies, TheQueryIsTheCommandSentinelsKnow) {
  EXPECT_EQ(sentinel_master_query("mymaster"),
            "*3\r\n$8\r\nSENTINEL\r\n$23\r\nGET-MASTER-ADDR-BY-NAME\r\n$8\r\nmymaster\r\n");
  EXPECT_EQ(sentinel_subscribe(), "*2\r\n$9\r\nSUBSCRIBE\r\n$14\r\n+switch-master\r\n");
}

TEST(SentinelReplies, AMasterAddressIsReadAndEveryOtherAnswerNamed) {
  auto ok = parse_master_addr(*parse("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n"), "m", "s:26379");
  ASSERT_TRUE(ok.ok()) << ok.error().to_string();
  EXPECT_EQ(ok->host, "127.0.0.1");
  EXPECT_EQ(ok->port, 6380);

  auto unknown = parse_master_addr(*parse("$-1\r\n"), "nope", "s:26379");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, Errc::invalid_argument);
  EXPECT_THAT(unknown.error().message,
              HasSubstr("sentinel s:26379 monitors no master named 'nope'"));

  auto noauth = parse_master_addr(*parse("-NOAUTH Authentication required.\r\n"), "m", "s:1");
  ASSERT_FALSE(noauth.ok());
  EXPECT_EQ(noauth.error().code, Errc::auth);

  auto other = parse_master_addr(*parse("-ERR unknown command\r\n"), "m", "s:1");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, Errc::connection);
  EXPECT_THAT(other.error().message, HasSubstr("sentinel s:1"));

  for (const char* bad : {"*1\r\n$1\r\nh\r\n", "*2\r\n$1\r\nh\r\n$1\r\n0\r\n",
                          "*2\r\n$1\r\nh\r\n$5\r\n65536\r\n", "*2\r\n$0\r\n\r\n$2\r\n10\r\n",
                          "*2\r\n$3\r\na b\r\n$2\r\n10\r\n", "*2\r\n:1\r\n:2\r\n", ":1\r\n"}) {
    auto r = parse_master_addr(*parse(bad), "m", "s:1");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, Errc::protocol) << bad;
  }
}

std::string message(std::string_view channel, std::string_view payload) {
  std::string out = "*3\r\n$7\r\nmessage\r\n";
  out += "$" + std::to_string(channel.size()) + "\r\n" + std::string(channel) + "\r\n";
  out += "$" + std::to_string(payload.size()) + "\r\n" + std::string(payload) + "\r\n";
  return out;
}

TEST(SentinelReplies, ASwitchOfOurMasterGivesItsNewAddress) {
  auto to = parse_switch_master(
      *parse(message("+switch-master", "mymaster 127.0.0.1 6379 127.0.0.1 6380")), "mymaster");
  ASSERT_TRUE(to.has_value());
  EXPECT_EQ(to->host, "127.0.0.1");
  EXPECT_EQ(to->port, 6380);
  auto v6 = parse_switch_master(*parse(message("+switch-master", "m ::1 6379 ::1 7000")), "m");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->host, "::1");
}

TEST(SentinelReplies, AnythingElseOnTheChannelIsIgnored) {
  for (const std::string& bytes :
       {message("+switch-master", "other 127.0.0.1 6379 127.0.0.1 6380"),  // another master
        message("+switch-master", "mymaster 127.0.0.1 6379 127.0.0.1"),    // too short
        message("+switch-master", "mymaster a 1 b 2 extra"),               // too long
        message("+switch-master", "mymaster a 1 b 0"),                     // bad port
        message("+switch-master", "mymaster a 1 b x"),
        message("+sdown", "mymaster 127.0.0.1 6379 127.0.0.1 6380"),  // another channel
        std::string("*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n"),
        std::string("+OK\r\n"), std::string("*2\r\n$7\r\nmessage\r\n$1\r\nx\r\n")}) {
    EXPECT_FALSE(parse_switch_master(*parse(bytes), "mymaster").has_value()) << bytes;
  }
}

TEST(SentinelHandshake, DataConnectionsCheckTheRoleLast) {
  Config c;
  c.sentinels = {"127.0.0.1:26379"};
  c.sentinel_master = "mymaster";
  const Handshake hs = build_handshake(c);
  ASSERT_EQ(hs.steps.size(), 2u);  // CLIENT SETNAME, ROLE
  EXPECT_STREQ(hs.steps.back(), "ROLE");
  EXPECT_THAT(hs.wire, HasSubstr("$4\r\nROLE\r\n"));

  std::vector<ReplyPtr> earlier;
  earlier.push_back(parse("+OK\r\n"));
  auto master = parse("*3\r\n$6\r\nmaster\r\n:100\r\n*0\r\n");
  EXPECT_TRUE(check_handshake(hs, earlier, master.get(), "127.0.0.1:6379").ok());

  auto replica =
      parse("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6380\r\n$9\r\nconnected\r\n:100\r\n");
  auto r = check_handshake(hs, earlier, replica.get(), "127.0.0.1:6379");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::connection);
  EXPECT_THAT(r.error().message,
              HasSubstr("127.0.0.1:6379 is not the master of 'mymaster' (ROLE says 'slave')"));

  auto odd = parse(":1\r\n");
  auto o = check_handshake(hs, earlier, odd.get(), "h:1");
  ASSERT_FALSE(o.ok());
  EXPECT_THAT(o.error().message, HasSubstr("no role"));

  Config plain;
  EXPECT_EQ(build_handshake(plain).steps.back(), std::string("CLIENT SETNAME"));
}

}  // namespace
}  // namespace rcache::detail
