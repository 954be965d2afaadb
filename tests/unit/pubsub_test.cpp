// Pub/sub frames, commands and the subscription registry (pure).
#include "protocol/pubsub.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "reply_bytes.hpp"
#include "resilience/subscriptions.hpp"

namespace rcache::detail {
namespace {

using test::commands_in;
using test::parse_reply;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Kind = Subscriptions::Kind;

std::string bulk(std::string_view s) {
  return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}

TEST(PubSubFrames, AMessageGivesItsChannelAndBinaryPayload) {
  const std::string payload("a\0b\r\nc", 6);
  const auto r = parse_reply("*3\r\n" + bulk("message") + bulk("news") + bulk(payload));
  auto f = parse_push(*r);
  ASSERT_TRUE(f.ok()) << f.error().to_string();
  EXPECT_EQ(f->kind, PushFrame::Kind::message);
  EXPECT_EQ(f->channel, "news");
  EXPECT_TRUE(f->pattern.empty());
  EXPECT_EQ(f->payload, payload);
}

TEST(PubSubFrames, APatternMessageGivesPatternChannelAndPayload) {
  const auto r =
      parse_reply("*4\r\n" + bulk("pmessage") + bulk("news.*") + bulk("news.eu") + bulk(""));
  auto f = parse_push(*r);
  ASSERT_TRUE(f.ok()) << f.error().to_string();
  EXPECT_EQ(f->kind, PushFrame::Kind::pmessage);
  EXPECT_EQ(f->pattern, "news.*");
  EXPECT_EQ(f->channel, "news.eu");
  EXPECT_EQ(f->payload, "");
}

TEST(PubSubFrames, ConfirmationsAndPongsAreRecognised) {
  // The frame's views point into the reply: it is kept.
  const auto sub_reply = parse_reply("*3\r\n" + bulk("subscribe") + bulk("a") + ":1\r\n");
  auto sub = parse_push(*sub_reply);
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(sub->kind, PushFrame::Kind::confirmation);
  EXPECT_EQ(sub->verb, PubSubVerb::subscribe);
  EXPECT_EQ(sub->channel, "a");
  EXPECT_EQ(sub->count, 1);
  // UNSUBSCRIBE of nothing while nothing is subscribed: a nil name.
  auto none = parse_push(*parse_reply("*3\r\n" + bulk("unsubscribe") + "$-1\r\n:0\r\n"));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->verb, PubSubVerb::unsubscribe);
  EXPECT_TRUE(none->channel.empty());
  auto pong = parse_push(*parse_reply("*2\r\n" + bulk("pong") + bulk("")));
  ASSERT_TRUE(pong.ok());
  EXPECT_EQ(pong->kind, PushFrame::Kind::pong);
  auto plain_pong = parse_push(*parse_reply("+PONG\r\n"));
  ASSERT_TRUE(plain_pong.ok());
  EXPECT_EQ(plain_pong->kind, PushFrame::Kind::pong);
}

TEST(PubSubFrames, GarbageFramesGiveAClearProtocolError) {
  for (const std::string& bytes : {
           std::string(":42\r\n"),                                          // not an array
           std::string("*0\r\n"),                                           // empty
           std::string("*1\r\n:1\r\n"),                                     // no kind word
           "*2\r\n" + bulk("message") + bulk("a"),                          // too short
           "*3\r\n" + bulk("message") + ":1\r\n" + bulk("x"),               // channel not bulk
           "*4\r\n" + bulk("pmessage") + bulk("p") + bulk("c") + "*0\r\n",  // payload not bulk
           "*3\r\n" + bulk("subscribe") + bulk("a") + bulk("1"),            // count not integer
           "*3\r\n" + bulk("whatever") + bulk("a") + bulk("b"),             // unknown kind
       }) {
    auto f = parse_push(*parse_reply(bytes));
    ASSERT_FALSE(f.ok()) << bytes;
    EXPECT_EQ(f.error().code, Errc::protocol);
    EXPECT_THAT(f.error().message, HasSubstr("unexpected frame on the subscriber connection"));
  }
}

TEST(PubSubCommands, OneCommandPerNameAndPublishWithoutKeyPrefix) {
  EXPECT_THAT(commands_in(pubsub_command(PubSubVerb::psubscribe, "news.*")),
              ElementsAre(std::vector<std::string>{"PSUBSCRIBE", "news.*"}));
  EXPECT_THAT(commands_in(pubsub_command(PubSubVerb::punsubscribe, "x")),
              ElementsAre(std::vector<std::string>{"PUNSUBSCRIBE", "x"}));
  Config cfg;
  cfg.key_prefix = "app:";
  auto w = publish_command(cfg, "ch", std::string("m\0", 2));
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->replies, 1u);
  EXPECT_THAT(commands_in(w->bytes),
              ElementsAre(std::vector<std::string>{"PUBLISH", "ch", std::string("m\0", 2)}));
  cfg.max_value_size = 4;
  auto big = publish_command(cfg, "ch", "12345");
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, Errc::too_large);
}

