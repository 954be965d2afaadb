// The near cache's tracking commands and invalidation messages (pure).
#include "protocol/tracking.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "reply_bytes.hpp"

namespace rcache::detail {
namespace {

using test::commands_in;

using test::parse_reply;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string invalidation(std::string_view payload) {
  return "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n" + std::string(payload);
}

TEST(Tracking, TheCommandsAreBcastWithRedirectToItselfThenTheSubscription) {
  EXPECT_THAT(commands_in(client_id_command()),
              ElementsAre(std::vector<std::string>{"CLIENT", "ID"}));
  EXPECT_THAT(commands_in(tracking_commands(42, "app:")),
              ElementsAre(std::vector<std::string>{"CLIENT", "TRACKING", "on", "REDIRECT", "42",
                                                   "BCAST", "PREFIX", "app:", "NOLOOP"},
                          std::vector<std::string>{"SUBSCRIBE", "__redis__:invalidate"}));
  // Without a key prefix: every key.
  EXPECT_THAT(commands_in(tracking_commands(7, "")),
              ElementsAre(std::vector<std::string>{"CLIENT", "TRACKING", "on", "REDIRECT", "7",
                                                   "BCAST", "NOLOOP"},
                          std::vector<std::string>{"SUBSCRIBE", "__redis__:invalidate"}));
}

TEST(Tracking, TheSetUpRepliesAreCheckedAndRefusalsNamed) {
  const auto ok = parse_reply("+OK\r\n");
  const auto subscribed =
      parse_reply("*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n");
  EXPECT_TRUE(check_tracking(*ok, *subscribed).ok());

  const auto unknown = parse_reply("-ERR unknown subcommand 'TRACKING'\r\n");
  auto r = check_tracking(*unknown, *subscribed);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("Redis refused CLIENT TRACKING"));
  EXPECT_THAT(r.error().message, HasSubstr("unknown subcommand"));

  const auto noperm = parse_reply("-NOPERM this user has no permissions to run 'subscribe'\r\n");
  auto s = check_tracking(*ok, *noperm);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("SUBSCRIBE __redis__:invalidate"));

  const auto odd = parse_reply(":1\r\n");
  auto o = check_tracking(*ok, *odd);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.error().code, Errc::protocol);
}

TEST(Tracking, KeysAndFlushesAreRead) {
  auto keys =
      parse_invalidation(*parse_reply(invalidation("*2\r\n$5\r\napp:a\r\n$5\r\napp:b\r\n")));
  ASSERT_TRUE(keys.has_value());
  EXPECT_FALSE(keys->all);
  EXPECT_THAT(keys->keys, ElementsAre("app:a", "app:b"));

  auto flush = parse_invalidation(*parse_reply(invalidation("$-1\r\n")));
  ASSERT_TRUE(flush.has_value());
  EXPECT_TRUE(flush->all);

  // Binary-safe keys.
  auto binary =
      parse_invalidation(*parse_reply(invalidation(std::string("*1\r\n$3\r\na\0b\r\n", 13))));
  ASSERT_TRUE(binary.has_value());
  ASSERT_EQ(binary->keys.size(), 1u);
  EXPECT_EQ(binary->keys[0], std::string("a\0b", 3));
}

TEST(Tracking, AnInvalidationThatCannotBeReadDropsEverything) {
  for (const std::string bytes : {invalidation(":5\r\n"),  // a payload of the wrong type
                                  invalidation("*2\r\n$1\r\na\r\n:1\r\n")}) {  // a non-string key
    auto inv = parse_invalidation(*parse_reply(bytes));
    ASSERT_TRUE(inv.has_value()) << bytes;
    EXPECT_TRUE(inv->all);
    EXPECT_TRUE(inv->keys.empty());
  }
}

TEST(Tracking, AnythingElseIsNotAnInvalidation) {
  for (const std::string bytes : {
           std::string("*3\r\n$7\r\nmessage\r\n$5\r\nother\r\n*1\r\n$1\r\nk\r\n"),  // channel
           std::string("*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n"),
           std::string("*2\r\n$4\r\npong\r\n$0\r\n\r\n"),  // PING while subscribed
           std::string("+OK\r\n"),
       }) {
    EXPECT_FALSE(parse_invalidation(*parse_reply(bytes)).has_value()) << bytes;
  }
}

}  // namespace
}  // namespace rcache::detail
