// Reply parsers of the string commands and the classification of Redis error words.
#include "protocol/replies.hpp"

namespace rcache::detail {

namespace {
bool starts_with_word(const redisReply& r, std::string_view word) {
  return r.str != nullptr && r.len >= word.size() && std::string_view(r.str, word.size()) == word &&
         (r.len == word.size() || r.str[word.size()] == ' ');
}
}  // namespace

std::string_view first_word(const redisReply& r) noexcept {
  const std::string_view text(r.str != nullptr ? r.str : "", r.len);
  return text.substr(0, text.find(' '));
}

ErrorWord classify_error_word(const redisReply& r) noexcept {
  if (r.type != REDIS_REPLY_ERROR) return ErrorWord::none;
  for (std::string_view w :
       {"LOADING", "TRYAGAIN", "MASTERDOWN", "READONLY", "BUSY", "CLUSTERDOWN"}) {
    if (starts_with_word(r, w)) return ErrorWord::transient;
  }
  if (starts_with_word(r, "NOAUTH") || starts_with_word(r, "WRONGPASS")) return ErrorWord::auth;
  return ErrorWord::other;
}

bool is_readonly(const redisReply& r) noexcept {
  return r.type == REDIS_REPLY_ERROR && starts_with_word(r, "READONLY");
}

bool is_pubsub_message(const redisReply& r) noexcept {
  if (r.type != REDIS_REPLY_ARRAY || r.elements < 3 || r.elements > 4) return false;
  const redisReply* kind = r.element[0];
  if (kind == nullptr || kind->type != REDIS_REPLY_STRING) return false;
  const std::string_view word(kind->str, kind->len);
  return (word == "message" && r.elements == 3) || (word == "pmessage" && r.elements == 4);
}

Error error_from_reply(const redisReply& reply, std::string_view context) {
  const std::string_view text(reply.str != nullptr ? reply.str : "", reply.len);
  std::string message;
  if (!context.empty()) {
    message.append(context);
    message += ": ";
  }
  message.append(text);
  const std::string_view word = first_word(reply);
  if (classify_error_word(reply) == ErrorWord::auth ||
      (context == "AUTH" && (word == "ERR" || word == "NOPERM"))) {
    return Error{Errc::auth, std::move(message)};
  }
  return Error{Errc::server, std::move(message)};
}

std::optional<Error> reply_error(const char* cmd, const redisReply& r) {
  if (r.type == REDIS_REPLY_ERROR) return error_from_reply(r, cmd);
  return std::nullopt;
}

Error unexpected_reply(const char* cmd, const redisReply& r) {
  return Error{Errc::protocol,
               "unexpected " + std::string(reply_type_name(r.type)) + " reply to " + cmd};
}

Result<OptString> parse_string_or_nil(const char* cmd, const redisReply& r) {
  if (auto e = reply_error(cmd, r)) return std::move(*e);
  if (r.type == REDIS_REPLY_NIL) return OptString{};
  if (r.type != REDIS_REPLY_STRING) return unexpected_reply(cmd, r);
  return OptString{std::string(r.str, r.len)};
}

Result<std::int64_t> parse_integer(const char* cmd, const redisReply& r) {
  if (auto e = reply_error(cmd, r)) return std::move(*e);
  if (r.type == REDIS_REPLY_INTEGER) return static_cast<std::int64_t>(r.integer);
  return unexpected_reply(cmd, r);
}

Result<bool> parse_flag(const char* cmd, const redisReply& r) {
  if (auto e = reply_error(cmd, r)) return std::move(*e);
  if (r.type == REDIS_REPLY_INTEGER) return r.integer != 0;
  return unexpected_reply(cmd, r);
}

Result<bool> parse_set(const redisReply& r) {
  if (auto e = reply_error("SET", r)) return std::move(*e);
  // Only +OK means written: a +QUEUED (a MULTI left open on the connection) wrote nothing.
  if (r.type == REDIS_REPLY_STATUS && std::string_view(r.str, r.len) == "OK") return true;
  if (r.type == REDIS_REPLY_NIL) return false;  // NX/XX condition not met
  return unexpected_reply("SET", r);
}

Result<Ttl> parse_pttl(const redisReply& r) {
  if (auto e = reply_error("PTTL", r)) return std::move(*e);
  if (r.type != REDIS_REPLY_INTEGER) return unexpected_reply("PTTL", r);
  Ttl t;
  if (r.integer == -2) return t;
  t.exists = true;
  if (r.integer == -1) {
    t.persistent = true;
  } else {
    t.remaining = std::chrono::milliseconds(r.integer);
  }
  return t;
}

Result<void> parse_status(const char* cmd, const redisReply& r) {
  if (auto e = reply_error(cmd, r)) return std::move(*e);
  if (r.type != REDIS_REPLY_STATUS) return unexpected_reply(cmd, r);
  return {};
}

Result<RawValues> parse_mget(const redisReply& r, std::size_t keys, const char* cmd) {
  if (auto e = reply_error(cmd, r)) return std::move(*e);
  if (r.type != REDIS_REPLY_ARRAY) return unexpected_reply(cmd, r);
  if (r.elements != keys) {
    return Error{Errc::protocol, std::string(cmd) + ": " + std::to_string(keys) + " keys asked, " +
                                     std::to_string(r.elements) + " values returned"};
  }
  RawValues out;
  out.reserve(r.elements);
  for (std::size_t i = 0; i < r.elements; ++i) {
    const redisReply& e = *r.element[i];
    if (e.type == REDIS_REPLY_STRING) {
      out.emplace_back(std::string(e.str, e.len));
    } else if (e.type == REDIS_REPLY_NIL) {
      out.emplace_back(std::nullopt);
    } else {
      return unexpected_reply(cmd, e);
    }
  }
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> parse_pairs(const char* cmd,
                                                                     const redisReply& r) {
  if (auto e = reply_error(cmd, r)) return std::move(*e);
  if (r.type != REDIS_REPLY_ARRAY) return unexpected_reply(cmd, r);
  if (r.elements % 2 != 0) {
    return Error{Errc::protocol, std::string(cmd) + ": an odd number of elements (" +
                                     std::to_string(r.elements) + ")"};
  }
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(r.elements / 2);
  for (std::size_t i = 0; i < r.elements; i += 2) {
    const redisReply& f = *r.element[i];
    const redisReply& v = *r.element[i + 1];
    if (f.type != REDIS_REPLY_STRING) return unexpected_reply(cmd, f);
    if (v.type != REDIS_REPLY_STRING) return unexpected_reply(cmd, v);
    out.emplace_back(std::string(f.str, f.len), std::string(v.str, v.len));
  }
  return out;
}

bool is_noscript(const redisReply& r) noexcept {
  return r.type == REDIS_REPLY_ERROR && text(r).substr(0, 8) == "NOSCRIPT";
}

Result<void> parse_mset(const std::vector<ReplyPtr>& earlier, const redisReply& r,
                        std::size_t pairs) {
  for (const auto& e : earlier) {
    if (auto err = reply_error("MSET", *e)) return std::move(*err);
  }
  if (auto err = reply_error("MSET", r)) return std::move(*err);
  if (earlier.empty()) {  // plain MSET
    if (r.type == REDIS_REPLY_STATUS && std::string_view(r.str, r.len) == "OK") return {};
    return unexpected_reply("MSET", r);
  }
  if (r.type == REDIS_REPLY_ARRAY) {
    if (r.elements != pairs) {
      return Error{Errc::protocol, "MSET: EXEC returned " + std::to_string(r.elements) +
                                       " replies for " + std::to_string(pairs) + " SETs"};
    }
    for (std::size_t i = 0; i < r.elements; ++i) {
      if (auto err = reply_error("MSET", *r.element[i])) return std::move(*err);
      if (r.element[i]->type != REDIS_REPLY_STATUS) return unexpected_reply("MSET", *r.element[i]);
    }
    return {};
  }
  if (r.type == REDIS_REPLY_NIL) return Error{Errc::server, "MSET: transaction aborted"};
  return unexpected_reply("MSET", r);
}

Result<RawRead> parse_get_with_pttl(const std::vector<ReplyPtr>& earlier, const redisReply& last) {
  const redisReply& value = earlier.empty() ? last : *earlier[0];
  auto raw = parse_string_or_nil("GET", value);
  if (!raw) return std::move(raw).error();
  RawRead rr;
  rr.raw = std::move(*raw);
  if (!earlier.empty() && last.type == REDIS_REPLY_INTEGER) rr.pttl_ms = last.integer;
  return rr;
}

Result<std::vector<RawRead>> parse_mget_with_pttl(const std::vector<ReplyPtr>& earlier,
                                                  const redisReply& last, std::size_t keys) {
  if (earlier.size() != keys) {
    return Error{Errc::protocol, "MGET: " + std::to_string(keys + 1) + " replies expected, " +
                                     std::to_string(earlier.size() + 1) + " received"};
  }
  auto values = parse_mget(*earlier[0], keys);
  if (!values) return std::move(values).error();
  std::vector<RawRead> out(keys);
  for (std::size_t i = 0; i < keys; ++i) {
    out[i].raw = std::move((*values)[i]);
    const redisReply& t = i + 1 < keys ? *earlier[i + 1] : last;
    if (t.type == REDIS_REPLY_INTEGER) out[i].pttl_ms = t.integer;
  }
  return out;
}

Result<ScanPage> parse_scan(const redisReply& r) {
  if (auto e = reply_error("SCAN", r)) return std::move(*e);
  if (r.type != REDIS_REPLY_ARRAY || r.elements != 2 || r.element[0]->type != REDIS_REPLY_STRING ||
      r.element[1]->type != REDIS_REPLY_ARRAY) {
    return unexpected_reply("SCAN", r);
  }
  ScanPage page;
  page.cursor.assign(r.element[0]->str, r.element[0]->len);
  const redisReply& keys = *r.element[1];
  page.keys.reserve(keys.elements);
  for (std::size_t i = 0; i < keys.elements; ++i) {
    const redisReply& k = *keys.element[i];
    if (k.type != REDIS_REPLY_STRING) return unexpected_reply("SCAN", k);
    page.keys.emplace_back(k.str, k.len);
  }
  return page;
}

}  // namespace rcache::detail
