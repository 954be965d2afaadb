// Command builders of the string commands: argument checks, key prefix, RESP bytes.
//
// Each builder checks its arguments against the Config (sizes, TTLs) and returns the encoded
// command, or an Error naming the command and the bad argument; nothing is sent for an error.
// Values arrive already encoded by the codec: `stored` is what goes on the wire, `value` the
// user's bytes (whose size is what the limits apply to).
//
// Thread safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rcache/config.hpp"
#include "rcache/error.hpp"
#include "rcache/types.hpp"

namespace rcache::detail {

// One or more RESP-encoded commands and the number of replies they produce.
struct Wire {
  std::string bytes;
  std::uint32_t replies = 1;
};

Result<void> check_key(const Config& cfg, const char* cmd, std::string_view key);
Result<void> check_value(const Config& cfg, const char* cmd, std::string_view key,
                         std::string_view value);
Result<void> check_ttl(const char* cmd, std::chrono::milliseconds ttl, bool zero_ok);

// Escapes glob metacharacters so that a key prefix matches only itself in SCAN MATCH.
std::string escape_glob(std::string_view s);

// CMD prefix+key (GET, DEL, UNLINK, EXISTS, PTTL).
Result<Wire> keyed_command(const Config& cfg, const char* cmd, std::string_view key);
// CMD prefix+k1 prefix+k2 ... (DEL, UNLINK, EXISTS, MGET); at least one key.
Result<Wire> multi_key_command(const Config& cfg, const char* cmd,
                               const std::vector<std::string>& keys);
// The checks of set_command / mset_command alone: run them before encoding a value, so that a
// refused argument costs no compression.
Result<void> check_set_args(const Config& cfg, std::string_view key, std::string_view value,
                            const SetOptions& o);
Result<void> check_mset_args(const Config& cfg,
                             const std::vector<std::pair<std::string, std::string>>& pairs,
                             std::chrono::milliseconds ttl);
// SET prefix+key stored [PX ttl] [NX|XX].
Result<Wire> set_command(const Config& cfg, std::string_view key, std::string_view value,
                         std::string_view stored, const SetOptions& o);
Result<Wire> pexpire_command(const Config& cfg, std::string_view key,
                             std::chrono::milliseconds ttl);
Result<Wire> incrby_command(const Config& cfg, std::string_view key, std::int64_t delta);
// MSET, or with ttl > 0 MULTI, SET ... PX ttl per pair, EXEC. stored[i] is pairs[i]'s value.
Result<Wire> mset_command(const Config& cfg,
                          const std::vector<std::pair<std::string, std::string>>& pairs,
                          const std::vector<std::string_view>& stored,
                          std::chrono::milliseconds ttl);
// argv as given (no prefix). Commands that would change a shared connection's state or reply
// framing (SELECT, MULTI/EXEC/DISCARD/WATCH, the SUBSCRIBE family, MONITOR, CLIENT REPLY, HELLO,
// AUTH, RESET, QUIT, ...) are refused with Errc::invalid_argument naming the alternative.
Result<Wire> raw_command(const Config& cfg, const std::vector<std::string>& argv);
Wire ping_command();
// GETEX prefix+key PX ttl.
Result<Wire> getex_command(const Config& cfg, std::string_view key, std::chrono::milliseconds ttl);
// GET prefix+key, and with `with_pttl` PTTL prefix+key in the same request (two replies).
Result<Wire> get_with_pttl_command(const Config& cfg, std::string_view key, bool with_pttl);
// MGET prefix+k1 ... prefix+kn, then PTTL prefix+ki for each key, in one request (n + 1 replies):
// the near cache's fill of several keys.
Result<Wire> mget_with_pttl_command(const Config& cfg, const std::vector<std::string>& keys);
// SCAN cursor MATCH match COUNT count [TYPE type].
Wire scan_command(std::string_view cursor, std::string_view match, std::size_t count,
                  std::string_view type = {});
// CMD prefix+key a1 a2 ...: the arguments as given (hash fields, stored values, numbers). The
// key is checked; each argument must be within max_value_size. `min_args` > 0: fewer is an
// argument error naming the command.
Result<Wire> key_args_command(const Config& cfg, const char* cmd, std::string_view key,
                              const std::vector<std::string_view>& args, std::size_t min_args = 0);
// EVALSHA sha numkeys prefix+k1 ... a1 ...: keys checked and prefixed, arguments as given.
Result<Wire> evalsha_command(const Config& cfg, std::string_view sha,
                             const std::vector<std::string>& keys,
                             const std::vector<std::string_view>& args);
// The EVAL form of an evalsha_command() wire: the same keys and arguments after `source`.
std::string eval_from_evalsha(std::string_view evalsha_wire, std::string_view source);
// UNLINK k1 k2 ... (keys as the server returned them: already prefixed).
Wire unlink_command(const std::vector<std::string>& keys);

}  // namespace rcache::detail
