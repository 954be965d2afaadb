// Typed values through a user codec.
#include "rcache/typed.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <charconv>
#include <stdexcept>

#include "fixtures.hpp"
#if RCACHE_TEST_JSON
#include "rcache/json_codec.hpp"
#endif

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

namespace app {
// A codec that throws from both ends.
struct Thrower {};
}  // namespace app

template <>
struct rcache::Codec<app::Thrower> {
  static std::string encode(const app::Thrower&) { throw std::runtime_error("encode refused"); }
  static rcache::Result<app::Thrower> decode(std::string_view) {
    throw std::runtime_error("decode refused");
  }
};

#if RCACHE_TEST_JSON
namespace app {
struct User {
  int id = 0;
  std::string name;
  std::vector<std::string> tags;
  bool operator==(const User&) const = default;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(User, id, name, tags)

// A hand-written from_json that validates.
struct Age {
  int years = 0;
};
inline void to_json(nlohmann::json& j, const Age& a) {
  j = {{"years", a.years}};
}
inline void from_json(const nlohmann::json& j, Age& a) {
  a.years = j.at("years").get<int>();
  if (a.years < 0) throw std::invalid_argument("negative age");
}
}  // namespace app

template <>
struct rcache::Codec<app::User> : rcache::JsonCodec<app::User> {};
template <>
struct rcache::Codec<app::Age> : rcache::JsonCodec<app::Age> {};
#endif

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

TEST_F(Typed, GetOrLoadAsLoadsOnceThenReadsTheCacheAndSaysWhich) {
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
  EXPECT_EQ(a->value, (app::Point{7, 8}));
  EXPECT_EQ(a->source, Loaded::Source::loader);
  EXPECT_FALSE(a->bypassed);
  EXPECT_EQ(b->value, (app::Point{7, 8}));
  EXPECT_EQ(b->source, Loaded::Source::cache);
  EXPECT_FALSE(b->bypassed);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(to_string(b->source), "cache");
}

TEST_F(Typed, GetOrLoadAsTakesLoadersReturningTOptionalOrResult) {
  auto plain = get_or_load_as<app::Point>(client(), "t1", 60s, [] { return app::Point{1, 1}; });
  ASSERT_TRUE(plain.ok()) << plain.error().to_string();
  EXPECT_EQ(plain->value, (app::Point{1, 1}));

  auto none =
      get_or_load_as<app::Point>(client(), "t2", 60s, [] { return std::optional<app::Point>{}; });
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->value.has_value());
  EXPECT_EQ(none->source, Loaded::Source::loader);

  auto failed = get_or_load_as<app::Point>(client(), "t3", 60s, []() -> Result<app::Point> {
    return Error{Errc::server, "upstream 503"};
  });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().message, "upstream 503");
  EXPECT_FALSE(client().get("t3")->has_value()) << "a loader error is never cached";

  auto result = get_or_load_as<app::Point>(client(), "t4", 60s, []() -> Result<app::Point> {
    return app::Point{4, 4};
  });
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->value, (app::Point{4, 4}));
  EXPECT_EQ(get_as<app::Point>(client(), "t4")->value(), (app::Point{4, 4}));
}

// The rule of get_or_load() for a corrupt envelope, for typed values too: a stored value the
// codec refuses is corrupt_value naming the key; the loader is not called and nothing is written.
TEST_F(Typed, GetOrLoadAsOverUndecodableBytesIsCorruptValueAndDoesNotLoad) {
  ASSERT_TRUE(client().set("bad", "no comma here").ok());
  int calls = 0;
  auto r = get_or_load_as<app::Point>(client(), "bad", 60s, [&] {
    ++calls;
    return app::Point{1, 2};
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::corrupt_value);
  EXPECT_THAT(r.error().message, ::testing::HasSubstr("'bad'"));
  EXPECT_THAT(r.error().message, ::testing::HasSubstr("not a point"));
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(client().get("bad")->value_or(""), "no comma here");
}

TEST_F(Typed, GetOrLoadAsServesTheStaleCopyMarkedStale) {
  LoadOptions o;
  o.ttl = 60s;
  o.stale_if_error = true;
  ASSERT_TRUE(get_or_load_as<app::Point>(client(), "s", o, [] { return app::Point{5, 5}; }).ok());
  ASSERT_EQ(client().del("s").value(), 1);  // as if it had expired
  auto r = get_or_load_as<app::Point>(client(), "s", o, []() -> Result<app::Point> {
    return Error{Errc::server, "upstream down"};
  });
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->source, Loaded::Source::stale);
  EXPECT_EQ(r->value, (app::Point{5, 5}));
}