TEST(PubSubCommands, AConfirmationIsCheckedAgainstWhatWasAsked) {
  const auto ok = parse_reply("*3\r\n" + bulk("subscribe") + bulk("a") + ":1\r\n");
  EXPECT_TRUE(check_confirmation(*ok, PubSubVerb::subscribe, "a").ok());
  auto other = check_confirmation(*ok, PubSubVerb::subscribe, "b");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, Errc::protocol);
  auto verb = check_confirmation(*ok, PubSubVerb::psubscribe, "a");
  ASSERT_FALSE(verb.ok());
  const auto refused =
      parse_reply("-NOPERM User u has no permissions to access the 'secret' channel\r\n");
  auto no = check_confirmation(*refused, PubSubVerb::subscribe, "secret");
  ASSERT_FALSE(no.ok());
  EXPECT_EQ(no.error().code, Errc::server);
  EXPECT_THAT(no.error().message, HasSubstr("SUBSCRIBE secret"));
  EXPECT_THAT(no.error().message, HasSubstr("NOPERM"));
}

Subscriptions::Handler handler(int& hits) {
  return std::make_shared<const MessageHandler>([&hits](const Message&) { ++hits; });
}

TEST(SubscriptionRegistry, OnlyConfirmedNamesAreRestored) {
  Subscriptions s;
  int hits = 0;
  EXPECT_TRUE(s.add(Kind::channel, "a", handler(hits), 1));
  EXPECT_TRUE(s.add(Kind::channel, "b", handler(hits), 1));
  EXPECT_TRUE(s.add(Kind::pattern, "p.*", handler(hits), 2));
  s.confirm(Kind::channel, "a", 1);
  s.confirm(Kind::pattern, "p.*", 2);
  EXPECT_THAT(s.to_restore(Kind::channel), ElementsAre("a"));
  EXPECT_THAT(s.to_restore(Kind::pattern), ElementsAre("p.*"));
  EXPECT_EQ(s.size(Kind::channel), 2u);  // b is still being subscribed
}

TEST(SubscriptionRegistry, AFailedCallRemovesOnlyWhatItAddedAndNobodyConfirmed) {
  Subscriptions s;
  int hits = 0;
  s.add(Kind::channel, "old", handler(hits), 1);
  s.confirm(Kind::channel, "old", 1);
  EXPECT_FALSE(s.add(Kind::channel, "old", handler(hits), 2));  // subscribed again: replaced
  EXPECT_TRUE(s.add(Kind::channel, "new", handler(hits), 2));
  s.abandon(Kind::channel, "old", 2);
  s.abandon(Kind::channel, "new", 2);
  EXPECT_NE(s.find(Kind::channel, "old"), nullptr);  // confirmed by call 1: kept
  EXPECT_EQ(s.find(Kind::channel, "new"), nullptr);
  // A later call owns the name: an earlier call's failure does not remove it.
  s.add(Kind::channel, "x", handler(hits), 3);
  s.add(Kind::channel, "x", handler(hits), 4);
  s.abandon(Kind::channel, "x", 3);
  EXPECT_NE(s.find(Kind::channel, "x"), nullptr);
  s.confirm(Kind::channel, "x", 3);  // not its call any more
  EXPECT_TRUE(s.to_restore(Kind::channel) == std::vector<std::string>{"old"});
}

TEST(SubscriptionRegistry, UnsubscribedNamesAreNeitherDeliveredNorRestored) {
  Subscriptions s;
  int hits = 0;
  s.add(Kind::channel, std::string("bin\0ary", 7), handler(hits), 1);
  s.confirm(Kind::channel, std::string("bin\0ary", 7), 1);
  const MessageHandler* h = s.find(Kind::channel, std::string("bin\0ary", 7));
  ASSERT_NE(h, nullptr);
  (*h)(Message{});
  EXPECT_EQ(hits, 1);
  EXPECT_EQ(s.find(Kind::channel, "bin"), nullptr);                       // binary-safe names
  EXPECT_EQ(s.find(Kind::pattern, std::string("bin\0ary", 7)), nullptr);  // kinds apart
  EXPECT_TRUE(s.remove(Kind::channel, std::string("bin\0ary", 7)));
  EXPECT_FALSE(s.remove(Kind::channel, std::string("bin\0ary", 7)));
  EXPECT_TRUE(s.to_restore(Kind::channel).empty());
  EXPECT_TRUE(s.empty());
}

}  // namespace
}  // namespace rcache::detail
