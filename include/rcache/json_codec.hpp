// rcache — JSON values through nlohmann::json (optional; header-only).
//
// Installed when nlohmann_json (Debian: nlohmann-json3-dev, 3.11 or later) was found when rcache
// was configured; the library itself does not use it. Including this header gives
// rcache::Codec<nlohmann::json> and Codec<nlohmann::ordered_json>, and rcache::JsonCodec<T> for
// any T with nlohmann to_json/from_json (NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE or hand-written).
// One line makes such a type cacheable:
//
//   struct User { std::string name; int age = 0; };
//   NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(User, name, age)
//   template <> struct rcache::Codec<User> : rcache::JsonCodec<User> {};
//
//   rcache::set_as(client, "user:7", user, std::chrono::minutes(5));
//   auto u = rcache::get_or_load_as<User>(client, "user:7", std::chrono::minutes(5),
//                                         [] { return fetch_user(7); });  // u->source, u->value
//
// The codec is opt-in per type, not a blanket Codec<T> for every JSON-convertible T: the stored
// format is a contract with every other reader of the key, so each type chooses it once, in one
// place, and a type's own Codec (or Codec<std::string>, stored raw) is never silently replaced by
// JSON because this header happens to be included.
//
// Stored form: the compact UTF-8 text of json(value).dump() (the envelope compresses it from
// 2 KiB on). Nothing throws:
//   decode: bytes that are not JSON, and JSON that from_json refuses (missing key, wrong type, or
//           any exception thrown by your from_json), are Errc::corrupt_value with nlohmann's
//           message ("... key 'age' not found"); get_as/get_or_load_as add the key.
//   encode: a value nlohmann cannot serialise (a std::string holding invalid UTF-8, or an
//           exception thrown by your to_json) is Errc::invalid_argument; nothing is stored.
// Requires exceptions to be enabled (nlohmann reports errors by throwing; JSON_NOEXCEPTION would
// turn every such error into abort()).
//
// Thread safety: stateless.
#pragma once

#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>

#include "rcache/typed.hpp"

namespace rcache {

// Codec<T> for a T that nlohmann can convert (to_json/from_json, or a JSON type itself). Json is
// the nlohmann::basic_json flavour used in between (nlohmann::json, nlohmann::ordered_json, ...).
template <class T, class Json = nlohmann::json>
struct JsonCodec {
  static Result<std::string> encode(const T& value) {
    static_assert(std::is_constructible_v<Json, const T&>,
                  "rcache::JsonCodec<T>: nlohmann cannot convert T to JSON; give T a to_json "
                  "(or NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE) in T's namespace");
    try {
      if constexpr (std::is_same_v<T, Json>) {
        return value.dump();
      } else {
        return Json(value).dump();
      }
    } catch (const std::exception& e) {
      return Error{Errc::invalid_argument, std::string("cannot encode as JSON: ") + e.what()};
    } catch (...) {
      return Error{Errc::invalid_argument, "cannot encode as JSON: to_json threw"};
    }
  }

  static Result<T> decode(std::string_view bytes) {
    static_assert(
        requires(const Json& j) { j.template get<T>(); },
        "rcache::JsonCodec<T>: nlohmann cannot convert JSON to T; give T a from_json "
        "(or NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE) in T's namespace");
    Json j;
    try {
      j = Json::parse(bytes);
    } catch (const std::exception& e) {
      return Error{Errc::corrupt_value, std::string("not valid JSON: ") + e.what()};
    }
    if constexpr (std::is_same_v<T, Json>) {
      return j;
    } else {
      try {
        return j.template get<T>();
      } catch (const std::exception& e) {
        return Error{Errc::corrupt_value,
                     std::string("JSON does not have the expected shape: ") + e.what()};
      } catch (...) {
        return Error{Errc::corrupt_value, "JSON does not have the expected shape: from_json threw"};
      }
    }
  }
};

template <>
struct Codec<nlohmann::json> : JsonCodec<nlohmann::json> {};

template <>
struct Codec<nlohmann::ordered_json> : JsonCodec<nlohmann::ordered_json, nlohmann::ordered_json> {};

}  // namespace rcache
