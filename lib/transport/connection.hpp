// One pipelined connection to the endpoint over libuv: connects, reads, writes, closes and runs
// timers; everything else (request states, reply matching, deadlines) is its Pipeline's.
//
// Lifecycle: down -> connecting (resolve + connect) -> handshaking (with TLS: the TLS handshake
// first, through a TlsSession; then AUTH, SELECT, CLIENT SETNAME; both within connect_timeout)
// -> ready. Any failure fails every request it holds with the error (Pipeline::fail_all), closes
// the socket and, after a jittered exponential backoff (the observer's reconnect_shape()), connects
// again; the backoff starts over once a connection has answered a call. stop() fails everything
// with `shutdown` and closes every handle for good. With TLS, the pipeline's bytes are encrypted
// as a whole when flushed (so counted as handed on), and records are written at once or queued
// behind the write in flight.
//
// libuv handles (libuv's rule: a handle's memory may go only after its close callback ran):
//   sock_            tcp or pipe; opened by connect_now(), closed by drop()/stop() with uv_close;
//                    on_sock_closed_cb clears sock_open_.
//   gai_             a resolve request; cancelled by drop()/stop(); its callback always runs.
//   conn_timer_      connect+handshake timeout and reconnect delay; closed by stop().
//   deadline_timer_  request deadlines; closed by stop().
// All four live inside the Connection, so the Connection must outlive the loop's last turn: the
// Transport destroys connections only after uv_run() has returned (every handle closed).
//
// Thread safety: loop thread only (constructed before the loop thread starts).
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>

#include "base/backoff.hpp"
#include "base/clock.hpp"
#include "protocol/handshake.hpp"
#include "rcache/config.hpp"
#include "transport/link.hpp"
#include "transport/pipeline.hpp"
#include "transport/tls.hpp"

namespace rcache::detail {

class Connection final : public Link {
 public:
  // cfg, clock, observer must outlive the Connection.
  // `tls`: when set, every connection attempt runs a TLS handshake before the RESP one.
  Connection(LinkObserver& observer, uv_loop_t* loop, const Config& cfg, const ClockSource& clock,
             std::string endpoint, std::size_t index, std::shared_ptr<TlsContext> tls = nullptr);
  ~Connection() override = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start() override { connect_now(); }
  LinkState state() const noexcept override { return state_; }
  std::size_t index() const noexcept override { return index_; }
  std::size_t pending() const noexcept override { return pipeline_.pending(); }
  const Error& last_error() const noexcept override { return last_error_; }
  void enqueue(Request&& request) override;
  void flush() override;
  void reconnect_now() override;
  void stop(const Error& why) override;
  void redial(const Error& why) override;
  void set_push_handler(Completion on_push) override {
    pipeline_.set_push_handler(std::move(on_push));
  }

 private:
  void connect_now();
  void connect_addr(const sockaddr* addr);
  void on_connected();
  void on_handshake(Outcome&& outcome);
  void drop(Error why);
  void close_socket();
  void finish_close();
  void schedule_reconnect();
  void arm_deadline(TimePoint t);
  void on_deadline();
  void set_state(LinkState s);
  void start_resp_handshake();
  // Bytes for the socket (ciphertext with TLS): written now if possible, else queued behind the
  // write in progress. False if the connection was dropped.
  bool write_out(std::string_view bytes);
  bool write_tls_output();
  // Said of a connection lost between the TLS handshake and the first reply; else empty.
  std::string handshake_hint() const;
  void on_plaintext(const char* data, std::size_t len);

  static void on_resolved_cb(uv_getaddrinfo_t* req, int status, addrinfo* res);
  static void on_connect_cb(uv_connect_t* req, int status);
  static void on_alloc_cb(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write_cb(uv_write_t* req, int status);
  static void on_conn_timer_cb(uv_timer_t* timer);
  static void on_deadline_timer_cb(uv_timer_t* timer);
  static void on_sock_closed_cb(uv_handle_t* handle);

  LinkObserver& observer_;
  uv_loop_t* loop_;
  const Config& cfg_;
  const ClockSource& clock_;
  std::string endpoint_;  // of the current attempt
  const std::size_t index_;
  std::string host_;  // dialled by the current attempt: the observer's target, or the config's
  int port_ = 0;
  bool redial_now_ = false;
  LinkState state_ = LinkState::down;
  Error last_error_{};
  Pipeline pipeline_;
  Handshake handshake_;

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
  std::string wbuf_;    // what a short uv_try_write left, owned until on_write_cb
  std::string queued_;  // bytes written while wbuf_ was in flight (TLS records)
  std::shared_ptr<TlsContext> tls_ctx_;
  std::unique_ptr<TlsSession> tls_;  // this attempt's session (TLS only)
  std::string tls_plain_;            // decrypted bytes of one read
  uv_timer_t conn_timer_{};          // connect+handshake timeout, and reconnect backoff
  uv_timer_t deadline_timer_{};      // request deadlines
  bool deadline_armed_ = false;
  TimePoint deadline_at_{};
  char rbuf_[64 * 1024];

  int reconnect_attempt_ = 0;
  std::uint64_t served_at_handshake_ = 0;  // pipeline_.delivered() when it became ready
  Backoff reconnect_backoff_;
};

}  // namespace rcache::detail
