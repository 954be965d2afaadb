// The near cache: an in-process copy of hot values, kept coherent by Redis' invalidations
// (CLIENT TRACKING), and the copy served while Redis is unavailable.
//
// THE INVARIANT. While coherent, a value is never served after Redis acknowledged a newer write
// to it plus the invalidation delivery time; while not coherent (the invalidation connection is
// down, so Redis is unavailable or going away), a value is served only to calls that could not
// use Redis, and never more than max_stale past its freshness. "Delivery time" includes the
// case of an invalidation connection that went silent without being closed: until the
// tracker's heartbeat finds it hung (about 1 s + 2 x command_timeout, resilience/tracker.hpp),
// copies are still served as fresh.
//
// How the pieces keep it:
//   epochs      every change of coherence (the invalidation connection lost, or subscribed
//               again) starts a new epoch. An entry is fresh only in the epoch it was stored in,
//               so losing the connection makes every entry stale at once (O(1), no sweep), and
//               one stored during an outage is never served as fresh once Redis is back.
//               Entries of an earlier epoch are dropped when coherence returns: nothing changed
//               meanwhile can be served, and a revalidation would cost the round trip anyway.
//   fills       a read from Redis is stored only if no invalidation (or own write) of that key,
//               and no change of epoch, happened between begin_fill() — before the read is
//               sent — and end_fill(). So an invalidation that overtakes the reply (it arrives
//               on another connection) cannot be undone by the reply, and a read that started
//               before this client's own write cannot put the older value back over it.
//   lifetime    an entry is fresh until the TTL Redis reported with the value (never longer),
//               capped by max_ttl; during an outage it may be served, marked stale, until
//               max_stale past that.
//   flushes     FLUSHALL/FLUSHDB (a null invalidation) drops every entry: the data is gone.
//               Whole-cache drops detach the entries under the shard locks and free them after,
//               so readers and the loop thread wait for pointer swaps, not for the frees.
//   outages     a value loaded while Redis is unavailable is stored through the same guard as
//               a fill (begin_outage_load / end_outage_load): this client's write or delete of
//               the key while the load ran makes it refused.
//   own writes  in DegradedMode::local, a write that could not reach Redis is kept as this
//               client's copy (begin_outage_write / end_outage_write), refused if an
//               invalidation of the key came in while it ran. Such a copy, like an outage load,
//               is never served as fresh by get(): only to calls that cannot use Redis. It goes
//               as any entry does (an invalidation, an own write, any answer of Redis for the
//               key — a value, a nil, a refused fill — and the end of the epoch once coherence
//               returns), and with the outage (outage_ended(): the pool or the breaker saw Redis
//               answer again), so it never shadows Redis once Redis answers. It refuses the
//               fills and outage loads of the key that were in flight: they read before it.
//   bytes       key + value + kEntryOverhead per entry, per shard max_bytes / shards; a shard
//               evicts to stay within its share, by W-TinyLFU (chosen over LRU from
//               measurements, benchmarks/README.md): a new entry goes into a window (1 % of the
//               bytes, LRU); the one that leaves the window enters the main space (a
//               segmented LRU: probation, then 80 % protected for entries asked for again) only
//               if it was asked for more often lately than the entry it would evict there
//               (resilience/frequency_sketch.hpp). So a burst of keys read once cannot push the
//               hot ones out.
//
// Sharded by key hash, one mutex per shard, so hits on different keys do not contend.
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.hpp"
#include "resilience/frequency_sketch.hpp"

