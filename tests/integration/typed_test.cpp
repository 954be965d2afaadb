// Typed values through a user codec.
#include "rcache/typed.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <charconv>

#include "fixtures.hpp"

namespace app {
struct Point {
  int x = 0;
  int y = 0;
  bool operator==(const Point&) const = default;
};
}  // namespace app

template <>
struct rcache::Codec<app::Point> {
  static std::string encode(const app::Point& p) {
    return std::to_string(p.x) + "," + std::to_string(p.y);
  }
  static rcache::Result<app::Point> decode(std::string_view b) {
    app::Point p;
    const auto comma = b.find(',');
    if (comma == std::string_view::npos) {
      return rcache::Error{rcache::Errc::corrupt_value, "not a point"};
    }
    std::from_chars(b.data(), b.data() + comma, p.x);
    std::from_chars(b.data() + comma + 1, b.data() + b.size(), p.y);
    return p;
  }
};

namespace rcache::test {
namespace {

using namespace std::chrono_literals;

class Typed : public RedisTest {};

TEST_F(Typed, UserStructsRoundTripThroughTheirCodec) {
  ASSERT_TRUE(set_as(client(), "p", app::Point{3, -4}, 60s).ok());
  auto p = get_as<app::Point>(client(), "p");
  ASSERT_TRUE(p.ok()) << p.error().to_string();
  EXPECT_EQ(**p, (app::Point{3, -4}));
  EXPECT_FALSE(get_as<app::Point>(client(), "none")->has_value());
}

TEST_F(Typed, UndecodableBytesAreAnErrorNamingTheKey) {
  ASSERT_TRUE(client().set("junk", "no comma here").ok());
  auto p = get_as<app::Point>(client(), "junk");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, Errc::corrupt_value);
  EXPECT_THAT(p.error().message, ::testing::HasSubstr("'junk'"));
}

TEST_F(Typed, StringsAndByteVectorsWorkOutOfTheBox) {
  const std::vector<std::uint8_t> bytes = {0, 1, 2, 255, 0};
  ASSERT_TRUE(set_as(client(), "b", bytes).ok());
  EXPECT_EQ(**get_as<std::vector<std::uint8_t>>(client(), "b"), bytes);
  ASSERT_TRUE(set_as(client(), "s", std::string("text")).ok());
  EXPECT_EQ(**get_as<std::string>(client(), "s"), "text");
}

TEST_F(Typed, GetOrLoadAsLoadsOnceThenReadsTheCache) {
  int calls = 0;
  LoadOptions o;
  o.ttl = 60s;
  auto loader = [&]() -> Result<std::optional<app::Point>> {
    ++calls;
    return std::optional<app::Point>(app::Point{7, 8});
  };
  auto a = get_or_load_as<app::Point>(client(), "gp", o, loader);
  auto b = get_or_load_as<app::Point>(client(), "gp", o, loader);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(**a, (app::Point{7, 8}));
  EXPECT_EQ(**b, (app::Point{7, 8}));
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace rcache::test
