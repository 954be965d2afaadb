// rcache — pub/sub: a Subscriber on a connection of its own. Publishing is Client::publish.
//
//   auto sub = rcache::Subscriber::create(client).value();
//   sub->subscribe("orders", [](const rcache::Message& m) { handle(m.payload); });
//
// A Subscriber keeps one dedicated connection to the client's Redis (same endpoint, TLS, AUTH/ACL
// user; with Sentinel the current master; with a cluster any reachable node, since Redis forwards
// classic pub/sub over the cluster bus), on the client's loop thread. When that connection drops
// or the server restarts it reconnects by itself (the client's reconnect backoff) and subscribes
// every channel and pattern again. Pub/sub is at-most-once: messages published while it was away
// are lost, and SubscriberOptions::on_resubscribed says when that may have happened.
//
// Handlers run on the client's loop thread, one message at a time, in the order Redis sent them.
// A handler must not block: while it runs, no other call of this Client makes progress. The
// Message's views are valid only during the call (copy what you keep). An exception it throws
// is caught and discarded; delivery goes on.
//
// Memory is bounded: messages are not queued in the process. Each is handed to its handler as it
// is read from the socket; a subscriber whose handlers cannot keep up stops reading, the kernel's
// buffers fill and Redis's client-output-buffer-limit for pubsub (default 32 MB hard, 8 MB for
// 60 s) closes the connection. The Subscriber then reconnects, subscribes again and calls
// on_resubscribed: what Redis dropped is lost.
//
// Lifetime: a Subscriber must not outlive its Client (destroy it first). Destroying the Client
// first is a misuse; the Subscriber then stays inert (calls fail with Errc::shutdown) and may
// still be destroyed.
//
// Thread safety: every member function may be called from any thread, concurrently, except
// from the client's loop thread (a handler, an rcache callback) for the blocking ones
// (subscribe, unsubscribe and their pattern forms), which would wait for themselves and are
// refused with Errc::invalid_argument. The destructor may run anywhere, a handler included.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rcache/error.hpp"
#include "rcache/export.hpp"

namespace rcache {

class Client;

namespace detail {
class ClientCore;
class SubscriberCore;
}  // namespace detail

// One message. Binary-safe; the views are valid only while the handler runs.
struct Message {
  std::string_view channel;  // the channel it was published on
  std::string_view pattern;  // the pattern that matched it (psubscribe); empty for subscribe
  std::string_view payload;
};

// Runs on the client's loop thread (see above).
using MessageHandler = std::function<void(const Message&)>;

struct SubscriberOptions {
  // Called on the loop thread each time the Subscriber has subscribed its channels and patterns
  // again on a new connection after losing one: messages published in between were lost (resync
  // what you derive from them). Not called for the first connection, nor when nothing was
  // subscribed. Exceptions are discarded.
  std::function<void()> on_resubscribed;
};

struct SubscriberStatus {
  bool connected = false;          // subscribed on a live connection (everything confirmed)
  std::size_t channels = 0;        // channels subscribed (or being subscribed)
  std::size_t patterns = 0;        // patterns subscribed (or being subscribed)
  std::uint64_t messages = 0;      // messages handed to a handler
  std::uint64_t unrouted = 0;      // messages for no channel or pattern of ours (late ones)
  std::uint64_t resubscribes = 0;  // times everything was subscribed again on a new connection
  std::uint64_t reconnects = 0;    // connections lost
  std::uint64_t bad_frames = 0;    // frames that were not pub/sub frames (ignored)
  std::string last_error;          // the latest connection loss or refusal; "" if none
};

class RCACHE_API Subscriber {
 public:
  // Opens the dedicated connection and waits (at most connect_timeout + command_timeout) for its
  // first outcome. A refusal by the server (Errc::auth: wrong password or ACL user; Errc::tls) is
  // returned; an unreachable server is not an error here (the Subscriber keeps trying and
  // subscribe() reports it). Errc::invalid_argument from the loop thread.
  static Result<std::unique_ptr<Subscriber>> create(Client& client, SubscriberOptions options = {});

  // Closes the connection (Redis forgets its subscriptions with it). When it returns, no handler
  // of this Subscriber runs any more (unless called from a handler: then after that one returns).
  ~Subscriber();
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  // SUBSCRIBE / PSUBSCRIBE: returns once Redis confirmed every name, or with the first error
  // (then none of the names new to this call stays subscribed). Bounded by the client's
  // deadline (Config::deadline, or a CallDeadline scope). One handler per channel (per pattern):
  // subscribing again replaces it. A message matching a channel and a pattern of ours is
  // delivered to both, as Redis sends it twice. At least one name; no empty name. Without a
  // connection (Redis down, restarting) the call makes an attempt at once and fails with its
  // error (Errc::connection, auth, ...), or Errc::timeout at the deadline.
  Result<void> subscribe(std::string_view channel, MessageHandler handler);
  Result<void> subscribe(const std::vector<std::string>& channels, MessageHandler handler);
  Result<void> psubscribe(std::string_view pattern, MessageHandler handler);
  Result<void> psubscribe(const std::vector<std::string>& patterns, MessageHandler handler);

  // UNSUBSCRIBE / PUNSUBSCRIBE: returns once Redis confirmed (a name that was not subscribed is
  // not an error); from then on no handler of these names runs. The names are forgotten even if
  // Redis does not answer (an error is still returned, and a late message is counted unrouted).
  // Without a connection it returns at once: nothing will be subscribed again.
  Result<void> unsubscribe(std::string_view channel);
  Result<void> unsubscribe(const std::vector<std::string>& channels);
  Result<void> punsubscribe(std::string_view pattern);
  Result<void> punsubscribe(const std::vector<std::string>& patterns);

  // Cheap: no I/O.
  SubscriberStatus status() const;

 private:
  RCACHE_LOCAL Subscriber(detail::ClientCore& client, std::shared_ptr<detail::SubscriberCore> core);
  detail::ClientCore* client_;  // read only while the client is alive (!core_->gone())
  std::shared_ptr<detail::SubscriberCore> core_;
};

}  // namespace rcache