TEST_F(Typed, GetOrLoadAsSaysBypassedWhenRedisIsDown) {
  Config c = config_for(*server_);
  c.command_timeout = 200ms;
  c.deadline = 250ms;
  c.log_level = LogLevel::off;
  auto cl = make_client(c);
  ASSERT_NE(cl, nullptr);
  server_->kill9();
  auto r = get_or_load_as<app::Point>(*cl, "k", 60s, [] { return app::Point{9, 9}; });
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->bypassed);
  EXPECT_EQ(r->source, Loaded::Source::loader);
  EXPECT_EQ(r->value, (app::Point{9, 9}));
}

TEST_F(Typed, ExceptionsFromACodecAreReturnedAsErrors) {
  auto set = set_as(client(), "x", app::Thrower{}, 60s);
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().code, Errc::invalid_argument);
  EXPECT_THAT(set.error().message, ::testing::HasSubstr("encode refused"));
  EXPECT_FALSE(client().get("x")->has_value());

  auto loaded = get_or_load_as<app::Thrower>(client(), "x", 60s, [] { return app::Thrower{}; });
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().code, Errc::invalid_argument);
  EXPECT_THAT(loaded.error().message, ::testing::HasSubstr("'x'"));
  EXPECT_FALSE(client().get("x")->has_value());

  ASSERT_TRUE(client().set("x", "anything").ok());
  auto got = get_as<app::Thrower>(client(), "x");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Errc::corrupt_value);
  EXPECT_THAT(got.error().message, ::testing::HasSubstr("decode refused"));
}

#if RCACHE_TEST_JSON

TEST_F(Typed, JsonUserStructRoundTripsAsJsonText) {
  const app::User ann{7, "Ann", {"admin", "ops"}};
  ASSERT_TRUE(set_as(client(), "user:7", ann, 60s).ok());
  EXPECT_EQ(nlohmann::json::parse(client().get("user:7")->value_or("null")),
            (nlohmann::json{{"id", 7}, {"name", "Ann"}, {"tags", {"admin", "ops"}}}));
  auto back = get_as<app::User>(client(), "user:7");
  ASSERT_TRUE(back.ok()) << back.error().to_string();
  EXPECT_EQ(back->value(), ann);
}

TEST_F(Typed, JsonGetOrLoadAsLoadsFirstThenServesFromTheCache) {
  int calls = 0;
  auto fetch = [&] {
    ++calls;
    return app::User{8, "Bo", {}};
  };
  auto first = get_or_load_as<app::User>(client(), "user:8", 60s, fetch);
  auto second = get_or_load_as<app::User>(client(), "user:8", 60s, fetch);
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  ASSERT_TRUE(second.ok()) << second.error().to_string();
  EXPECT_EQ(first->source, Loaded::Source::loader);
  EXPECT_EQ(second->source, Loaded::Source::cache);
  EXPECT_FALSE(first->bypassed || second->bypassed);
  EXPECT_EQ(first->value, (app::User{8, "Bo", {}}));
  EXPECT_EQ(second->value, first->value);
  EXPECT_EQ(calls, 1);
}

TEST_F(Typed, JsonCorruptStoredTextIsCorruptValueAndTheLoaderIsNotCalled) {
  const std::string junk = R"({"id": 9, "name": "Cy", )";  // cut short
  ASSERT_TRUE(client().set("user:9", junk).ok());
  int calls = 0;
  auto r = get_or_load_as<app::User>(client(), "user:9", 60s, [&] {
    ++calls;
    return app::User{9, "Cy", {}};
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::corrupt_value);
  EXPECT_THAT(r.error().message, ::testing::HasSubstr("'user:9'"));
  EXPECT_THAT(r.error().message, ::testing::HasSubstr("not valid JSON"));
  EXPECT_THAT(r.error().message, ::testing::HasSubstr("parse error"));
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(client().get("user:9")->value_or(""), junk) << "a corrupt value is never overwritten";

  auto got = get_as<app::User>(client(), "user:9");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Errc::corrupt_value);
  ASSERT_TRUE(client().set("empty", "").ok());
  EXPECT_EQ(get_as<nlohmann::json>(client(), "empty").error().code, Errc::corrupt_value);
}

