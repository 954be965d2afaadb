// rcache — the Redis cache client.
//
// A Client owns one libuv loop thread and a pool of pipelined connections to one Redis endpoint.
// Commands submitted from any number of threads are batched into one write per connection per
// loop turn; replies are matched in order.
//
// Thread safety: every member function may be called concurrently from any thread.
//
// Blocking calls return when the reply arrives, the command times out (Config::command_timeout,
// counted from submission) or the connection carrying it fails; they never wait longer than the
// timeout plus a few milliseconds.
//
// Async calls come in two forms:
//   * with a callback: the callback runs exactly once, on the client's loop thread, and owns its
//     argument - always: refusals (disabled, rejected, circuit_open) and argument errors are
//     delivered on the loop thread too, never on the calling thread before the call returns, so
//     the caller may hold a lock that its callback takes (rcache/callback.hpp). It must not block
//     (nor wait on a future of this client); it may destroy the Client (the shutdown finishes
//     on a background thread). If it throws, the exception is caught and discarded (it
//     never reaches libuv).
//   * without a callback: returns a std::future that becomes ready exactly once.
// If the Client is being destroyed, the callback may run on the destroying thread with
// Errc::shutdown.
//
// Destroying a Client completes every pending call with Errc::shutdown and joins its thread.
//
// Keys and values are binary-safe std::string_views (NUL bytes, empty values). Config::key_prefix
// is prepended to every key argument (not to command()).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rcache/batch.hpp"
#include "rcache/callback.hpp"
#include "rcache/config.hpp"
#include "rcache/error.hpp"
#include "rcache/export.hpp"
#include "rcache/get_or_load.hpp"
#include "rcache/reply.hpp"
#include "rcache/resilience.hpp"
#include "rcache/scan.hpp"
#include "rcache/script.hpp"
#include "rcache/stats.hpp"
#include "rcache/status.hpp"
#include "rcache/types.hpp"

namespace rcache {

namespace detail {
class ClientCore;
}

class RCACHE_API Client {
 public:
  // Validates the config and starts connecting in the background. Fails only for a bad config:
  // an unreachable server is not an error here (calls fail with Errc::connection until it is up).
  static Result<std::unique_ptr<Client>> create(Config config);

  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const Config& config() const noexcept;
  PoolStatus pool_status() const;

  // ok / degraded / disabled with the reason, a live PING (made unless the client is disabled
  // or the breaker refuses calls), breaker state and connections. Blocking, bounded by the
  // call deadline.
  Health health();

  // Counters since creation and latency percentiles over the last 60 s. Cheap: no I/O, no lock
  // on the call path.
  Stats stats() const;

  // Circuit breaker: current state, and operator controls. Without a breaker (breaker.enabled =
  // false) the state reads `disabled` and the controls do nothing.
  BreakerState breaker_state() const;
  void force_breaker_open();
  void disable_breaker();
  void reset_breaker();

  // ---- strings ---------------------------------------------------------------------------------
  // GET: the value, or std::nullopt on a miss.
  Result<std::optional<std::string>> get(std::string_view key);
  void get_async(std::string_view key, Callback<std::optional<std::string>> cb);
  std::future<Result<std::optional<std::string>>> get_async(std::string_view key);
  // GET that says where the answer came from (Read::Source): with the near cache, whether it was
  // a fresh copy, or a stale one served because Redis could not be used.
  Result<Read> get_with_source(std::string_view key);
  // The same with per-call options: ReadOptions{.near_cache = false} is answered by Redis only.
  Result<std::optional<std::string>> get(std::string_view key, const ReadOptions& options);
  Result<Read> get_with_source(std::string_view key, const ReadOptions& options);

  // SET with optional TTL and NX/XX: true if the value was written, false if NX/XX prevented it.
  Result<bool> set(std::string_view key, std::string_view value, SetOptions options = {});
  Result<bool> set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl);
  void set_async(std::string_view key, std::string_view value, SetOptions options,
                 Callback<bool> cb);
  std::future<Result<bool>> set_async(std::string_view key, std::string_view value,
                                      SetOptions options = {});

  // DEL / UNLINK: number of keys removed.
  Result<std::int64_t> del(std::string_view key);
  Result<std::int64_t> del(const std::vector<std::string>& keys);
  void del_async(const std::vector<std::string>& keys, Callback<std::int64_t> cb);
  std::future<Result<std::int64_t>> del_async(const std::vector<std::string>& keys);
  Result<std::int64_t> unlink(std::string_view key);
  Result<std::int64_t> unlink(const std::vector<std::string>& keys);
  void unlink_async(const std::vector<std::string>& keys, Callback<std::int64_t> cb);
  std::future<Result<std::int64_t>> unlink_async(const std::vector<std::string>& keys);

