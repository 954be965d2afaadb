// rcache — small value types of the calls: SET, record, scan and pattern options, a key's
// remaining TTL, and a read that says where its answer came from.
//
// Thread safety: plain value types.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace rcache {

// Remaining time to live of a key, from PTTL.
struct Ttl {
  bool exists = false;                     // false: no such key
  bool persistent = false;                 // true: the key exists and has no expiry
  std::chrono::milliseconds remaining{0};  // valid when exists && !persistent
};

struct SetOptions {
  enum class Condition { always, if_absent /* NX */, if_present /* XX */ };
  // Zero: no expiry. Otherwise rounded to milliseconds (PX), must be > 0.
  std::chrono::milliseconds ttl{0};
  Condition condition = Condition::always;
};

// Per-call options of Client::get() and get_with_source().
struct ReadOptions {
  // false: this call is answered by Redis only: not from a near-cache copy, not from one while
  // Redis is unavailable (its error is returned, in local mode too). What Redis answers still
  // refreshes the copy for the calls that use it. Without a near cache it changes nothing.
  bool near_cache = true;
};

// Options of Client::update_record().
struct RecordOptions {
  // > 0: the record's TTL is set to this (renewed) in the same atomic step as the update. Zero:
  // the TTL is left as it is (none for a record this call creates).
  std::chrono::milliseconds ttl{0};
  // false: a record that does not exist is not created (the call returns false, nothing written).
  bool create = true;
};

// Options of Client::scan().
struct ScanOptions {
  // Glob of the keys to visit (SCAN MATCH); Config::key_prefix is prepended (escaped, so it
  // matches only itself) and stripped from the keys returned.
  std::string match = "*";
  // SCAN's COUNT hint: keys examined per round trip; 0: Config::scan_count.
  std::size_t count = 0;
  // Only keys of this type (SCAN TYPE: "string", "hash", "list", "set", "zset", "stream");
  // empty: any.
  std::string type;
};

// Options of Client::delete_pattern().
struct PatternOptions {
  // Delete nothing: count the keys that match (what a delete would remove now).
  bool dry_run = false;
  // SCAN's COUNT hint; 0: Config::scan_count.
  std::size_t count = 0;
  // Called after every SCAN page with the keys removed (or, dry, matched) so far. Runs on the
  // client's loop thread: it must be quick and must not block or call the client's blocking
  // functions. An exception it throws is discarded.
  std::function<void(std::uint64_t so_far)> progress;
};

// What Client::get_with_source() returns: the value and where the answer came from.
struct Read {
  // redis: Redis answered; near_cache: a fresh near-cache copy (no round trip), or, when Redis
  // could not be used, a value get_or_load loaded during this outage, within its TTL;
  // near_cache_stale: Redis could not be used and a copy from before the outage (or past its
  // TTL), within Config::max_stale, answered; local: the `local` degraded mode answered without
  // Redis: this client's own write made during the outage, or a miss.
  enum class Source { redis, near_cache, near_cache_stale, local };
  std::optional<std::string> value;  // std::nullopt: no such key
  Source source = Source::redis;
};

}  // namespace rcache