TEST_F(Typed, JsonOfTheWrongShapeIsCorruptValueNamingTheProblem) {
  struct Case {
    std::string stored;
    std::string says;
  };
  const Case cases[] = {
      {R"({"id": 1, "tags": []})", "key 'name' not found"},
      {R"({"id": "one", "name": "Di", "tags": []})", "type must be number"},
      {R"([1, 2, 3])", "JSON does not have the expected shape"},
  };
  int calls = 0;
  for (const Case& c : cases) {
    ASSERT_TRUE(client().set("shape", c.stored).ok());
    auto r = get_or_load_as<app::User>(client(), "shape", 60s, [&] {
      ++calls;
      return app::User{};
    });
    ASSERT_FALSE(r.ok()) << c.stored;
    EXPECT_EQ(r.error().code, Errc::corrupt_value) << c.stored;
    EXPECT_THAT(r.error().message, ::testing::HasSubstr("'shape'"));
    EXPECT_THAT(r.error().message, ::testing::HasSubstr(c.says)) << r.error().message;
  }
  EXPECT_EQ(calls, 0);

  // A from_json that validates and throws its own exception: the same corrupt_value.
  ASSERT_TRUE(client().set("age", R"({"years": -3})").ok());
  auto age = get_as<app::Age>(client(), "age");
  ASSERT_FALSE(age.ok());
  EXPECT_EQ(age.error().code, Errc::corrupt_value);
  EXPECT_THAT(age.error().message, ::testing::HasSubstr("negative age"));
  ASSERT_TRUE(client().set("age", R"({"years": 30})").ok());
  EXPECT_EQ(get_as<app::Age>(client(), "age")->value().years, 30);
}

TEST_F(Typed, JsonValuesThemselvesHaveACodec) {
  const nlohmann::json doc = {{"fields", {{"Name", "Eve"}, {"Score", 4.5}}}, {"ok", true}};
  ASSERT_TRUE(set_as(client(), "doc", doc).ok());
  EXPECT_EQ(get_as<nlohmann::json>(client(), "doc")->value(), doc);
  nlohmann::ordered_json ordered;
  ordered["z"] = 1;
  ordered["a"] = 2;
  ASSERT_TRUE(set_as(client(), "ordered", ordered).ok());
  EXPECT_EQ(client().get("ordered")->value_or(""), R"({"z":1,"a":2})");
  EXPECT_EQ(get_as<nlohmann::ordered_json>(client(), "ordered")->value(), ordered);
}

// nlohmann refuses to dump a string that is not UTF-8: an error, nothing stored, nothing thrown.
TEST_F(Typed, JsonThatCannotBeEncodedIsInvalidArgumentAndNothingIsStored) {
  const app::User bad{10, "\xff\xfe", {}};
  auto set = set_as(client(), "user:10", bad, 60s);
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().code, Errc::invalid_argument);
  EXPECT_THAT(set.error().message, ::testing::HasSubstr("'user:10'"));
  EXPECT_THAT(set.error().message, ::testing::HasSubstr("UTF-8"));
  int calls = 0;
  auto fetch = [&] {
    ++calls;
    return bad;
  };
  auto r = get_or_load_as<app::User>(client(), "user:10", 60s, fetch);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_THAT(r.error().message, ::testing::HasSubstr("UTF-8"));
  EXPECT_FALSE(client().get("user:10")->has_value());
  ASSERT_FALSE(get_or_load_as<app::User>(client(), "user:10", 60s, fetch).ok());
  EXPECT_EQ(calls, 2) << "an unencodable value is an error, not cached";
}

#endif  // RCACHE_TEST_JSON

}  // namespace
}  // namespace rcache::test
