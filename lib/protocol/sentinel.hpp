// What rcache says to a sentinel and how it reads the answers: the master-address query, the
// +switch-master subscription and its messages.
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/config_text.hpp"
#include "protocol/resp.hpp"
#include "rcache/error.hpp"

namespace rcache::detail {

// SENTINEL GET-MASTER-ADDR-BY-NAME <master>
std::string sentinel_master_query(std::string_view master);
// SUBSCRIBE +switch-master
std::string sentinel_subscribe();
inline constexpr std::string_view kSwitchMasterChannel = "+switch-master";

// The answer to the query: the master's address; a nil (the sentinel does not monitor that name)
// or an error reply is an Error naming the sentinel and the master. Errc::invalid_argument for
// an unknown name (a configuration error), Errc::connection otherwise.
Result<HostPort> parse_master_addr(const redisReply& reply, std::string_view master,
                                   std::string_view sentinel);

// A pushed message on the subscriber connection: the new address when it is a +switch-master of
// `master` ("<name> <old-ip> <old-port> <new-ip> <new-port>"), else nullopt (the subscribe
// confirmation, another master's switch, anything malformed).
std::optional<HostPort> parse_switch_master(const redisReply& message, std::string_view master);

}  // namespace rcache::detail