  // EXISTS: whether the key exists / how many of the keys exist (repeats counted).
  Result<bool> exists(std::string_view key);
  Result<std::int64_t> exists(const std::vector<std::string>& keys);
  void exists_async(const std::vector<std::string>& keys, Callback<std::int64_t> cb);
  std::future<Result<std::int64_t>> exists_async(const std::vector<std::string>& keys);

  // PEXPIRE: true if the timeout was set (false: no such key). ttl must be > 0.
  Result<bool> expire(std::string_view key, std::chrono::milliseconds ttl);
  void expire_async(std::string_view key, std::chrono::milliseconds ttl, Callback<bool> cb);
  std::future<Result<bool>> expire_async(std::string_view key, std::chrono::milliseconds ttl);

  // PTTL.
  Result<Ttl> ttl(std::string_view key);
  void ttl_async(std::string_view key, Callback<Ttl> cb);
  std::future<Result<Ttl>> ttl_async(std::string_view key);

  // INCRBY: the new value.
  Result<std::int64_t> incrby(std::string_view key, std::int64_t delta);
  void incrby_async(std::string_view key, std::int64_t delta, Callback<std::int64_t> cb);
  std::future<Result<std::int64_t>> incrby_async(std::string_view key, std::int64_t delta);

  // MGET: one entry per key, std::nullopt for a miss.
  using Values = std::vector<std::optional<std::string>>;
  Result<Values> mget(const std::vector<std::string>& keys);
  void mget_async(const std::vector<std::string>& keys, Callback<Values> cb);
  std::future<Result<Values>> mget_async(const std::vector<std::string>& keys);

  // MSET, or with a TTL > 0 a MULTI/EXEC of SET ... PX (atomic: all or none are written).
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  Result<void> mset(const Pairs& pairs, std::chrono::milliseconds ttl = {});
  void mset_async(const Pairs& pairs, std::chrono::milliseconds ttl, Callback<void> cb);
  std::future<Result<void>> mset_async(const Pairs& pairs, std::chrono::milliseconds ttl = {});

  // PING: the round-trip time.
  Result<std::chrono::microseconds> ping();
  void ping_async(Callback<std::chrono::microseconds> cb);
  std::future<Result<std::chrono::microseconds>> ping_async();

  // Any command, argv as given (no key prefix). A top-level error reply becomes Errc::server;
  // errors nested in arrays stay in the Reply as Kind::error. Commands that would change the
  // state or reply framing of a shared pooled connection (SELECT, MULTI/EXEC/DISCARD/WATCH, the
  // SUBSCRIBE family, MONITOR, CLIENT REPLY/TRACKING/SETNAME, HELLO, AUTH, RESET, QUIT, ...) are
  // refused with Errc::invalid_argument naming the alternative; nothing is sent.
  Result<Reply> command(const std::vector<std::string>& argv);
  void command_async(const std::vector<std::string>& argv, Callback<Reply> cb);
  std::future<Result<Reply>> command_async(const std::vector<std::string>& argv);

  // Cache-aside: the cached value, or the loader's (stored with a jittered TTL). Concurrent
  // callers of one key in this process share one loader call (single-flight): the first runs the
  // loader on its thread after reading the key once more (a load that another caller finished
  // meanwhile is served as a hit, not loaded again); the others wait for its result at most until
  // Config::deadline after their own call began, then return Errc::timeout while that load goes
  // on and still fills the cache. The caller running the loader is not bounded: it waits for the
  // loader however long it takes (bound the loader itself). Loader errors are returned, not cached.
  // When Redis is unavailable (disabled, circuit open, connection error, timeout, rejected) the
  // loader's result is returned directly and Loaded::bypassed is set. A stored value that cannot be
  // decoded is returned as Errc::corrupt_value (never overwritten). Blocking; must not be called
  // from an rcache callback.
  Result<Loaded> get_or_load(std::string_view key, const LoadOptions& options,
                             const Loader& loader);
  Result<Loaded> get_or_load(std::string_view key, std::chrono::milliseconds ttl,
                             const Loader& loader) {
    LoadOptions o;
    o.ttl = ttl;
    return get_or_load(key, o, loader);
  }

