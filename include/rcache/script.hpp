// rcache — a Lua script run by its SHA1 (EVALSHA), loaded on demand.
//
// A Script holds the source and its SHA1 (computed once, locally). Client::eval() sends
// EVALSHA; when the server does not know the script (NOSCRIPT: after a restart, SCRIPT FLUSH or
// a failover to a replica that never saw it) the same call sends EVAL with the source, which also
// caches it on that server, and returns that result. So a script costs its source's bytes on the
// wire once per server, not on every call.
//
//   static const rcache::Script bump(R"(return redis.call('INCRBY', KEYS[1], ARGV[1]))");
//   auto r = client.eval(bump, {"counter"}, {"5"});   // Result<Reply>
//
// Keys get Config::key_prefix (and, with a cluster, route the call: every key of one call must
// hash to the same slot); arguments are sent as they are. A script is not idempotent unless you
// say so (Script::Options::idempotent): a script that was sent may have run, so after a
// connection failure it is retried only when it is idempotent. NOSCRIPT is not such a failure:
// the script did not run, so the EVAL that follows is always safe.
//
// Thread safety: a Script is immutable after construction; share it freely.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "rcache/export.hpp"

namespace rcache {

class RCACHE_API Script {
 public:
  struct Options {
    // Safe to run twice (a read, or a write that sets rather than adds): may then be retried
    // after a failure that may have reached the server.
    bool idempotent = false;
  };
  explicit Script(std::string source) : Script(std::move(source), Options{}) {}
  Script(std::string source, Options options);

  const std::string& source() const noexcept { return *source_; }
  // The source, shared with calls in flight (they may outlive this Script).
  const std::shared_ptr<const std::string>& shared_source() const noexcept { return source_; }
  // The SHA1 of the source, 40 lowercase hex digits (what SCRIPT LOAD would answer).
  const std::string& sha1() const noexcept { return sha1_; }
  bool idempotent() const noexcept { return options_.idempotent; }

 private:
  std::shared_ptr<const std::string> source_;
  std::string sha1_;
  Options options_;
};

// The SHA1 of `bytes` as 40 lowercase hex digits.
RCACHE_API std::string sha1_hex(std::string_view bytes);

}  // namespace rcache
