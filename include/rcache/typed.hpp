// rcache — typed values over the byte API.
//
// Specialize rcache::Codec<T> for your type:
//
//   template <> struct rcache::Codec<User> {
//     static std::string encode(const User& u);                  // bytes to store
//     static rcache::Result<User> decode(std::string_view bytes); // Errc::corrupt_value on junk
//   };
//
// encode may also return rcache::Result<std::string> when some values cannot be encoded (the
// error is returned and nothing is stored). Types with nlohmann::json to_json/from_json get
// theirs in one line from <rcache/json_codec.hpp>:
//   template <> struct rcache::Codec<User> : rcache::JsonCodec<User> {};
//
// then rcache::set_as(client, key, user, ttl), rcache::get_as<User>(client, key) and
// rcache::get_or_load_as<User>(client, key, options, loader). std::string and
// std::vector<std::uint8_t> work out of the box. The envelope (compression) applies underneath.
//
// Nothing here throws: an exception thrown by a codec is returned as an Error (corrupt_value
// from decode, invalid_argument from encode), one thrown by a loader as get_or_load() does.
//
// Thread safety: as Client.
#pragma once

#include <concepts>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "rcache/client.hpp"

namespace rcache {

template <class T>
struct Codec;  // no default: using an unsupported type is a compile error

template <>
struct Codec<std::string> {
  static std::string encode(const std::string& v) { return v; }
  static Result<std::string> decode(std::string_view b) { return std::string(b); }
};

template <>
struct Codec<std::vector<std::uint8_t>> {
  static std::string encode(const std::vector<std::uint8_t>& v) {
    return std::string(v.begin(), v.end());
  }
  static Result<std::vector<std::uint8_t>> decode(std::string_view b) {
    return std::vector<std::uint8_t>(b.begin(), b.end());
  }
};

// What get_or_load_as() returns: Loaded (rcache/get_or_load.hpp) with the value decoded.
template <class T>
struct LoadedAs {
  std::optional<T> value;  // std::nullopt: "not found" (from the loader or cached)
  Loaded::Source source = Loaded::Source::cache;  // where it came from; to_string(source) names it
  bool bypassed = false;  // Redis was unavailable: the loader's result was returned uncached
};

namespace detail {

// Codec<T> is specialised: encode returns std::string or Result<std::string>, decode Result<T>.
template <class T>
concept HasCodec = requires(const T& v, std::string_view bytes) {
  { Codec<T>::decode(bytes) } -> std::same_as<Result<T>>;
  requires std::same_as<decltype(Codec<T>::encode(v)), std::string> ||
      std::same_as<decltype(Codec<T>::encode(v)), Result<std::string>>;
};

template <class T>
void require_codec() {
  static_assert(HasCodec<T>,
                "rcache: no rcache::Codec<T> for this type. Specialise it (rcache/typed.hpp), or "
                "for a type with nlohmann to_json/from_json include <rcache/json_codec.hpp> and "
                "write: template <> struct rcache::Codec<T> : rcache::JsonCodec<T> {};");
}

inline std::string key_context(std::string_view what, std::string_view key) {
  return std::string(what) + " key '" + std::string(key.substr(0, 64)) + "': ";
}

template <class T>
Result<std::string> encode_value(const T& value) {
  try {
    return Codec<T>::encode(value);
  } catch (const std::exception& e) {
    return Error{Errc::invalid_argument, std::string("the codec threw: ") + e.what()};
  } catch (...) {
    return Error{Errc::invalid_argument, "the codec threw"};
  }
}

// The codec's encode for set_as, with the key named in an error's message.
template <class T>
Result<std::string> encode_for_set(std::string_view key, const T& value) {
  require_codec<T>();
  auto bytes = encode_value(value);
  if (!bytes) {
    Error e = std::move(bytes).error();
    e.message = key_context("set_as: encoding the value of", key) + e.message;
    return e;
  }
  return bytes;
}

// The codec's decode, with the key named in an error's message.
template <class T>
Result<T> decode_value(std::string_view key, std::string_view bytes) {
  Result<T> v = [&]() -> Result<T> {
    try {
      return Codec<T>::decode(bytes);
    } catch (const std::exception& e) {
      return Error{Errc::corrupt_value, std::string("the codec threw: ") + e.what()};
    } catch (...) {
      return Error{Errc::corrupt_value, "the codec threw"};
    }
  }();
  if (!v) {
    Error e = std::move(v).error();
    e.message = key_context("decoding", key) + e.message;
    return e;
  }
  return v;
}

template <class T>
struct IsResult : std::false_type {};
template <class U>
struct IsResult<Result<U>> : std::true_type {};

// A typed loader's answer (T, std::optional<T>, Result<T> or Result<std::optional<T>>) as
// Result<std::optional<T>>.
template <class T, class R>
Result<std::optional<T>> loader_answer(R&& r) {
  using V = std::remove_cvref_t<R>;
  if constexpr (std::is_same_v<V, Result<std::optional<T>>> ||
                std::is_same_v<V, std::optional<T>>) {
    return std::forward<R>(r);
  } else if constexpr (std::is_same_v<V, Result<T>>) {
    if (!r) return std::forward<R>(r).error();
    return std::optional<T>(*std::forward<R>(r));
  } else {
    static_assert(!IsResult<V>::value && std::is_convertible_v<R, T>,
                  "rcache::get_or_load_as<T>: the loader must return T, std::optional<T>, "
                  "rcache::Result<T> or rcache::Result<std::optional<T>>");
    return std::optional<T>(std::forward<R>(r));
  }
}

}  // namespace detail

// Encodes with Codec<T> and stores; an encoding error is returned and nothing is sent.
template <class T>
Result<bool> set_as(Client& c, std::string_view key, const T& value, SetOptions options = {}) {
  auto bytes = detail::encode_for_set(key, value);
  if (!bytes) return std::move(bytes).error();
  return c.set(key, *bytes, options);
}

template <class T>
Result<bool> set_as(Client& c, std::string_view key, const T& value,
                    std::chrono::milliseconds ttl) {
  auto bytes = detail::encode_for_set(key, value);
  if (!bytes) return std::move(bytes).error();
  return c.set(key, *bytes, ttl);
}

// Reads and decodes with Codec<T>: std::nullopt on a miss; bytes the codec refuses are its error
// (Errc::corrupt_value) with the key named.
template <class T>
Result<std::optional<T>> get_as(Client& c, std::string_view key) {
  detail::require_codec<T>();
  auto r = c.get(key);
  if (!r) return std::move(r).error();
  if (!r->has_value()) return std::optional<T>{};
  auto v = detail::decode_value<T>(key, **r);
  if (!v) return std::move(v).error();
  return std::optional<T>(std::move(*v));
}

// Typed Client::get_or_load(): the same single-flight, TTL, negative cache, stale copy and bypass,
// with the value encoded and decoded by Codec<T>, and where it came from (LoadedAs::source,
// ::bypassed). The loader returns T, std::optional<T> (std::nullopt: "not found"), Result<T> or
// Result<std::optional<T>>; its errors are returned, never cached. A value it returns that the
// codec cannot encode is such an error (nothing is stored). A cached value the codec cannot decode
// is returned as Errc::corrupt_value naming the key, and, as get_or_load() does with a corrupt
// envelope, the loader is not called and the stored value is not overwritten: a corrupt value
// means a writer disagrees about the format, which a reload would hide. Delete the key to reload.
// The caller that ran the loader gets the loader's object itself (not decoded again).
template <class T, class F>
Result<LoadedAs<T>> get_or_load_as(Client& c, std::string_view key, const LoadOptions& options,
                                   F&& loader) {
  detail::require_codec<T>();
  std::optional<T> loaded;  // keeps the loader's object, so it is not decoded again
  auto r = c.get_or_load(key, options, [&]() -> Result<std::optional<std::string>> {
    Result<std::optional<T>> v = detail::loader_answer<T>(std::invoke(loader));
    if (!v) return std::move(v).error();
    if (!v->has_value()) return std::optional<std::string>{};
    Result<std::string> bytes = detail::encode_value(**v);
    if (!bytes) {
      Error e = std::move(bytes).error();
      e.message =
          detail::key_context("get_or_load_as: encoding the loaded value of", key) + e.message;
      return e;
    }
    loaded = std::move(*v);
    return std::optional<std::string>(std::move(*bytes));
  });
  if (!r) return std::move(r).error();
  LoadedAs<T> out;
  out.source = r->source;
  out.bypassed = r->bypassed;
  if (!r->value) return out;
  if (loaded && (r->source == Loaded::Source::loader || r->source == Loaded::Source::refreshed)) {
    out.value = std::move(loaded);
    return out;
  }
  auto v = detail::decode_value<T>(key, *r->value);
  if (!v) return std::move(v).error();
  out.value = std::move(*v);
  return out;
}

template <class T, class F>
Result<LoadedAs<T>> get_or_load_as(Client& c, std::string_view key, std::chrono::milliseconds ttl,
                                   F&& loader) {
  LoadOptions o;
  o.ttl = ttl;
  return get_or_load_as<T>(c, key, o, std::forward<F>(loader));
}

}  // namespace rcache
