// What the degraded modes read and drive: one pool, or a cluster's pools taken together.
//
// Thread safety: every member from any thread.
#pragma once

#include <cstddef>
#include <string>

#include "rcache/error.hpp"

namespace rcache::detail {

class Reachability {
 public:
  virtual ~Reachability() = default;
  // Ready connections; 0 while Redis cannot be reached.
  virtual std::size_t ready() const noexcept = 0;
  // The most recent connection error (empty message if none), and as status shows it.
  virtual Error last_error() const = 0;
  virtual std::string last_error_text() const = 0;
  // What to name in messages ("127.0.0.1:6379", "cluster 127.0.0.1:7000,...").
  virtual std::string where() const = 0;
  // Probing: reconnects follow the slower probe schedule (Config::probe_min..probe_max).
  virtual void set_probing(bool on) noexcept = 0;
};

}  // namespace rcache::detail
