// rcache — typed values over the byte API.
//
// Specialize rcache::Codec<T> for your type:
//
//   template <> struct rcache::Codec<User> {
//     static std::string encode(const User& u);                  // bytes to store
//     static rcache::Result<User> decode(std::string_view bytes); // Errc::corrupt_value on junk
//   };
//
// then rcache::set_as(client, key, user, ttl), rcache::get_as<User>(client, key) and
// rcache::get_or_load_as<User>(client, key, options, loader). std::string and
// std::vector<std::uint8_t> work out of the box. The envelope (compression) applies underneath.
//
// Thread safety: as Client.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
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

template <class T>
Result<bool> set_as(Client& c, std::string_view key, const T& value, SetOptions options = {}) {
  return c.set(key, Codec<T>::encode(value), options);
}

template <class T>
Result<bool> set_as(Client& c, std::string_view key, const T& value,
                    std::chrono::milliseconds ttl) {
  return c.set(key, Codec<T>::encode(value), ttl);
}

template <class T>
Result<std::optional<T>> get_as(Client& c, std::string_view key) {
  auto r = c.get(key);
  if (!r) return std::move(r).error();
  if (!r->has_value()) return std::optional<T>{};
  auto v = Codec<T>::decode(**r);
  if (!v) {
    Error e = std::move(v).error();
    e.message = "decoding key '" + std::string(key.substr(0, 64)) + "': " + e.message;
    return e;
  }
  return std::optional<T>(std::move(*v));
}

// Typed get_or_load: the loader returns Result<std::optional<T>>.
template <class T, class F>
Result<std::optional<T>> get_or_load_as(Client& c, std::string_view key, const LoadOptions& options,
                                        F&& loader) {
  std::optional<T> loaded;  // keeps the loader's object, so it is not decoded again
  auto r = c.get_or_load(key, options, [&]() -> Result<std::optional<std::string>> {
    Result<std::optional<T>> v = loader();
    if (!v) return std::move(v).error();
    if (!v->has_value()) return std::optional<std::string>{};
    std::string bytes = Codec<T>::encode(**v);
    loaded = std::move(*v);
    return std::optional<std::string>(std::move(bytes));
  });
  if (!r) return std::move(r).error();
  if (!r->value) return std::optional<T>{};
  if (loaded && (r->source == Loaded::Source::loader || r->source == Loaded::Source::refreshed)) {
    return loaded;
  }
  auto v = Codec<T>::decode(*r->value);
  if (!v) return std::move(v).error();
  return std::optional<T>(std::move(*v));
}

}  // namespace rcache
