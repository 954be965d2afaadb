// What the pool needs of a connection, and what a connection tells its pool: the seam that lets
// the pool be unit-tested with fake connections (a LinkFactory makes them).
//
// Thread safety: loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/backoff.hpp"
#include "rcache/error.hpp"
#include "transport/request.hpp"

namespace rcache::detail {

enum class LinkState { down, connecting, handshaking, ready, closing, stopped };

// Where a link dials, when that is not the config's host and port (a master found through
// Sentinel, a sentinel itself).
struct Target {
  std::string host;
  int port = 0;
  bool operator==(const Target&) const = default;
};
// "host:port" or "[v6]:port".
std::string endpoint_of(const Target& t);

// A drop id no other drop of any connection of any client has had (never 0).
std::uint64_t fresh_drop_id() noexcept;

class Link {
 public:
  virtual ~Link() = default;
  virtual void start() = 0;
  virtual LinkState state() const noexcept = 0;
  virtual std::size_t index() const noexcept = 0;
  // Requests accepted and not yet answered (abandoned ones included).
  virtual std::size_t pending() const noexcept = 0;
  virtual const Error& last_error() const noexcept = 0;
  // Takes a request; only while accepting().
  virtual void enqueue(Request&& request) = 0;
  // Writes what was enqueued since the last flush.
  virtual void flush() = 0;
  // Waiting to reconnect: do it now.
  virtual void reconnect_now() = 0;
  // Fails everything with `why` and closes for good.
  virtual void stop(const Error& why) = 0;
  // Closes the connection now if it is open (everything pending fails with `why`) and connects
  // again at once, to the observer's target() as it is then.
  virtual void redial(const Error& why) { (void)why; }
  // Makes this a subscriber connection: see Pipeline::set_push_handler. Before start().
  virtual void set_push_handler(Completion on_push) = 0;

  bool accepting() const noexcept {
    const LinkState s = state();
    return s == LinkState::ready || s == LinkState::connecting || s == LinkState::handshaking;
  }
};

class LinkObserver {
 public:
  virtual ~LinkObserver() = default;
  // After every state change of `link` (loop thread).
  virtual void on_link_state(const Link& link, LinkState from, LinkState to) = 0;
  // The reconnect schedule in force now (normal, or the slower probe while disabled).
  virtual BackoffShape reconnect_shape() const = 0;
  // Where the link dials on its next attempt; nullptr: the config's host and port (or socket).
  virtual const Target* target() const { return nullptr; }
  // The link's connections may serve reads as a cluster replica (READONLY in the handshake).
  virtual bool readonly() const { return false; }
  // The id `link` gives what its drop fails (Outcome::drop), asked as it drops from `from`.
  virtual std::uint64_t drop_id(const Link& link, LinkState from) {
    (void)link;
    (void)from;
    return fresh_drop_id();
  }
};

using LinkFactory = std::function<std::unique_ptr<Link>(std::size_t index, LinkObserver& observer)>;

}  // namespace rcache::detail