namespace rcache::detail {

struct NearCacheOptions {
  std::size_t max_bytes = 64u << 20;
  std::size_t shards = 16;  // rounded up to a power of two
  std::chrono::milliseconds max_ttl{60'000};
  std::chrono::milliseconds max_stale{300'000};
};

// Counts for metrics and stats; monotonic except bytes / entries.
struct NearCacheCounts {
  std::uint64_t hits = 0, misses = 0, stale_served = 0;
  std::uint64_t fills = 0, fills_refused = 0;  // refused: invalidated or epoch changed meanwhile
  std::uint64_t invalidations = 0, evictions = 0;
  std::uint64_t flushes_lost = 0, flushes_flushall = 0;  // by reason
  std::size_t bytes = 0, entries = 0;
  std::size_t pending_keys = 0;  // keys with a read, load or outage write in flight
};

class NearCache {
 public:
  static constexpr std::size_t kEntryOverhead = 128;  // nodes, strings, bookkeeping

  NearCache(const NearCacheOptions& o, const ClockSource& clock);
  NearCache(const NearCache&) = delete;
  NearCache& operator=(const NearCache&) = delete;

  // ---- reads ----
  // A fresh copy (coherent, this epoch, within its lifetime), counted as a hit or a miss.
  std::optional<std::string> get(std::string_view key);
  struct Outage {
    std::string value;
    bool stale = true;     // false: stored during this outage and within its lifetime
    bool expired = false;  // past its lifetime (served only within max_stale)
    bool written = false;  // this client's own write that never reached Redis (local mode)
  };
  // For a call that could not use Redis: any copy within max_stale past its freshness.
  std::optional<Outage> get_during_outage(std::string_view key);

  // ---- filling from Redis reads ----
  struct FillToken {
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;
    std::uint64_t own = 0;
    std::uint64_t outage = 0;  // outage writes: the outage they began in (outage_ended())
    bool active = false;       // false: nothing to fill (not coherent); end/abandon do nothing
  };
  // Before the read is sent. Every begin_fill must be followed by end_fill or abandon_fill.
  FillToken begin_fill(std::string_view key);
  // The read's reply: `value` (nullopt: the key does not exist, nothing stored) with the TTL
  // Redis reported (negative: none). False when not stored (refused, too large, no value).
  // With an inactive token (not coherent) nothing is stored and any copy of the key is dropped:
  // Redis has answered for it.
  bool end_fill(std::string_view key, const FillToken& t, std::optional<std::string_view> value,
                std::chrono::milliseconds redis_ttl);
  void abandon_fill(std::string_view key, const FillToken& t);

  // ---- coherence ----
  // An invalidation of `key` from Redis, or this client's own write or delete of it.
  void invalidate(std::string_view key);
  // FLUSHALL / FLUSHDB: every entry dropped.
  void invalidate_all();
  // The invalidation connection is gone: entries become stale-only and fills are refused.
  void coherence_lost();
  // Subscribed again: entries of earlier epochs are dropped, fills accepted.
  void coherence_gained();
  bool coherent() const noexcept { return coherent_.load(std::memory_order_acquire); }

  // ---- outage loads ----
  // A value loaded while Redis is unavailable (get_or_load): fresh for `ttl` (capped by max_ttl)
  // during this outage only. begin before the load, end (or abandon_fill) after; refused while
  // coherent, or when the key was invalidated (an own write) or the epoch changed meanwhile.
  FillToken begin_outage_load(std::string_view key);
  bool end_outage_load(std::string_view key, const FillToken& t, std::string_view value,
                       std::chrono::milliseconds ttl);
  // Both at once (nothing can come in between).
  bool store_outage_load(std::string_view key, std::string_view value,
                         std::chrono::milliseconds ttl) {
    return end_outage_load(key, begin_outage_load(key), value, ttl);
  }

  // ---- writes that could not reach Redis (DegradedMode::local) ----
  // Before the write is sent; end_outage_write or abandon_fill after.
  FillToken begin_outage_write(std::string_view key) { return begin_outage_load(key); }
  // The write failed because Redis was unavailable: `value` becomes this client's copy of the
  // key for `ttl` (zero: no TTL; capped by max_ttl), served only to calls that cannot use Redis;
  // nullopt (a delete) drops any copy. Refused (and any older copy dropped) when the key was
  // invalidated while the write ran: someone else wrote it, and which write is newer cannot be
  // told. `condition` is decided against the copy under the same lock (a SET NX/XX: declined,
  // nothing changes). Fills and outage loads of the key in flight are refused from now on: they
  // read before this write. Returns whether a copy of the key was there before (for a delete's
  // count).
  enum class Condition : std::uint8_t { always, if_absent, if_present };
  struct WriteResult {
    bool kept = false;
    bool had_copy = false;
    bool declined = false;  // the condition did not hold
  };
  WriteResult end_outage_write(std::string_view key, const FillToken& t,
                               std::optional<std::string_view> value, std::chrono::milliseconds ttl,
                               Condition condition = Condition::always);
  // Redis answered again after an outage (the pool has a connection again, or the breaker
  // closed): this client's outage writes are no longer served, even to a call that cannot use
  // Redis in a later outage; Redis is the truth again. O(1): they go when next touched.
  void outage_ended() noexcept { outage_gen_.fetch_add(1, std::memory_order_acq_rel); }

  NearCacheCounts counts() const;
  std::size_t max_bytes() const noexcept { return max_bytes_; }

 private:
  // Where a value came from: only Redis' answers are ever served as fresh by get().
  enum class Origin : std::uint8_t { redis, loaded, written };
  enum class Segment : std::uint8_t { window, probation, protected_ };
  struct Entry {
    std::string key;
    std::string value;
    TimePoint fresh_until{};
    TimePoint stale_until{};
    std::uint64_t epoch = 0;
    Origin origin = Origin::redis;
    Segment segment = Segment::window;
    std::uint64_t outage_gen = 0;  // for written entries: the outage it was written in
  };
  using List = std::list<Entry>;
  struct Pending {
    std::uint64_t seq = 0;  // bumped by every invalidation of the key
    std::uint64_t own = 0;  // bumped by every outage write of the key kept (local mode)
    std::size_t count = 0;  // fills in flight
  };
  struct Shard {
    explicit Shard(std::size_t sketch_width) : sketch(sketch_width) {}
    mutable std::mutex mu;
    List window, probation, protected_;                          // front = most recently used
    std::unordered_map<std::string_view, List::iterator> index;  // views into Entry::key
    std::unordered_map<std::string, Pending> pending;
    FrequencySketch sketch;
    std::size_t bytes = 0, window_bytes = 0, protected_bytes = 0;
    std::uint64_t evictions = 0, invalidations = 0, fills = 0, fills_refused = 0;
    std::uint64_t hits = 0, misses = 0, stale_served = 0;
  };

  static std::size_t hash_of(std::string_view key) noexcept;
  Shard& shard_for(std::size_t hash) noexcept;
  static List& list_of(Shard& s, Segment seg) noexcept;
  void touch(Shard& s, List::iterator it) const;  // lock held: an access of a present entry
  void admit_from_window(Shard& s) const;         // lock held
  static std::size_t cost(std::string_view key, std::string_view value) noexcept {
    return key.size() + value.size() + kEntryOverhead;
  }
  // Lock held: stores (replacing any entry), evicting to fit. False if it cannot fit at all.
  bool put(Shard& s, std::string_view key, std::string_view value, TimePoint fresh_until,
           std::uint64_t epoch, Origin origin);
  static void remove(Shard& s, List::iterator it);
  // Within max_stale, and not an outage write from an outage that has ended.
  bool servable_in_outage(const Entry& e, TimePoint now) const noexcept;
  void end_pending(Shard& s, std::string_view key);  // lock held
  // Every shard locked at once: a change of epoch and coherence that no shard sees half done.
  std::vector<std::unique_lock<std::mutex>> lock_all();
  // Every entry of every shard, detached under all locks (held by the caller) into `out`, to be
  // freed after the locks are released.
  struct Detached {
    std::vector<List> lists;
    std::vector<std::unordered_map<std::string_view, List::iterator>> indexes;
  };
  void detach_all(Detached& out);  // all locks held

  const std::size_t max_bytes_;
  const std::size_t shard_bytes_;
  const std::size_t window_bytes_;     // per shard
  const std::size_t protected_bytes_;  // per shard
  const std::chrono::milliseconds max_ttl_;
  const std::chrono::milliseconds max_stale_;
  const ClockSource& clock_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::size_t mask_ = 0;
  std::atomic<std::uint64_t> epoch_{1};
  std::atomic<bool> coherent_{false};
  std::atomic<std::uint64_t> outage_gen_{1};
  std::atomic<std::uint64_t> flushes_lost_{0}, flushes_flushall_{0};
};

}  // namespace rcache::detail
