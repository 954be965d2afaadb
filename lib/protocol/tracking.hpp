// What the near cache's invalidation connection says to Redis, and how it reads the messages.
//
// Mode: BCAST (optionally with PREFIX = the client's key_prefix) with REDIRECT to the
// invalidation connection itself, then SUBSCRIBE __redis__:invalidate on it. Tracking lives on
// that one connection only, so a data connection that drops loses nothing (in default mode,
// invalidations for keys read through a connection stop when it drops: redis/redis #11767), and
// the data connections need no tracking state. The cost: every write under the prefix is
// announced, read by this client or not. See docs/ARCHITECTURE.md (near cache).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/resp.hpp"
#include "rcache/error.hpp"

namespace rcache::detail {

inline constexpr std::string_view kInvalidateChannel = "__redis__:invalidate";

// CLIENT ID (its integer reply is the REDIRECT target).
std::string client_id_command();
// CLIENT TRACKING on REDIRECT <id> BCAST [PREFIX <prefix>] NOLOOP, then SUBSCRIBE
// __redis__:invalidate: two replies (+OK, the subscribe confirmation).
std::string tracking_commands(std::int64_t redirect_id, std::string_view prefix);
// Checks the two replies of tracking_commands(): an Error names what Redis refused (an old
// Redis without CLIENT TRACKING, an ACL without the permission).
Result<void> check_tracking(const redisReply& tracking, const redisReply& subscribe);

// The payload of a pub/sub message on `channel` ("message", channel, payload), else nullptr.
const redisReply* message_on(const redisReply& m, std::string_view channel);

// An invalidation message: the keys it names, or `all` for FLUSHALL/FLUSHDB (a nil payload)
// and for a payload that cannot be read as keys (dropping everything is the safe reading).
struct Invalidation {
  bool all = false;
  std::vector<std::string> keys;
};
// nullopt for anything else on the connection (a PING reply, another channel, malformed data).
std::optional<Invalidation> parse_invalidation(const redisReply& m);

}  // namespace rcache::detail