  // The asynchronous form, with an asynchronous loader (rcache/get_or_load.hpp): nothing blocks,
  // the callback runs on the loop thread. Single-flight is shared with the blocking form:
  // concurrent callers of one key, blocking or not, share one load. The same options, the same
  // near cache, negative cache, stale copy, outage bypass and outage cap, except early_refresh,
  // which only the blocking form applies (here the cached value is returned).
  void get_or_load_async(std::string_view key, const LoadOptions& options, AsyncLoader loader,
                         Callback<Loaded> cb);
  std::future<Result<Loaded>> get_or_load_async(std::string_view key, const LoadOptions& options,
                                                AsyncLoader loader);

  // GETEX key PX ttl: the value (std::nullopt on a miss), its TTL renewed ("sliding TTL").
  Result<std::optional<std::string>> get_renew(std::string_view key, std::chrono::milliseconds ttl);

  // Deletes every key matching the glob `pattern` (key_prefix prepended): SCAN cursor MATCH
  // pattern COUNT scan_count, then UNLINK of each non-empty batch, until the cursor returns to 0
  // (that last batch included). Never KEYS. Returns the number of keys removed. On an error the
  // message says how many were removed before it. With a cluster, every master is scanned.
  // PatternOptions: a dry run (count only), the COUNT hint, a progress callback.
  Result<std::uint64_t> delete_pattern(std::string_view pattern);
  Result<std::uint64_t> delete_pattern(std::string_view pattern, const PatternOptions& options);
  void delete_pattern_async(std::string_view pattern, Callback<std::uint64_t> cb);
  void delete_pattern_async(std::string_view pattern, const PatternOptions& options,
                            Callback<std::uint64_t> cb);
  std::future<Result<std::uint64_t>> delete_pattern_async(std::string_view pattern);
  // How many keys match the glob `pattern` (key_prefix prepended), by SCAN (never KEYS) over
  // every master. Exact for keys that exist throughout the count; keys written or deleted during
  // it may or may not be counted. The same as delete_pattern with PatternOptions::dry_run.
  Result<std::uint64_t> count_pattern(std::string_view pattern);

  // Iterates the keys matching ScanOptions::match by SCAN, a page per round trip (see
  // rcache/scan.hpp): `for (const std::string& key : client.scan({.match = "user:*"}))`, then
  // check the KeyScan's error(). The KeyScan must not outlive the Client.
  KeyScan scan(ScanOptions options = {});

  // ---- records (hashes) --------------------------------------------------------------------
  // A record is a Redis hash. Field values go through the same envelope as string values (those
  // of compression_threshold bytes or more are stored compressed and read back decoded; the size
  // limits apply); field names are sent as they are. hincrby needs a field holding a plain
  // integer (as hincrby or a short hset wrote it).
  //
  // HSET: the number of fields that were new (updated ones are not counted).
  Result<std::int64_t> hset(std::string_view key, const Pairs& fields);
  Result<bool> hset(std::string_view key, std::string_view field, std::string_view value);
  void hset_async(std::string_view key, const Pairs& fields, Callback<std::int64_t> cb);
  std::future<Result<std::int64_t>> hset_async(std::string_view key, const Pairs& fields);
  // HGET: the field's value, or std::nullopt (no such field or record).
  Result<std::optional<std::string>> hget(std::string_view key, std::string_view field);
  void hget_async(std::string_view key, std::string_view field,
                  Callback<std::optional<std::string>> cb);
  std::future<Result<std::optional<std::string>>> hget_async(std::string_view key,
                                                             std::string_view field);
  // HMGET: one entry per field, std::nullopt for an absent one.
  Result<Values> hmget(std::string_view key, const std::vector<std::string>& fields);
  void hmget_async(std::string_view key, const std::vector<std::string>& fields,
                   Callback<Values> cb);
  std::future<Result<Values>> hmget_async(std::string_view key,
                                          const std::vector<std::string>& fields);
  // HGETALL: every field and value (in the server's order); empty for no such record.
  Result<Pairs> hgetall(std::string_view key);
  void hgetall_async(std::string_view key, Callback<Pairs> cb);
  std::future<Result<Pairs>> hgetall_async(std::string_view key);
  // HDEL: the number of fields removed.
  Result<std::int64_t> hdel(std::string_view key, const std::vector<std::string>& fields);
  void hdel_async(std::string_view key, const std::vector<std::string>& fields,
                  Callback<std::int64_t> cb);
  std::future<Result<std::int64_t>> hdel_async(std::string_view key,
                                               const std::vector<std::string>& fields);
  // HINCRBY: the field's new value.
  Result<std::int64_t> hincrby(std::string_view key, std::string_view field, std::int64_t delta);
  void hincrby_async(std::string_view key, std::string_view field, std::int64_t delta,
                     Callback<std::int64_t> cb);
  std::future<Result<std::int64_t>> hincrby_async(std::string_view key, std::string_view field,
                                                  std::int64_t delta);
  // Sets `fields` of the record and, with RecordOptions::ttl, renews its TTL, in one atomic step
  // (a Lua script run by EVALSHA): no reader sees the fields without the new TTL, and fields not
  // named keep their values. With RecordOptions::create = false a missing record stays missing.
  // True: written; false: the record did not exist and create was false. Running it twice
  // leaves the same record, so it is retried like SET.
  Result<bool> update_record(std::string_view key, const Pairs& fields,
                             const RecordOptions& options = {});
  void update_record_async(std::string_view key, const Pairs& fields, const RecordOptions& options,
                           Callback<bool> cb);
  std::future<Result<bool>> update_record_async(std::string_view key, const Pairs& fields,
                                                const RecordOptions& options = {});

