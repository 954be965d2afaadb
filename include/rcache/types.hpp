// rcache — small value types of the string commands: SET options and a key's remaining TTL.
//
// Thread safety: plain value types.
#pragma once

#include <chrono>

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

}  // namespace rcache
