// RESP encoding of commands, and the one place where hiredis replies and reader errors are
// turned into rcache values and errors.
//
// Thread safety: pure functions; a RespWriter is used by one thread at a time.
#pragma once

#include <hiredis/hiredis.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "rcache/error.hpp"
#include "rcache/reply.hpp"

namespace rcache::detail {

struct ReplyDeleter {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

// Appends one command as a RESP array of bulk strings:
//   RespWriter w(out); w.begin(3); w.arg("SET"); w.arg(prefix, key); w.arg(value);
// The caller announces the argument count up front and must write exactly that many.
class RespWriter {
 public:
  explicit RespWriter(std::string& out) : out_(out) {}
  void begin(std::size_t argc);
  void arg(std::string_view a);
  // One argument made of two pieces (key prefix + key) without building a temporary string.
  void arg(std::string_view first, std::string_view second);
  void arg(std::int64_t v);

 private:
  void header(char type, std::size_t n);
  std::string& out_;
};

// Error for a reader that failed to parse the stream.
Error error_from_reader(const redisReader& reader);

// Deep conversion to the public Reply.
Reply to_reply(const redisReply& reply);

// "string" / "array" / ... for messages about unexpected reply types.
std::string_view reply_type_name(int type) noexcept;

// The memory one reply under construction may take, charged as the reader builds it: every
// object costs kObjectCost, a string its length, an array 8 bytes per element (charged before the
// element vector is allocated). Over `limit` the reader stops with an error and `exceeded` is set.
// The owner resets `used` when a whole reply has come out.
struct ReplyBudget {
  static constexpr std::size_t kObjectCost = 64;  // a redisReply and its allocator overhead
  std::size_t limit = 0;
  std::size_t used = 0;
  bool exceeded = false;
};

// A reader whose objects are charged to `budget` (which must outlive it); a garbage
// "*9999999999" or an endless array fails as a reader error instead of allocating.
redisReader* create_reader(ReplyBudget* budget = nullptr);

}  // namespace rcache::detail
