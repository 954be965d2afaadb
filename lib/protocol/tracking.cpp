// The near cache's tracking commands and invalidation messages.
#include "protocol/tracking.hpp"

#include "protocol/replies.hpp"

namespace rcache::detail {

std::string client_id_command() {
  std::string wire;
  RespWriter w(wire);
  w.begin(2);
  w.arg("CLIENT");
  w.arg("ID");
  return wire;
}

std::string tracking_commands(std::int64_t redirect_id, std::string_view prefix) {
  std::string wire;
  RespWriter w(wire);
  w.begin(prefix.empty() ? 7 : 9);
  w.arg("CLIENT");
  w.arg("TRACKING");
  w.arg("on");
  w.arg("REDIRECT");
  w.arg(std::to_string(redirect_id));
  w.arg("BCAST");
  if (!prefix.empty()) {
    w.arg("PREFIX");
    w.arg(prefix);
  }
  w.arg("NOLOOP");
  w.begin(2);
  w.arg("SUBSCRIBE");
  w.arg(kInvalidateChannel);
  return wire;
}

Result<void> check_tracking(const redisReply& tracking, const redisReply& subscribe) {
  if (tracking.type == REDIS_REPLY_ERROR) {
    Error e = error_from_reply(tracking, "CLIENT TRACKING");
    e.message = "near cache: Redis refused CLIENT TRACKING (" + e.message +
                "); Redis >= 6 and the permission to use it are needed";
    return e;
  }
  if (subscribe.type == REDIS_REPLY_ERROR) {
    Error e = error_from_reply(subscribe, "SUBSCRIBE");
    e.message = "near cache: Redis refused SUBSCRIBE " + std::string(kInvalidateChannel) + " (" +
                e.message + ")";
    return e;
  }
  if (subscribe.type != REDIS_REPLY_ARRAY || subscribe.elements != 3 ||
      !is_text(subscribe.element[0]) || text(*subscribe.element[0]) != "subscribe") {
    return Error{Errc::protocol,
                 "near cache: unexpected answer to SUBSCRIBE " + std::string(kInvalidateChannel)};
  }
  return {};
}

const redisReply* message_on(const redisReply& m, std::string_view channel) {
  if (m.type != REDIS_REPLY_ARRAY || m.elements != 3) return nullptr;
  const redisReply* kind = m.element[0];
  const redisReply* on = m.element[1];
  if (!is_text(kind) || text(*kind) != "message" || !is_text(on) || text(*on) != channel) {
    return nullptr;
  }
  return m.element[2];
}

std::optional<Invalidation> parse_invalidation(const redisReply& m) {
  const redisReply* payload = message_on(m, kInvalidateChannel);
  if (payload == nullptr) return std::nullopt;
  Invalidation inv;
  if (payload->type == REDIS_REPLY_NIL) {
    inv.all = true;
    return inv;
  }
  // A payload of another shape names keys we cannot read: everything is dropped, the safe
  // reading of an invalidation we do not understand.
  if (payload->type != REDIS_REPLY_ARRAY) {
    inv.all = true;
    return inv;
  }
  inv.keys.reserve(payload->elements);
  for (std::size_t i = 0; i < payload->elements; ++i) {
    if (!is_text(payload->element[i])) {
      inv.all = true;
      inv.keys.clear();
      return inv;
    }
    inv.keys.emplace_back(text(*payload->element[i]));
  }
  return inv;
}

}  // namespace rcache::detail
