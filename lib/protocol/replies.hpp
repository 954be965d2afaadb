// Reply parsers of the string commands, and the one place that reads Redis error words.
//
// Each parser takes the reply to one command and returns a typed Result: a top-level error reply
// becomes Errc::server (or Errc::auth), any other unexpected type Errc::protocol naming the
// command. Values come back as stored (the envelope is decoded above, in the client layer).
//
// Thread safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/resp.hpp"
#include "rcache/error.hpp"
#include "rcache/reply.hpp"
#include "rcache/types.hpp"

namespace rcache::detail {

// A string or status reply (a word of a pub/sub message, a sentinel's answer); its bytes.
inline bool is_text(const redisReply* r) noexcept {
  return r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}
inline std::string_view text(const redisReply& r) noexcept {
  return {r.str != nullptr ? r.str : "", r.len};
}

// What an error reply's first word means for the resilience layer.
enum class ErrorWord {
  none,       // not an error reply
  transient,  // LOADING, TRYAGAIN, MASTERDOWN, READONLY, BUSY, CLUSTERDOWN: worth a retry
  auth,       // NOAUTH, WRONGPASS
  other,      // ERR, WRONGTYPE, ...: an answer, not a failure
};
ErrorWord classify_error_word(const redisReply& reply) noexcept;
// -READONLY: the node is a replica now (a demoted master).
bool is_readonly(const redisReply& reply) noexcept;
// A pub/sub message ("message", channel, payload / "pmessage", pattern, channel, payload): what
// a subscribed connection is sent unasked; no command's reply has this shape.
bool is_pubsub_message(const redisReply& reply) noexcept;

// Error for a top-level error reply, mapped by its first word (NOAUTH/WRONGPASS, and ERR/NOPERM
// in answer to AUTH -> auth, the rest -> server). `context` prefixes the message, e.g. "AUTH".
Error error_from_reply(const redisReply& reply, std::string_view context = {});

// The reply is an error: that error; otherwise nullopt.
std::optional<Error> reply_error(const char* cmd, const redisReply& reply);
Error unexpected_reply(const char* cmd, const redisReply& reply);

using OptString = std::optional<std::string>;
using RawValues = std::vector<OptString>;

Result<OptString> parse_string_or_nil(const char* cmd, const redisReply& r);  // GET, GETEX
Result<std::int64_t> parse_integer(const char* cmd, const redisReply& r);
Result<bool> parse_flag(const char* cmd, const redisReply& r);  // integer != 0
Result<bool> parse_set(const redisReply& r);  // +OK true, nil false (NX/XX); else protocol
Result<Ttl> parse_pttl(const redisReply& r);
Result<void> parse_status(const char* cmd, const redisReply& r);  // PING, +OK
// MGET of `keys` keys: exactly that many elements, each a string or nil.
Result<RawValues> parse_mget(const redisReply& r, std::size_t keys, const char* cmd = "MGET");
// MSET -> +OK; MULTI, SET... -> +OK/+QUEUED... (`earlier`), then EXEC's array of `pairs` +OK
// (or an error).
Result<void> parse_mset(const std::vector<ReplyPtr>& earlier, const redisReply& last,
                        std::size_t pairs);

// GET followed (optionally) by PTTL in one request: the stored value and, when asked, the PTTL.
struct RawRead {
  OptString raw;
  std::int64_t pttl_ms = -3;  // -3: not asked
};
Result<RawRead> parse_get_with_pttl(const std::vector<ReplyPtr>& earlier, const redisReply& last);
// The replies of mget_with_pttl_command() for `keys` keys: MGET's array, then a PTTL each.
Result<std::vector<RawRead>> parse_mget_with_pttl(const std::vector<ReplyPtr>& earlier,
                                                  const redisReply& last, std::size_t keys);

// HGETALL: field, value, field, value ... as pairs (stored values).
Result<std::vector<std::pair<std::string, std::string>>> parse_pairs(const char* cmd,
                                                                     const redisReply& r);
// -NOSCRIPT: EVALSHA of a script the server does not know.
bool is_noscript(const redisReply& r) noexcept;

// SCAN: the next cursor and the keys of this batch.
struct ScanPage {
  std::string cursor;
  std::vector<std::string> keys;
};
Result<ScanPage> parse_scan(const redisReply& r);

}  // namespace rcache::detail
