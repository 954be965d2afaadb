// rcache — a batch: several commands sent together on one connection, each reply typed.
//
//   rcache::Batch b;
//   auto name = b.hget("user:7", "name");      // Batch::Ref<std::optional<std::string>>
//   auto hits = b.incrby("hits:7", 1);         // Batch::Ref<std::int64_t>
//   b.expire("user:7", std::chrono::hours(1));
//   auto r = client.exec(b);                   // Result<BatchReplies>
//   if (r) { auto n = r->get(hits); ... }      // Result<std::int64_t>
//
// Pipelined (the default): the commands go in one write and their replies come back in order;
// other clients' commands may run between them. Atomic (Batch::atomic(), MULTI ... EXEC): they
// run one after the other with nothing in between. All or nothing, as Redis means it: a command
// Redis refuses while queueing (unknown command, wrong number of arguments) aborts the whole
// transaction and nothing is applied (exec() returns Errc::server naming that command); a
// command that fails while running (WRONGTYPE) fails alone - Redis has no rollback - and the
// others are applied: its own entry in BatchReplies holds the error.
//
// For the resilience layer a batch is one call: one deadline, one breaker verdict, one retry
// budget charge. It is retried after a failure only if every command in it is idempotent
// (GET, SET, DEL, EXPIRE, HSET, HGET... are; INCRBY, HINCRBY and raw commands are not) or it was
// never sent. A command's error reply is that command's result, not the call's: exec() fails
// only when the batch as a whole did (connection, timeout, breaker, an aborted transaction).
//
// Keys get Config::key_prefix (not those of command()); values go through the envelope as in the
// Client's own calls. With a cluster every key of a batch must hash to one slot (use {hash
// tags}); otherwise exec() refuses it before sending, naming two keys of different slots.
//
// WATCH is not offered: on multiplexed connections it would need a dedicated connection held
// across round trips; a Script does a read-modify-write atomically in one round trip instead.
//
// Thread safety: a Batch is a plain value (build it on one thread); exec() may run the same
// Batch from several threads. BatchReplies is a plain value.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "rcache/error.hpp"
#include "rcache/export.hpp"
#include "rcache/reply.hpp"
#include "rcache/types.hpp"

namespace rcache {

namespace detail {
// One command of a batch, as given; the client checks, prefixes and encodes it at exec().
struct BatchEntry {
  enum class Kind {
    get,
    set,
    del,
    exists,
    expire,
    ttl,
    incrby,
    hget,
    hset,
    hgetall,
    hdel,
    hincrby,
    command
  };
  Kind kind = Kind::get;
  std::string key;
  std::vector<std::string> args;  // fields / field-value pairs / raw argv
  SetOptions set;
  std::int64_t number = 0;  // INCRBY/HINCRBY delta, PEXPIRE ms
};
}  // namespace detail

class RCACHE_API Batch {
 public:
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  // Names the reply of one command of this batch, with its type.
  template <class T>
  struct Ref {
    std::size_t index = 0;
  };

  Batch() = default;
  // MULTI ... EXEC instead of a plain pipeline.
  static Batch atomic() {
    Batch b;
    b.atomic_ = true;
    return b;
  }
  bool is_atomic() const noexcept { return atomic_; }

  Ref<std::optional<std::string>> get(std::string_view key);
  Ref<bool> set(std::string_view key, std::string_view value, SetOptions options = {});
  Ref<std::int64_t> del(std::string_view key);
  Ref<bool> exists(std::string_view key);
  Ref<bool> expire(std::string_view key, std::chrono::milliseconds ttl);
  Ref<Ttl> ttl(std::string_view key);
  Ref<std::int64_t> incrby(std::string_view key, std::int64_t delta);
  Ref<std::optional<std::string>> hget(std::string_view key, std::string_view field);
  Ref<std::int64_t> hset(std::string_view key, const Pairs& fields);
  Ref<Pairs> hgetall(std::string_view key);
  Ref<std::int64_t> hdel(std::string_view key, const std::vector<std::string>& fields);
  Ref<std::int64_t> hincrby(std::string_view key, std::string_view field, std::int64_t delta);
  // Any command, argv as given (no key prefix), with the same refusals as Client::command();
  // never retried after it was sent. With a cluster its key is found as for command().
  Ref<Reply> command(std::vector<std::string> argv);

  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }
  void clear() noexcept { entries_.clear(); }
  const std::vector<detail::BatchEntry>& entries() const noexcept { return entries_; }

 private:
  template <class T>
  Ref<T> add(detail::BatchEntry e) {
    entries_.push_back(std::move(e));
    return Ref<T>{entries_.size() - 1};
  }
  std::vector<detail::BatchEntry> entries_;
  bool atomic_ = false;
};

// The replies of an executed Batch, one per command, in order.
class RCACHE_API BatchReplies {
 public:
  using Value =
      std::variant<std::optional<std::string>, bool, std::int64_t, Ttl, Batch::Pairs, Reply>;

  // The typed result of the command `ref` names: its value, or its own error (an error reply,
  // a value that cannot be decoded). A Ref of another batch, or out of range: invalid_argument.
  template <class T>
  Result<T> get(Batch::Ref<T> ref) const {
    if (ref.index >= values_.size()) {
      return Error{Errc::invalid_argument, "BatchReplies::get: no command #" +
                                               std::to_string(ref.index) + " in this batch"};
    }
    const Result<Value>& v = values_[ref.index];
    if (!v.ok()) return v.error();
    if (const T* p = std::get_if<T>(&*v)) return *p;
    return Error{Errc::invalid_argument,
                 "BatchReplies::get: command #" + std::to_string(ref.index) + " has another type"};
  }
  std::size_t size() const noexcept { return values_.size(); }
  // Every command succeeded.
  bool all_ok() const noexcept {
    for (const auto& v : values_) {
      if (!v.ok()) return false;
    }
    return true;
  }
  // Each command's result, untyped.
  const std::vector<Result<Value>>& values() const noexcept { return values_; }

  explicit BatchReplies(std::vector<Result<Value>> values) : values_(std::move(values)) {}

 private:
  std::vector<Result<Value>> values_;
};

}  // namespace rcache
