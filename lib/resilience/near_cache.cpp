// The near cache: sharded W-TinyLFU entries with epochs, guarded fills, outage copies.
#include "resilience/near_cache.hpp"

#include <algorithm>
#include <bit>
#include <functional>

namespace rcache::detail {

NearCache::NearCache(const NearCacheOptions& o, const ClockSource& clock)
    : max_bytes_(o.max_bytes),
      shard_bytes_(o.max_bytes / std::bit_ceil(std::max<std::size_t>(o.shards, 1))),
      window_bytes_(std::max<std::size_t>(shard_bytes_ / 100, 1)),
      protected_bytes_((shard_bytes_ - window_bytes_) / 10 * 8),
      max_ttl_(o.max_ttl),
      max_stale_(o.max_stale),
      clock_(clock) {
  const std::size_t n = std::bit_ceil(std::max<std::size_t>(o.shards, 1));
  shards_.reserve(n);
  // About four counters per row for each entry the shard holds (~256 B: a 100-byte value and its
  // overhead), so that the keys asked for once between two halvings (up to 10 x width) rarely
  // share all four of a hot key's counters: 4 x 4 B of sketch per 256 B of cache, ~6 %.
  const std::size_t width = std::min<std::size_t>(shard_bytes_ / 64, std::size_t{1} << 22);
  for (std::size_t i = 0; i < n; ++i) shards_.push_back(std::make_unique<Shard>(width));
  mask_ = n - 1;
}

std::size_t NearCache::hash_of(std::string_view key) noexcept {
  return std::hash<std::string_view>{}(key);
}

NearCache::Shard& NearCache::shard_for(std::size_t h) noexcept {
  // The map hashes the key again; the high bits pick the shard so that the two stay apart.
  return *shards_[(h >> 17) & mask_];
}

NearCache::List& NearCache::list_of(Shard& s, Segment seg) noexcept {
  switch (seg) {
    case Segment::window:
      return s.window;
    case Segment::probation:
      return s.probation;
    case Segment::protected_:
      break;
  }
  return s.protected_;
}

void NearCache::remove(Shard& s, List::iterator it) {
  const std::size_t c = cost(it->key, it->value);
  s.bytes -= c;
  if (it->segment == Segment::window) s.window_bytes -= c;
  if (it->segment == Segment::protected_) s.protected_bytes -= c;
  s.index.erase(std::string_view(it->key));
  list_of(s, it->segment).erase(it);
}

void NearCache::touch(Shard& s, List::iterator it) const {
  switch (it->segment) {
    case Segment::window:
      s.window.splice(s.window.begin(), s.window, it);
      return;
    case Segment::protected_:
      s.protected_.splice(s.protected_.begin(), s.protected_, it);
      return;
    case Segment::probation:
      break;
  }
  // Asked for again while on probation: protected, and protected's least recent goes back.
  s.protected_.splice(s.protected_.begin(), s.probation, it);
  it->segment = Segment::protected_;
  s.protected_bytes += cost(it->key, it->value);
  while (s.protected_bytes > protected_bytes_ && s.protected_.size() > 1) {
    const auto back = std::prev(s.protected_.end());
    s.protected_bytes -= cost(back->key, back->value);
    back->segment = Segment::probation;
    s.probation.splice(s.probation.begin(), s.protected_, back);
  }
}

// The window's least recent entry leaves it: into probation if the main space has room, or if
// it was asked for more often than the entry that would make room (probation's least recent,
// else protected's); otherwise it is the one evicted.
void NearCache::admit_from_window(Shard& s) const {
  const auto cand = std::prev(s.window.end());
  const std::size_t c = cost(cand->key, cand->value);
  s.window_bytes -= c;
  const std::size_t main_cap = shard_bytes_ - window_bytes_;
  const int cand_freq = s.sketch.estimate(hash_of(cand->key));
  while (s.bytes - s.window_bytes > main_cap) {  // s.bytes still counts the candidate
    List& from = s.probation.empty() ? s.protected_ : s.probation;
    if (from.empty()) break;
    const auto victim = std::prev(from.end());
    if (c > main_cap || cand_freq <= s.sketch.estimate(hash_of(victim->key))) {
      s.bytes -= c;  // the window's share was taken off above
      s.index.erase(std::string_view(cand->key));
      s.window.erase(cand);
      ++s.evictions;
      return;
    }
    remove(s, victim);
    ++s.evictions;
  }
  cand->segment = Segment::probation;
  s.probation.splice(s.probation.begin(), s.window, cand);
}

bool NearCache::put(Shard& s, std::string_view key, std::string_view value, TimePoint fresh_until,
                    std::uint64_t epoch, Origin origin) {
  if (auto found = s.index.find(key); found != s.index.end()) remove(s, found->second);
  const std::size_t need = cost(key, value);
  if (need > shard_bytes_) return false;
  s.window.push_front(Entry{std::string(key), std::string(value), fresh_until,
                            fresh_until + max_stale_, epoch, origin, Segment::window});
  s.index.emplace(std::string_view(s.window.front().key), s.window.begin());
  s.bytes += need;
  s.window_bytes += need;
  while (s.window_bytes > window_bytes_ && s.window.size() > 1) admit_from_window(s);
  // A window entry larger than the window's share: make room from the main space.
  while (s.bytes > shard_bytes_) {
    List& from = !s.probation.empty() ? s.probation : s.protected_;
    if (from.empty()) break;
    remove(s, std::prev(from.end()));
    ++s.evictions;
  }
  return true;
}

std::optional<std::string> NearCache::get(std::string_view key) {
  const std::size_t h = hash_of(key);
  Shard& s = shard_for(h);
  const TimePoint now = clock_.now();
  std::lock_guard lock(s.mu);
  s.sketch.add(h);  // hit or miss: the admission filter counts demand
  // Epoch and coherence change only under every shard lock: read together here.
  const std::uint64_t epoch = epoch_.load(std::memory_order_acquire);
  auto found = s.index.find(key);
  if (found == s.index.end() || !coherent()) {
    ++s.misses;
    return std::nullopt;
  }
  const auto it = found->second;
  if (it->epoch != epoch || now >= it->fresh_until || it->origin != Origin::redis) {
    if (now >= it->stale_until) remove(s, it);  // of no use even during an outage
    ++s.misses;
    return std::nullopt;
  }
  touch(s, it);
  ++s.hits;
  return it->value;
}

std::optional<NearCache::Outage> NearCache::get_during_outage(std::string_view key) {
  const std::size_t h = hash_of(key);
  Shard& s = shard_for(h);
  const TimePoint now = clock_.now();
  std::lock_guard lock(s.mu);
  s.sketch.add(h);
  const std::uint64_t epoch = epoch_.load(std::memory_order_acquire);
  auto found = s.index.find(key);
  if (found == s.index.end()) return std::nullopt;
  const auto it = found->second;
  if (!servable_in_outage(*it, now)) {
    remove(s, it);
    return std::nullopt;
  }
  touch(s, it);
  const bool expired = now >= it->fresh_until;
  const bool stale = expired || it->epoch != epoch;
  if (stale) {
    ++s.stale_served;
  } else {
    ++s.hits;
  }
  return Outage{it->value, stale, expired, it->origin == Origin::written};
}

NearCache::FillToken NearCache::begin_fill(std::string_view key) {
  Shard& s = shard_for(hash_of(key));
  std::lock_guard lock(s.mu);
  if (!coherent()) return FillToken{};
  // A loss of coherence from here on changes the epoch, and the fill is refused.
  const std::uint64_t epoch = epoch_.load(std::memory_order_acquire);
  auto [it, inserted] = s.pending.try_emplace(std::string(key));
  ++it->second.count;
  return FillToken{epoch, it->second.seq, it->second.own, 0, true};
}

void NearCache::end_pending(Shard& s, std::string_view key) {
  auto it = s.pending.find(std::string(key));
  if (it == s.pending.end()) return;
  if (--it->second.count == 0) s.pending.erase(it);
}

bool NearCache::end_fill(std::string_view key, const FillToken& t,
                         std::optional<std::string_view> value,
                         std::chrono::milliseconds redis_ttl) {
  Shard& s = shard_for(hash_of(key));
  const TimePoint now = clock_.now();
  std::lock_guard lock(s.mu);
  if (!t.active) {
    // Not coherent, yet Redis answered for this key: a copy kept from an outage must never be
    // served after that (not even in a later outage), whatever Redis said.
    if (auto found = s.index.find(key); found != s.index.end()) remove(s, found->second);
    return false;
  }
  // Redis answered for the key: whatever copy there is goes first (an outage write of this
  // client, above all, must not outlive that answer, whatever it was: a value, nil, or a fill
  // refused below), unless it is an outage write made after this read was sent: newer than the
  // answer, it stays. A fill that succeeds stores the answer instead.
  auto p = s.pending.find(std::string(key));
  const bool overtaken_by_own_write = p != s.pending.end() && p->second.own != t.own;
  if (!overtaken_by_own_write) {
    if (auto found = s.index.find(key); found != s.index.end()) remove(s, found->second);
  }
  const bool invalidated = p == s.pending.end() || p->second.seq != t.seq || overtaken_by_own_write;
  if (p != s.pending.end() && --p->second.count == 0) s.pending.erase(p);
  if (!value) return false;
  if (invalidated || t.epoch != epoch_.load(std::memory_order_acquire) || !coherent()) {
    ++s.fills_refused;
    return false;
  }
  std::chrono::milliseconds life = max_ttl_;
  if (redis_ttl.count() >= 0) life = std::min(life, redis_ttl);
  if (life.count() <= 0) return false;  // expiring now in Redis: nothing to keep
  if (!put(s, key, *value, now + life, t.epoch, Origin::redis)) return false;
  ++s.fills;
  return true;
}

void NearCache::abandon_fill(std::string_view key, const FillToken& t) {
  if (!t.active) return;
  Shard& s = shard_for(hash_of(key));
  std::lock_guard lock(s.mu);
  end_pending(s, key);
}

void NearCache::invalidate(std::string_view key) {
  Shard& s = shard_for(hash_of(key));
  std::lock_guard lock(s.mu);
  if (auto found = s.index.find(key); found != s.index.end()) remove(s, found->second);
  if (auto p = s.pending.find(std::string(key)); p != s.pending.end()) ++p->second.seq;
  ++s.invalidations;
}

std::vector<std::unique_lock<std::mutex>> NearCache::lock_all() {
  std::vector<std::unique_lock<std::mutex>> locks;
  locks.reserve(shards_.size());
  for (auto& sp : shards_) locks.emplace_back(sp->mu);  // always in index order
  return locks;
}

void NearCache::detach_all(Detached& out) {
  out.lists.reserve(shards_.size());
  out.indexes.reserve(shards_.size());
  for (auto& sp : shards_) {
    Shard& s = *sp;
    out.indexes.emplace_back().swap(s.index);  // views into the list's keys: destroyed first
    out.lists.emplace_back().swap(s.window);
    out.lists.emplace_back().swap(s.probation);
    out.lists.emplace_back().swap(s.protected_);
    s.bytes = s.window_bytes = s.protected_bytes = 0;
  }
}

void NearCache::invalidate_all() {
  Detached gone;
  {
    const auto locks = lock_all();
    epoch_.fetch_add(1, std::memory_order_acq_rel);  // fills in flight read flushed data
    flushes_flushall_.fetch_add(1, std::memory_order_relaxed);
    detach_all(gone);
  }
}

void NearCache::coherence_lost() {
  const auto locks = lock_all();
  if (!coherent_.load(std::memory_order_acquire)) return;
  coherent_.store(false, std::memory_order_release);
  epoch_.fetch_add(1, std::memory_order_acq_rel);  // entries stale, fills in flight refused
  flushes_lost_.fetch_add(1, std::memory_order_relaxed);
}

void NearCache::coherence_gained() {
  Detached gone;
  {
    const auto locks = lock_all();
    // Every entry is of an earlier epoch now (nothing can be stored while all locks are held):
    // anything may have changed while nobody listened, so none of it is kept.
    epoch_.fetch_add(1, std::memory_order_acq_rel);
    coherent_.store(true, std::memory_order_release);
    detach_all(gone);
  }
}

NearCache::FillToken NearCache::begin_outage_load(std::string_view key) {
  Shard& s = shard_for(hash_of(key));
  std::lock_guard lock(s.mu);
  const std::uint64_t epoch = epoch_.load(std::memory_order_acquire);
  auto [it, inserted] = s.pending.try_emplace(std::string(key));
  ++it->second.count;
  return FillToken{epoch, it->second.seq, it->second.own,
                   outage_gen_.load(std::memory_order_acquire), true};
}

bool NearCache::end_outage_load(std::string_view key, const FillToken& t, std::string_view value,
                                std::chrono::milliseconds ttl) {
  if (!t.active) return false;
  Shard& s = shard_for(hash_of(key));
  const TimePoint now = clock_.now();
  std::lock_guard lock(s.mu);
  auto p = s.pending.find(std::string(key));
  const bool invalidated = p == s.pending.end() || p->second.seq != t.seq || p->second.own != t.own;
  if (p != s.pending.end() && --p->second.count == 0) s.pending.erase(p);
  // Stored in the epoch it began in, and only while that is an incoherent one: a
  // coherence_gained() in between changes the epoch, and one that follows drops it.
  if (invalidated || coherent() || t.epoch != epoch_.load(std::memory_order_acquire)) return false;
  const std::chrono::milliseconds life = std::min(ttl, max_ttl_);
  if (life.count() <= 0) return false;
  return put(s, key, value, now + life, t.epoch, Origin::loaded);
}

NearCache::WriteResult NearCache::end_outage_write(std::string_view key, const FillToken& t,
                                                   std::optional<std::string_view> value,
                                                   std::chrono::milliseconds ttl,
                                                   Condition condition) {
  Shard& s = shard_for(hash_of(key));
  const TimePoint now = clock_.now();
  std::lock_guard lock(s.mu);
  WriteResult out;
  auto found = s.index.find(key);
  if (found != s.index.end() && !servable_in_outage(*found->second, now)) {
    remove(s, found->second);
    found = s.index.end();
  }
  // As Redis sees it: a key whose TTL ran out does not exist (NX may write, XX may not, a DEL
  // does not count it).
  out.had_copy = found != s.index.end() && now < found->second->fresh_until;
  auto p = s.pending.find(std::string(key));
  // Refused too when the outage ended while the write ran (Redis answered meanwhile).
  const bool invalidated = !t.active || p == s.pending.end() || p->second.seq != t.seq ||
                           t.outage != outage_gen_.load(std::memory_order_acquire);
  if ((condition == Condition::if_absent && out.had_copy) ||
      (condition == Condition::if_present && !out.had_copy)) {
    if (t.active && p != s.pending.end() && --p->second.count == 0) s.pending.erase(p);
    out.declined = true;
    return out;
  }
  if (found != s.index.end()) remove(s, found->second);
  if (p != s.pending.end()) {
    ++p->second.own;  // fills and outage loads in flight read before this write
    if (t.active && --p->second.count == 0) s.pending.erase(p);
  }
  // No epoch check: the copy is never fresh to get(), and the end of its epoch (coherence back)
  // drops it like every other entry.
  if (invalidated || !value) return out;
  const std::chrono::milliseconds life = ttl.count() > 0 ? std::min(ttl, max_ttl_) : max_ttl_;
  out.kept =
      put(s, key, *value, now + life, epoch_.load(std::memory_order_acquire), Origin::written);
  if (out.kept) s.index.find(key)->second->outage_gen = t.outage;
  return out;
}

bool NearCache::servable_in_outage(const Entry& e, TimePoint now) const noexcept {
  if (now >= e.stale_until) return false;
  return e.origin != Origin::written || e.outage_gen == outage_gen_.load(std::memory_order_acquire);
}

NearCacheCounts NearCache::counts() const {
  NearCacheCounts c;
  for (const auto& sp : shards_) {
    const Shard& s = *sp;
    std::lock_guard lock(s.mu);
    c.hits += s.hits;
    c.misses += s.misses;
    c.stale_served += s.stale_served;
    c.fills += s.fills;
    c.fills_refused += s.fills_refused;
    c.invalidations += s.invalidations;
    c.evictions += s.evictions;
    c.bytes += s.bytes;
    c.entries += s.window.size() + s.probation.size() + s.protected_.size();
    c.pending_keys += s.pending.size();
  }
  c.flushes_lost = flushes_lost_.load(std::memory_order_relaxed);
  c.flushes_flushall = flushes_flushall_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace rcache::detail
