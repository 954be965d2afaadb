// rcache — errors as values.
//
// Every fallible call returns Result<T>: either a T or an Error{code, message}. No rcache call
// throws. A cache miss is not an error: get() returns an empty optional.
//
// Thread safety: Error and Result are plain values; distinct objects may be used from any thread.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "rcache/export.hpp"

namespace rcache {

// What went wrong, coarse enough to branch on. Values are stable (they appear in logs/metrics).
enum class Errc {
  timeout = 1,     // no reply within the command timeout (the command may have run)
  connection = 2,  // could not connect, or the connection dropped with the command in flight
  protocol = 3,    // the server sent bytes that are not valid RESP, or an unexpected reply
  server = 4,      // the server answered with an error reply (-ERR, -WRONGTYPE...): see message
  auth = 5,        // AUTH was refused (wrong password, unknown ACL user) or is required
  invalid_argument = 6,  // bad configuration or call arguments; message names the field
  too_large = 7,         // a key or value over the configured limit (nothing was sent), or a
                         // reply the process had no memory to hold
  corrupt_value = 8,     // a stored value could not be decoded
  disabled = 9,          // the client is in disabled (degraded) mode
  circuit_open = 10,     // the circuit breaker refused the call without touching a socket
  rejected = 11,         // too many calls in flight (bulkhead)
  shutdown = 12,         // the Client is being destroyed; the call was not (or not fully) done
  tls = 13,  // the TLS handshake failed: certificate not trusted, expired or for another name,
             // client certificate required, no common version; the message names the problem
};

// Short stable name: "timeout", "connection", ... ("unknown" for out-of-range values).
RCACHE_API std::string_view to_string(Errc code) noexcept;

RCACHE_API const std::error_category& error_category() noexcept;
RCACHE_API std::error_code make_error_code(Errc code) noexcept;

struct RCACHE_API Error {
  Errc code{};
  std::string message;  // human-readable, never contains a password

  // "<code>: <message>"
  std::string to_string() const;
};

// Tag for building an error Result from an Error: `return rcache::fail(Errc::timeout, "...")`.
inline Error fail(Errc code, std::string message) {
  return Error{code, std::move(message)};
}

// Aborts with the error's message: value() on an error Result is a programming error.
[[noreturn]] RCACHE_API void abort_on_bad_result_access(const Error& e) noexcept;

// Either a value or an Error. Modelled on std::expected (C++23), without exceptions:
// value()/operator* on an error Result is a programming error and aborts with the message.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & {
    check();
    return std::get<0>(v_);
  }
  const T& value() const& {
    check();
    return std::get<0>(v_);
  }
  T&& value() && {
    check();
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  template <class U>
  T value_or(U&& fallback) const& {
    return ok() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(fallback));
  }

  // Only valid when !ok().
  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  void check() const {
    if (!ok()) abort_on_bad_result_access(std::get<1>(v_));
  }
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  void value() const {
    if (!ok_) abort_on_bad_result_access(error_);
  }
  const Error& error() const& { return error_; }
  Error&& error() && { return std::move(error_); }

 private:
  Error error_{};
  bool ok_ = true;
};

}  // namespace rcache

template <>
struct std::is_error_code_enum<rcache::Errc> : std::true_type {};
