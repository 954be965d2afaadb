// Redis Cluster on the wire: the slot of a key, MOVED/ASK redirects and the other cluster error
// words, the reply to CLUSTER SLOTS, and the keys of a command rcache built (for routing).
//
// Thread safety: pure functions and plain values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/resp.hpp"
#include "rcache/error.hpp"

namespace rcache::detail {

inline constexpr std::uint16_t kClusterSlots = 16384;

// CRC16-XMODEM (polynomial 0x1021, initial 0): crc16("123456789") == 0x31C3.
std::uint16_t crc16(std::string_view bytes) noexcept;

// CRC16-XMODEM of the key mod 16384, with hash tags: if the key contains '{' and a '}' after the
// first '{' with at least one byte between them, only the bytes between the first '{' and the
// first '}' after it are hashed ("{user1000}.following" and "{user1000}.followers" share a slot;
// "foo{}{bar}" hashes the whole key; "foo{{bar}}zap" hashes "{bar").
std::uint16_t key_slot(std::string_view key) noexcept;

// A MOVED or ASK error reply: "MOVED 3999 127.0.0.1:6381", "ASK 3999 127.0.0.1:6381". The address
// is split at its LAST ':' (Redis prints IPv6 unbracketed, "::1:6381"; "[::1]:6381" is accepted
// too). An empty host ("MOVED 3999 :6381": the node does not know its own address) gives host "":
// the caller substitutes the address of the node that answered. Anything malformed (slot out of
// range, bad port, missing or extra parts, not an error reply) -> nullopt.
struct Redirect {
  enum class Kind { moved, ask };
  Kind kind = Kind::moved;
  std::uint16_t slot = 0;
  std::string host;
  int port = 0;
};
std::optional<Redirect> parse_redirect(const redisReply& r);

// The cluster-specific error words of a reply (the first word of an error reply, exact case).
enum class ClusterWord { none, moved, ask, tryagain, clusterdown, crossslot, readonly };
ClusterWord cluster_word(const redisReply& r) noexcept;

struct NodeAddress {
  std::string host;
  int port = 0;
  std::string id;  // node id when the reply gave one ("" otherwise); not part of ==
  bool operator==(const NodeAddress& o) const noexcept { return host == o.host && port == o.port; }
};
// "host:port", "[v6]:port" for an IPv6 host (one that contains ':').
std::string address_of(const NodeAddress& n);

struct SlotRange {
  std::uint16_t first = 0, last = 0;  // inclusive
  NodeAddress master;
  std::vector<NodeAddress> replicas;
};
// The reply to CLUSTER SLOTS (RESP2): one array per range, [first, last, master, replica...], each
// node [ip, port, id?, ...]; elements after the id (Redis 7's metadata) are ignored. An empty ip
// means "the node you asked": `asked_host` is used. A node whose ip is "?" (unknown endpoint) is
// left out, and a range whose master is unknown is left out entirely. Not an array, a range with
// first > last or > 16383, a port out of 1..65535, wrong element types -> Errc::protocol
// "CLUSTER SLOTS: <what is wrong>"; an error reply -> the server's error (error_from_reply).
Result<std::vector<SlotRange>> parse_cluster_slots(const redisReply& r,
                                                   std::string_view asked_host);

// The first command of a RESP wire that rcache built (an array of bulk strings) and its keys, for
// routing. `next` is the offset just past it (the wire may hold several commands back to back).
// The views in `args` point into the wire, which must outlive them.
struct WireCommand {
  std::string name;                    // upper-cased, e.g. "GET"
  std::vector<std::string_view> args;  // every argument after the name (views into the wire)
  std::vector<std::size_t> key_index;  // indexes into args of the keys
  std::size_t next = 0;
};
// Malformed wire (truncated, not an array of bulk strings, bad lengths, no command name, an EVAL
// whose numkeys is not a number or too large) -> Errc::invalid_argument. Key positions by name:
//   no keys: PING ECHO INFO SCAN DBSIZE CLIENT CLUSTER ... (and any command with no argument)
//   every argument: DEL UNLINK EXISTS MGET TOUCH WATCH
//   args 0, 2, 4, ...: MSET MSETNX
//   EVAL EVALSHA EVAL_RO EVALSHA_RO FCALL FCALL_RO: args[2 .. 2 + numkeys), numkeys = args[1]
//   MEMORY USAGE key, OBJECT <sub> key: args[1]
//   anything else: args[0]
Result<WireCommand> parse_wire_command(std::string_view wire, std::size_t offset = 0);

}  // namespace rcache::detail
