// delete_pattern: SCAN + UNLINK against a real server.
#include <gtest/gtest.h>

#include "fixtures.hpp"

namespace rcache::test {
namespace {

class DeletePattern : public RedisTest {
 protected:
  void fill(Client& c, const std::string& stem, int n) {
    Client::Pairs batch;
    for (int i = 0; i < n; ++i) {
      batch.emplace_back(stem + std::to_string(i), "v" + std::to_string(i));
      if (batch.size() == 1000 || i == n - 1) {
        ASSERT_TRUE(c.mset(batch).ok());
        batch.clear();
      }
    }
  }
  std::int64_t dbsize() { return client().command({"DBSIZE"})->integer; }
};

TEST_F(DeletePattern, RemovesExactlyTheMatchingKeys) {
  fill(client(), "match:", 10000);
  fill(client(), "other:", 10000);
  ASSERT_EQ(dbsize(), 20000);
  auto n = client().delete_pattern("match:*");
  ASSERT_TRUE(n.ok()) << n.error().to_string();
  EXPECT_EQ(*n, 10000u);
  EXPECT_EQ(dbsize(), 10000);
  std::vector<std::string> probe;
  for (int i = 0; i < 10000; i += 97) probe.push_back("match:" + std::to_string(i));
  EXPECT_EQ(client().exists(probe).value(), 0);
  for (auto& k : probe) k.replace(0, 6, "other:");
  EXPECT_EQ(client().exists(probe).value(), static_cast<std::int64_t>(probe.size()));
}

TEST_F(DeletePattern, NoMatchRemovesNothing) {
  fill(client(), "keep:", 500);
  EXPECT_EQ(client().delete_pattern("gone:*").value(), 0u);
  EXPECT_EQ(dbsize(), 500);
}

TEST_F(DeletePattern, SmallCountStillFinishesWithTheLastBatch) {
  Config c = config_for(*server_);
  c.scan_count = 7;
  auto tiny = make_client(c);
  fill(*tiny, "t:", 1234);
  EXPECT_EQ(tiny->delete_pattern("t:*").value(), 1234u);
  EXPECT_EQ(dbsize(), 0);
}

TEST_F(DeletePattern, PrefixIsAppliedAndItsGlobCharactersEscaped) {
  Config c = config_for(*server_);
  c.key_prefix = "svc[1]*:";
  auto pre = make_client(c);
  fill(*pre, "rec", 300);
  fill(client(), "svc1x:rec", 50);  // would match an unescaped "svc[1]*:rec*"
  fill(client(), "svc[1]*:other", 20);
  auto n = pre->delete_pattern("rec*");
  ASSERT_TRUE(n.ok()) << n.error().to_string();
  EXPECT_EQ(*n, 300u);
  EXPECT_EQ(dbsize(), 70);
}

TEST_F(DeletePattern, AsyncFormReportsTheCount) {
  fill(client(), "a:", 250);
  auto n = client().delete_pattern_async("a:*").get();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 250u);
}

}  // namespace
}  // namespace rcache::test
