// AUTH with requirepass and with an ACL user.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fixtures.hpp"

namespace rcache::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class Auth : public ::testing::Test {
 protected:
  void SetUp() override {
    RedisServer::Options o;
    o.args = {"--requirepass", "s3cret-pw", "--user", "alice", "on",
              ">alice-pw",     "~cache:*",  "+@all"};
    server_ = RedisServer::start(o);
    ASSERT_NE(server_, nullptr);
  }
  Config base() { return config_for(*server_); }
  std::unique_ptr<RedisServer> server_;
};

TEST_F(Auth, RequirepassWithTheRightPassword) {
  auto cfg = Config::from_url("redis://:s3cret-pw@127.0.0.1:" + std::to_string(server_->port()));
  ASSERT_TRUE(cfg.ok());
  auto c = make_client(*cfg);
  ASSERT_TRUE(c->set("k", "v").ok());
  EXPECT_EQ(c->get("k").value(), std::optional<std::string>("v"));
}

TEST_F(Auth, WrongPasswordIsAClearAuthErrorWithoutThePassword) {
  Config cfg = base();
  cfg.password = "wrong-guess";
  auto c = make_client(cfg);
  auto r = c->get("k");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::auth) << r.error().to_string();
  EXPECT_THAT(r.error().message, HasSubstr("AUTH"));
  EXPECT_THAT(r.error().message, Not(HasSubstr("wrong-guess")));
  EXPECT_THAT(c->pool_status().last_error, Not(HasSubstr("wrong-guess")));
}

TEST_F(Auth, MissingPasswordIsAnAuthError) {
  auto c = make_client(base());
  auto r = c->set("k", "v");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::auth) << r.error().to_string();
}

TEST_F(Auth, AclUserWithPassword) {
  Config cfg = base();
  cfg.username = "alice";
  cfg.password = "alice-pw";
  auto c = make_client(cfg);
  ASSERT_TRUE(c->set("cache:x", "1").ok());
  EXPECT_EQ(c->get("cache:x").value(), std::optional<std::string>("1"));
  auto who = c->command({"ACL", "WHOAMI"});
  ASSERT_TRUE(who.ok()) << who.error().to_string();
  EXPECT_EQ(who->str, "alice");
  // ACL key pattern enforced by the server, reported as a server error.
  auto denied = c->set("other:x", "1");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code, Errc::server);
  EXPECT_THAT(denied.error().message, HasSubstr("NOPERM"));
}

TEST_F(Auth, AclUserWithWrongPassword) {
  Config cfg = base();
  cfg.username = "alice";
  cfg.password = "not-alice";
  auto c = make_client(cfg);
  auto r = c->get("cache:x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::auth);
  EXPECT_THAT(r.error().message, HasSubstr("WRONGPASS"));
}

}  // namespace
}  // namespace rcache::test
