// Sentinel queries and the parsing of their answers and +switch-master messages.
#include "protocol/sentinel.hpp"

#include <vector>

#include "protocol/replies.hpp"
#include "protocol/tracking.hpp"

namespace rcache::detail {

std::string sentinel_master_query(std::string_view master) {
  std::string wire;
  RespWriter w(wire);
  w.begin(3);
  w.arg("SENTINEL");
  w.arg("GET-MASTER-ADDR-BY-NAME");
  w.arg(master);
  return wire;
}

std::string sentinel_subscribe() {
  std::string wire;
  RespWriter w(wire);
  w.begin(2);
  w.arg("SUBSCRIBE");
  w.arg(kSwitchMasterChannel);
  return wire;
}

Result<HostPort> parse_master_addr(const redisReply& reply, std::string_view master,
                                   std::string_view sentinel) {
  const std::string who = "sentinel " + std::string(sentinel);
  if (reply.type == REDIS_REPLY_NIL) {
    return Error{Errc::invalid_argument,
                 who + " monitors no master named " + quote(master) + " (check sentinel_master)"};
  }
  if (reply.type == REDIS_REPLY_ERROR) {
    Error e = error_from_reply(reply, "SENTINEL GET-MASTER-ADDR-BY-NAME");
    e.message = who + ": " + e.message;
    if (e.code != Errc::auth) e.code = Errc::connection;
    return e;
  }
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 2 || !is_text(reply.element[0]) ||
      !is_text(reply.element[1])) {
    return Error{Errc::protocol, who + ": unexpected answer to SENTINEL GET-MASTER-ADDR-BY-NAME"};
  }
  const std::string host(text(*reply.element[0]));
  int port = 0;
  if (host.empty() || has_control_or_space(host) || !parse_int(text(*reply.element[1]), port) ||
      port < 1 || port > 65535) {
    return Error{Errc::protocol, who + ": bad master address for " + quote(master) + ": " +
                                     quote(host) + " " + quote(text(*reply.element[1]))};
  }
  return HostPort{host, port};
}

std::optional<HostPort> parse_switch_master(const redisReply& message, std::string_view master) {
  const redisReply* payload = message_on(message, kSwitchMasterChannel);
  if (!is_text(payload)) return std::nullopt;
  std::vector<std::string_view> words;
  std::string_view rest = text(*payload);
  while (!rest.empty() && words.size() < 6) {
    const auto space = rest.find(' ');
    if (space != 0) words.push_back(rest.substr(0, space));
    rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
  }
  if (words.size() != 5 || words[0] != master) return std::nullopt;
  int port = 0;
  if (words[3].empty() || has_control_or_space(words[3]) || !parse_int(words[4], port) ||
      port < 1 || port > 65535) {
    return std::nullopt;
  }
  return HostPort{std::string(words[3]), port};
}

}  // namespace rcache::detail