  // ---- scripts -----------------------------------------------------------------------------
  // EVALSHA, and EVAL on NOSCRIPT (rcache/script.hpp). Keys get key_prefix; args are sent as
  // they are. A top-level error reply is Errc::server with the script's message.
  Result<Reply> eval(const Script& script, const std::vector<std::string>& keys = {},
                     const std::vector<std::string>& args = {});
  void eval_async(const Script& script, const std::vector<std::string>& keys,
                  const std::vector<std::string>& args, Callback<Reply> cb);
  std::future<Result<Reply>> eval_async(const Script& script, const std::vector<std::string>& keys,
                                        const std::vector<std::string>& args);

  // ---- pub/sub -----------------------------------------------------------------------------
  // PUBLISH: the number of subscribers that received the message (with a cluster: those of the
  // node it was published on; Redis forwards it to every node's subscribers). Channel names are
  // sent as they are (no key_prefix). Subscribing takes a dedicated connection: rcache::Subscriber
  // (rcache/pubsub.hpp).
  Result<std::int64_t> publish(std::string_view channel, std::string_view message);
  void publish_async(std::string_view channel, std::string_view message, Callback<std::int64_t> cb);
  std::future<Result<std::int64_t>> publish_async(std::string_view channel,
                                                  std::string_view message);

  // ---- batches -----------------------------------------------------------------------------
  // Sends a Batch's commands together, on one connection, as one call (rcache/batch.hpp).
  Result<BatchReplies> exec(const Batch& batch);
  void exec_async(const Batch& batch, Callback<BatchReplies> cb);
  std::future<Result<BatchReplies>> exec_async(const Batch& batch);

 private:
  friend class CallDeadline;
  friend class Subscriber;
  RCACHE_LOCAL explicit Client(std::unique_ptr<detail::ClientCore> core);
  std::unique_ptr<detail::ClientCore> core_;
  std::shared_ptr<void> exposer_;  // Config::metrics_address's exposer; released first
};

// A per-call deadline: every call this thread starts on `client` while the scope lives is bounded
// by `deadline` instead of Config::deadline - blocking, callback and future forms alike, and
// each Redis call of a multi-step one (the pages of delete_pattern, count_pattern and scan, the
// read and write of get_or_load, a script's EVAL after NOSCRIPT). An async call keeps the
// deadline it started with. Scopes nest (the innermost wins) and are per client. A deadline
// <= 0 fails every call at once with Errc::timeout; nothing is sent.
//
//   { rcache::CallDeadline fast(client, 20ms); auto v = client.get("hot"); }
//
// Thread safety: a scope belongs to the thread that made it and must end on it (a local).
class RCACHE_API CallDeadline {
 public:
  CallDeadline(Client& client, std::chrono::milliseconds deadline) noexcept;
  ~CallDeadline();
  CallDeadline(const CallDeadline&) = delete;
  CallDeadline& operator=(const CallDeadline&) = delete;

 private:
  friend class detail::ClientCore;
  const detail::ClientCore* core_;
  std::chrono::milliseconds deadline_;
  const CallDeadline* outer_;
};

}  // namespace rcache
