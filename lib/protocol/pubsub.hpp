// Pub/sub on the wire: the commands a Subscriber sends, PUBLISH, and the frames a subscribed
// connection receives (messages, confirmations), read from hiredis replies.
//
// One command per channel: a SUBSCRIBE of n channels answers n confirmations, but a refusal (an
// ACL without the channel) answers one error for the whole command, which would leave the
// pipeline waiting for n - 1 replies that never come. With one name per command every reply,
// error or not, matches its request.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/commands.hpp"
#include "protocol/resp.hpp"
#include "rcache/config.hpp"
#include "rcache/error.hpp"

namespace rcache::detail {

enum class PubSubVerb : std::uint8_t { subscribe, unsubscribe, psubscribe, punsubscribe };
// "SUBSCRIBE", ... (the command) and "subscribe", ... (the confirmation's first word).
std::string_view command_name(PubSubVerb v) noexcept;
std::string_view confirmation_word(PubSubVerb v) noexcept;

// VERB name: one command, one reply.
std::string pubsub_command(PubSubVerb verb, std::string_view name);
// PUBLISH channel message (no key prefix: channels are not keys). The message is checked
// against max_value_size.
Result<Wire> publish_command(const Config& cfg, std::string_view channel, std::string_view message);

// What arrives on a subscribed connection.
struct PushFrame {
  enum class Kind : std::uint8_t { message, pmessage, confirmation, pong };
  Kind kind = Kind::message;
  std::string_view channel;  // message, pmessage; the name confirmed for a confirmation
  std::string_view pattern;  // pmessage
  std::string_view payload;  // message, pmessage
  PubSubVerb verb = PubSubVerb::subscribe;  // confirmation
  std::int64_t count = 0;                   // confirmation: subscriptions left on the connection
};
// A message ("message", channel, payload), a pattern message ("pmessage", pattern, channel,
// payload), a confirmation ("subscribe" | "unsubscribe" | "psubscribe" | "punsubscribe", name or
// nil, count) or a pong ("pong", data / +PONG). Anything else is Errc::protocol naming what was
// wrong. The views point into `r`.
Result<PushFrame> parse_push(const redisReply& r);

// The reply to pubsub_command(verb, name): its confirmation, else the error (an error reply as
// error_from_reply() maps it, e.g. -NOPERM as Errc::server; another shape as Errc::protocol).
Result<void> check_confirmation(const redisReply& r, PubSubVerb verb, std::string_view name);

}  // namespace rcache::detail
