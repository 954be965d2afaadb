// One pipelined connection to the endpoint, driven by the transport's loop.
//
// Lifecycle: down -> connecting (resolve + connect) -> handshaking (AUTH, SELECT, CLIENT SETNAME)
// -> ready. Any failure fails every command it holds with the error, closes the socket and, after
// a jittered exponential backoff, connects again. stop() fails everything with `shutdown` and
// closes all handles.
//
// Commands accepted while connecting wait in `waiting_` and are written once the handshake is
// done. Written commands wait in `inflight_` in send order; replies are matched front to back.
// A command that times out is completed with Errc::timeout and left in place as an abandoned
// entry that absorbs its late reply. If the oldest command stays unanswered for its timeout plus
// a grace period (command_timeout), the server is considered hung and the connection replaced.
//
// Thread safety: loop thread only (constructed before the loop thread starts).
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "rcache/config.hpp"
#include "request.hpp"

namespace rcache::detail {

class Transport;

class Connection {
 public:
  enum class State { down, connecting, handshaking, ready, closing, stopped };

  Connection(Transport& owner, uv_loop_t* loop, const Config& cfg, std::size_t index);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start();
  State state() const noexcept { return state_; }
  bool accepting() const noexcept {
    return state_ == State::ready || state_ == State::connecting ||
           state_ == State::handshaking;
  }
  const Error& last_error() const noexcept { return last_error_; }
  std::size_t index() const noexcept { return index_; }
  // Commands accepted and not yet answered (or abandoned).
  std::size_t pending() const noexcept { return inflight_.size() + waiting_.size(); }

  // Takes a request; only when accepting().
  void enqueue(Request&& request);
  // Writes what was enqueued since the last flush, in one write.
  void flush();
  // Waiting to reconnect: do it now (the pool just found the server reachable again).
  void reconnect_now();
  // Fails everything with `why` and closes every handle for good.
  void stop(const Error& why);

 private:
  struct InFlight {
    Request request;
    std::vector<ReplyPtr> earlier;
    bool abandoned = false;  // completed by its deadline; still owed a reply
  };

  void connect_now();
  void connect_addr(const sockaddr* addr);
  void on_connected();
  void on_handshake(Outcome&& outcome);
  void on_data(const char* data, std::size_t len);
  void deliver(ReplyPtr reply);
  void drop(Error why);
  void finish_close();
  void schedule_reconnect();
  void arm_deadline(Clock::time_point t);
  void on_deadline();
  void write_request(Request&& request);
  void set_state(State s);
  const std::string& endpoint() const noexcept;

  static void on_resolved_cb(uv_getaddrinfo_t* req, int status, addrinfo* res);
  static void on_connect_cb(uv_connect_t* req, int status);
  static void on_alloc_cb(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write_cb(uv_write_t* req, int status);
  static void on_conn_timer_cb(uv_timer_t* timer);
  static void on_deadline_timer_cb(uv_timer_t* timer);
  static void on_sock_closed_cb(uv_handle_t* handle);

  Transport& owner_;
  uv_loop_t* loop_;
  const Config& cfg_;
  std::size_t index_;
  State state_ = State::down;
  Error last_error_{};

  union Socket {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } sock_{};
  bool sock_open_ = false;
  uv_getaddrinfo_t gai_{};
  bool gai_pending_ = false;
  uv_connect_t connect_req_{};
  uv_write_t write_req_{};
  bool writing_ = false;
  uv_timer_t conn_timer_{};     // connect+handshake timeout, and reconnect backoff
  uv_timer_t deadline_timer_{}; // command deadlines
  bool deadline_armed_ = false;
  Clock::time_point deadline_at_{};

  redisReader* reader_ = nullptr;
  std::string out_;   // encoded commands not yet handed to the socket
  std::string wbuf_;  // bytes of the write in progress
  char rbuf_[64 * 1024];

  std::deque<Request> waiting_;
  std::deque<InFlight> inflight_;
  std::vector<const char*> handshake_steps_;

  unsigned reconnect_attempt_ = 0;
  std::minstd_rand rng_;
};

}  // namespace rcache::detail
