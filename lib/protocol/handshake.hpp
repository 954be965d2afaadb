// The connection handshake: AUTH, SELECT, CLIENT SETNAME pipelined in one write (a PING when
// there is nothing else, so that "ready" always means the server has answered on the connection),
// then ROLE when the master was found through Sentinel (a connection that reaches a replica, e.g.
// an old master back after a failover, must not serve a call), READONLY for a cluster connection
// that may read from a replica, and the check of its replies.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "protocol/resp.hpp"
#include "rcache/config.hpp"
#include "rcache/error.hpp"

namespace rcache::detail {

struct Handshake {
  std::string wire;
  std::vector<const char*> steps;  // one name per command in `wire`, in order
  std::string master_name;         // non-empty: ROLE is the last step and must say "master"
};

// `readonly`: end with READONLY (a cluster connection that may read from a replica).
Handshake build_handshake(const Config& cfg, bool readonly = false);

// Checks the replies (earlier..., last) against the steps; the first error reply becomes an
// Error naming its step and the endpoint (auth refusals are Errc::auth). A ROLE other than
// "master" is Errc::connection naming the role.
Result<void> check_handshake(const Handshake& hs, const std::vector<ReplyPtr>& earlier,
                             const redisReply* last, std::string_view endpoint);

}  // namespace rcache::detail
