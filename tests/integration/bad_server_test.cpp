// A server that speaks garbage: clear errors, no crash, no unbounded memory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fake_server.hpp"
#include "fixtures.hpp"

namespace rcache::test {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

Config fake_config(const FakeServer& s) {
  Config c;
  c.port = s.port();
  c.pool_size = 1;
  c.client_name = "";  // handshake is a single PING, answered by the greeting
  c.command_timeout = kRelaxedTimeout;
  return transport_only(c);
}

TEST(BadServer, GarbageReplyIsAProtocolErrorNamingTheProblem) {
  FakeServer server({"+PONG\r\n", "%%% this is not RESP\r\n", false});
  auto client = make_client(fake_config(server));
  auto r = client->get("k");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::protocol) << r.error().to_string();
  EXPECT_THAT(r.error().message, HasSubstr("invalid reply"));
}

TEST(BadServer, LyingBulkLengthIsRefusedAtTheValueLimit) {
  // Announces a ~1 GB bulk string and keeps sending: the client must give up at its value limit
  // (plus 64 KiB of slack) instead of buffering on.
  std::string payload = "$999999999\r\n" + std::string(200000, 'x');
  FakeServer server({"+PONG\r\n", payload, false});
  Config c = fake_config(server);
  c.max_value_size = 1024;
  auto client = make_client(c);
  auto r = client->get("k");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::protocol) << r.error().to_string();
  EXPECT_THAT(r.error().message, HasSubstr("larger than max_value_size"));
}

TEST(BadServer, WrongReplyTypeIsAProtocolError) {
  FakeServer server({"+PONG\r\n", ":42\r\n", false});
  auto client = make_client(fake_config(server));
  auto r = client->get("k");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::protocol);
  EXPECT_THAT(r.error().message, HasSubstr("unexpected integer reply to GET"));
}

TEST(BadServer, ServerThatAlwaysHangsUpLeavesTheClientDisabledWithTheReason) {
  FakeServer server({"", "", true});
  Config c = fake_config(server);
  c.log_level = LogLevel::off;
  auto client = make_client(c);
  auto r = client->ping();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::disabled) << r.error().to_string();
  EXPECT_THAT(r.error().message, HasSubstr("server closed the connection"));
}

TEST(BadServer, HostNameIsResolved) {
  FakeServer server({"+PONG\r\n", "+PONG\r\n", false});
  Config c = fake_config(server);
  c.host = "localhost";
  auto client = make_client(c);
  auto r = client->ping();
  EXPECT_TRUE(r.ok()) << r.error().to_string();
}

TEST(BadServer, MgetAnsweredWithTheWrongNumberOfValuesIsAProtocolErrorNamingMget) {
  for (const std::string& payload : {std::string("*1\r\n$1\r\na\r\n"), std::string("*0\r\n"),
                                     std::string("*4\r\n$1\r\na\r\n$1\r\nb\r\n$-1\r\n$-1\r\n")}) {
    FakeServer server({"+PONG\r\n", payload, false});
    auto client = make_client(fake_config(server));
    ASSERT_NE(client, nullptr);
    auto r = client->mget({"k1", "k2"});
    ASSERT_FALSE(r.ok()) << "a reply of the wrong size must not be returned as values";
    EXPECT_EQ(r.error().code, Errc::protocol);
    EXPECT_THAT(r.error().message, HasSubstr("MGET: 2 keys asked"));
  }
}

TEST(BadServer, SetAnsweredWithQueuedIsNotReportedAsWritten) {
  FakeServer server({"+PONG\r\n", "+QUEUED\r\n", false});
  auto client = make_client(fake_config(server));
  ASSERT_NE(client, nullptr);
  auto r = client->set("k", "v");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::protocol);
  EXPECT_THAT(r.error().message, HasSubstr("SET"));
}

}  // namespace
}  // namespace rcache::test
