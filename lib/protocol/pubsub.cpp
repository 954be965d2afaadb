// Pub/sub commands, PUBLISH, and the frames of a subscribed connection.
#include "protocol/pubsub.hpp"

#include "protocol/replies.hpp"

namespace rcache::detail {
namespace {

Error bad_frame(const std::string& what) {
  return Error{Errc::protocol, "pub/sub: unexpected frame on the subscriber connection: " + what};
}

bool verb_of(std::string_view word, PubSubVerb& out) noexcept {
  for (auto v : {PubSubVerb::subscribe, PubSubVerb::unsubscribe, PubSubVerb::psubscribe,
                 PubSubVerb::punsubscribe}) {
    if (word == confirmation_word(v)) {
      out = v;
      return true;
    }
  }
  return false;
}

// Bulk strings only: a payload or a channel name is never a status or a number.
bool is_bulk(const redisReply* r) noexcept {
  return r != nullptr && r->type == REDIS_REPLY_STRING;
}

}  // namespace

std::string_view command_name(PubSubVerb v) noexcept {
  switch (v) {
    case PubSubVerb::subscribe:
      return "SUBSCRIBE";
    case PubSubVerb::unsubscribe:
      return "UNSUBSCRIBE";
    case PubSubVerb::psubscribe:
      return "PSUBSCRIBE";
    case PubSubVerb::punsubscribe:
      return "PUNSUBSCRIBE";
  }
  return "SUBSCRIBE";
}

std::string_view confirmation_word(PubSubVerb v) noexcept {
  switch (v) {
    case PubSubVerb::subscribe:
      return "subscribe";
    case PubSubVerb::unsubscribe:
      return "unsubscribe";
    case PubSubVerb::psubscribe:
      return "psubscribe";
    case PubSubVerb::punsubscribe:
      return "punsubscribe";
  }
  return "subscribe";
}

std::string pubsub_command(PubSubVerb verb, std::string_view name) {
  std::string wire;
  RespWriter w(wire);
  w.begin(2);
  w.arg(command_name(verb));
  w.arg(name);
  return wire;
}

Result<Wire> publish_command(const Config& cfg, std::string_view channel,
                             std::string_view message) {
  if (auto r = check_value(cfg, "PUBLISH", channel, message); !r) return std::move(r).error();
  Wire out;
  RespWriter w(out.bytes);
  w.begin(3);
  w.arg("PUBLISH");
  w.arg(channel);
  w.arg(message);
  return out;
}

Result<PushFrame> parse_push(const redisReply& r) {
  PushFrame f;
  if (r.type == REDIS_REPLY_STATUS && text(r) == "PONG") {
    f.kind = PushFrame::Kind::pong;
    return f;
  }
  if (r.type != REDIS_REPLY_ARRAY) {
    return bad_frame(std::string("a ") + std::string(reply_type_name(r.type)) + " reply");
  }
  if (r.elements == 0 || !is_text(r.element[0])) return bad_frame("an array without a kind word");
  const std::string_view word = text(*r.element[0]);
  if (word == "message") {
    if (r.elements != 3 || !is_bulk(r.element[1]) || !is_bulk(r.element[2])) {
      return bad_frame("a malformed 'message'");
    }
    f.kind = PushFrame::Kind::message;
    f.channel = text(*r.element[1]);
    f.payload = text(*r.element[2]);
    return f;
  }
  if (word == "pmessage") {
    if (r.elements != 4 || !is_bulk(r.element[1]) || !is_bulk(r.element[2]) ||
        !is_bulk(r.element[3])) {
      return bad_frame("a malformed 'pmessage'");
    }
    f.kind = PushFrame::Kind::pmessage;
    f.pattern = text(*r.element[1]);
    f.channel = text(*r.element[2]);
    f.payload = text(*r.element[3]);
    return f;
  }
  if (word == "pong") {
    if (r.elements != 2) return bad_frame("a malformed 'pong'");
    f.kind = PushFrame::Kind::pong;
    return f;
  }
  if (verb_of(word, f.verb)) {
    // The name is nil in the answer to an UNSUBSCRIBE of nothing while nothing is subscribed.
    const redisReply* name = r.elements == 3 ? r.element[1] : nullptr;
    if (r.elements != 3 || (!is_bulk(name) && name->type != REDIS_REPLY_NIL) ||
        r.element[2] == nullptr || r.element[2]->type != REDIS_REPLY_INTEGER) {
      return bad_frame("a malformed '" + std::string(word) + "' confirmation");
    }
    f.kind = PushFrame::Kind::confirmation;
    if (is_bulk(name)) f.channel = text(*name);
    f.count = r.element[2]->integer;
    return f;
  }
  return bad_frame("an array starting with '" + std::string(word.substr(0, 64)) + "'");
}

Result<void> check_confirmation(const redisReply& r, PubSubVerb verb, std::string_view name) {
  const std::string cmd(command_name(verb));
  if (r.type == REDIS_REPLY_ERROR) {
    return error_from_reply(r, cmd + " " + std::string(name.substr(0, 128)));
  }
  auto f = parse_push(r);
  if (!f || f->kind != PushFrame::Kind::confirmation || f->verb != verb || f->channel != name) {
    return Error{Errc::protocol, cmd + ": unexpected answer (" +
                                     (f ? std::string("another frame") : f.error().message) + ")"};
  }
  return {};
}

}  // namespace rcache::detail
