// The pure logic of one pipelined connection: bytes and deadlines in, completions out.
//
// No socket, no libuv, no clock: the connection feeds it what the socket and the timers say, and
// writes the bytes it prepares. A request is in exactly one of these states:
//
//   waiting    accepted, bytes not yet prepared (the connection is not open, or it is the next
//              batch); expiry removes it: completed with Errc::timeout, sent = false
//   staged     its bytes are in the write buffer, not all handed to the socket yet
//   written    all its bytes were handed to the socket (commit_write): it may run on the server
//   abandoned  written (or staged) and completed by its deadline with Errc::timeout, sent = true;
//              it stays in place to absorb its late reply, so replies stay matched in order
//   lost       fail_all(): completed with the error; sent = true only if it was written
//
// Replies are matched front to back; a multi-command request completes with its last reply.
// A reply with nothing pending, or for a request whose bytes were never handed to the socket, is
// a broken stream, and so are bytes that arrive when nothing is pending at all (a server cannot
// stream into an idle connection), and a reply larger than the reply budget. Except on a
// subscriber connection (set_push_handler): there a pub/sub message (is_pubsub_message), or any
// reply with nothing in flight, is pushed and goes to the handler, so commands whose replies
// cannot look like a message (SUBSCRIBE, PING, CLIENT ...) may be in flight on it. The server is
// considered hung when the oldest request in flight (abandoned ones included) is unanswered for its
// deadline plus `hung_after`.
//
// Completions run after the pipeline's state is consistent (at the end of each call), so a
// completion may call back into the pipeline (push, fail_all).
//
// Thread safety: one thread (the loop thread); not shared.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "protocol/resp.hpp"
#include "rcache/error.hpp"
#include "transport/request.hpp"

namespace rcache::detail {

class Pipeline {
 public:
  struct Limits {
    // Memory one reply under construction may take (its objects plus its unparsed bytes, see
    // ReplyBudget); past it the stream is broken. Named max_value_size in messages because the
    // connection derives it from that setting.
    std::size_t reply_budget = std::size_t{65} * 1024 * 1024;
    // Grace after the oldest in-flight deadline before the server counts as hung; zero: never.
    std::chrono::milliseconds hung_after{100};
    // Named in timeout messages ("no reply ... within N ms").
    std::chrono::milliseconds command_timeout{100};
  };

  Pipeline(Limits limits, std::string endpoint);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // A request to send once the connection is open.
  void push(Request&& request);
  // The handshake of a new connection: prepared ahead of everything else and, until open(), alone.
  void push_handshake(Request&& request);
  // The server's name in messages, for the next connection (a target that moved).
  void set_endpoint(std::string endpoint) { endpoint_ = std::move(endpoint); }
  // Makes this a subscriber connection: replies with nothing in flight go to `on_push` (as
  // Outcome::reply), each within the same reply budget as any reply.
  void set_push_handler(Completion on_push) { on_push_ = std::move(on_push); }
  // Waiting requests may be written from now on (the handshake succeeded).
  void open() noexcept { open_ = true; }
  bool is_open() const noexcept { return open_; }

  // The bytes to hand to the socket next: what a short write left over, else the handshake and
  // (when open) every waiting request. Empty: nothing to write. Valid until the next call.
  std::string_view prepare_write();
  // `n` bytes of the view from prepare_write() were handed to the socket.
  void commit_write(std::size_t n) noexcept;

  // Bytes read from the socket. An Error means the stream is broken (garbage, a reply nothing
  // asked for, an element over max_unparsed): the caller fails everything with it and closes.
  std::optional<Error> consume(const char* data, std::size_t len);

  // Completes what is due at `now`. An Error means the server is hung: fail everything, close.
  std::optional<Error> expire(TimePoint now);
  // When expire() next has something to do; TimePoint::max() if never.
  TimePoint next_deadline() const noexcept;

  // The connection is gone: everything pending completes with `why` (written ones with
  // sent = true) and `drop` as Outcome::drop; the pipeline is then empty, closed and ready for a
  // new connection.
  void fail_all(const Error& why, std::uint64_t drop = 0);

  std::size_t pending() const noexcept { return waiting_.size() + in_flight_.size(); }
  std::size_t waiting() const noexcept { return waiting_.size(); }
  std::size_t in_flight() const noexcept { return in_flight_.size(); }
  std::size_t abandoned() const noexcept { return abandoned_; }
  // Requests completed with a reply so far (the handshake included), over every connection.
  std::uint64_t delivered() const noexcept { return delivered_; }

 private:
  struct Entry {
    Request request;
    std::vector<ReplyPtr> earlier;
    std::uint64_t end = 0;  // stream offset just past its bytes
    bool abandoned = false;
  };
  struct Done {
    Completion done;
    Outcome outcome;
  };

  void stage(Request&& r);
  std::optional<Error> deliver(ReplyPtr reply, std::vector<Done>& out);
  Error timeout_error(const Request& r) const;
  Error over_budget() const;
  static Error named(const Request& r, const Error& why);
  static void run(std::vector<Done>& done) noexcept;

  const Limits limits_;
  std::string endpoint_;
  ReplyBudget budget_;
  redisReader* reader_ = nullptr;
  bool open_ = false;
  std::optional<Request> handshake_;
  std::deque<Request> waiting_;
  std::deque<Entry> in_flight_;
  std::size_t abandoned_ = 0;
  std::string buffer_;              // prepared bytes
  std::size_t buffer_handed_ = 0;   // of buffer_, handed to the socket
  std::uint64_t staged_total_ = 0;  // stream offsets
  std::uint64_t handed_total_ = 0;
  std::uint64_t delivered_ = 0;
  Completion on_push_;  // subscriber connections only
};

}  // namespace rcache::detail
