#include "connection.hpp"

#include <algorithm>
#include <cstring>

#include "socket_options.hpp"
#include "transport.hpp"

namespace rcache::detail {
namespace {

std::string uv_message(int status) { return uv_strerror(status); }

std::uint64_t ms_until(Clock::time_point t, Clock::time_point now) {
  if (t <= now) return 0;
  const auto d = std::chrono::ceil<std::chrono::milliseconds>(t - now);
  return static_cast<std::uint64_t>(d.count());
}

// Every libuv callback goes through this: nothing may throw into libuv.
template <class F>
void guarded(F&& f) noexcept {
  try {
    f();
  } catch (...) {
    // Only std::bad_alloc can get here; the connection state stays consistent because every
    // mutation completes before the next allocation. Dropping the event is the only option.
  }
}

}  // namespace

Connection::Connection(Transport& owner, uv_loop_t* loop, const Config& cfg, std::size_t index)
    : owner_(owner), loop_(loop), cfg_(cfg), index_(index),
      rng_(static_cast<unsigned>(std::random_device{}()) + static_cast<unsigned>(index)) {
  uv_timer_init(loop_, &conn_timer_);
  conn_timer_.data = this;
  uv_timer_init(loop_, &deadline_timer_);
  deadline_timer_.data = this;
  gai_.data = this;
  connect_req_.data = this;
  write_req_.data = this;
  reader_ = create_reader();
}

Connection::~Connection() {
  if (reader_ != nullptr) redisReaderFree(reader_);
}

const std::string& Connection::endpoint() const noexcept { return owner_.endpoint(); }

void Connection::set_state(State s) {
  const State from = state_;
  state_ = s;
  if (from != s) owner_.on_connection_state(*this, from, s);
}

void Connection::start() { connect_now(); }

void Connection::connect_now() {
  set_state(State::connecting);
  redisReaderFree(reader_);
  reader_ = create_reader();
  uv_timer_start(&conn_timer_, on_conn_timer_cb,
                 static_cast<std::uint64_t>(cfg_.connect_timeout.count()), 0);
  if (!cfg_.unix_socket.empty()) {
    uv_pipe_init(loop_, &sock_.pipe, 0);
    sock_.pipe.data = this;
    sock_open_ = true;
    uv_pipe_connect(&connect_req_, &sock_.pipe, cfg_.unix_socket.c_str(), on_connect_cb);
    return;
  }
  sockaddr_storage addr{};
  if (uv_ip4_addr(cfg_.host.c_str(), cfg_.port, reinterpret_cast<sockaddr_in*>(&addr)) == 0 ||
      uv_ip6_addr(cfg_.host.c_str(), cfg_.port, reinterpret_cast<sockaddr_in6*>(&addr)) == 0) {
    connect_addr(reinterpret_cast<const sockaddr*>(&addr));
    return;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  const std::string port = std::to_string(cfg_.port);
  const int rc = uv_getaddrinfo(loop_, &gai_, on_resolved_cb, cfg_.host.c_str(), port.c_str(),
                                &hints);
  if (rc != 0) {
    drop(Error{Errc::connection, "cannot resolve " + cfg_.host + ": " + uv_message(rc)});
    return;
  }
  gai_pending_ = true;
}

void Connection::connect_addr(const sockaddr* addr) {
  uv_tcp_init(loop_, &sock_.tcp);
  sock_.tcp.data = this;
  sock_open_ = true;
  const int rc = uv_tcp_connect(&connect_req_, &sock_.tcp, addr, on_connect_cb);
  if (rc != 0) drop(Error{Errc::connection, "connect to " + endpoint() + ": " + uv_message(rc)});
}

void Connection::on_resolved_cb(uv_getaddrinfo_t* req, int status, addrinfo* res) {
  auto* self = static_cast<Connection*>(req->data);
  guarded([&] {
    self->gai_pending_ = false;
    if (self->state_ != State::connecting) {
      if (self->state_ == State::closing) self->finish_close();
    } else if (status != 0 || res == nullptr) {
      self->drop(Error{Errc::connection,
                       "cannot resolve " + self->cfg_.host + ": " + uv_message(status)});
    } else {
      // Prefer an IPv4 address: "localhost" often resolves to ::1 first while servers are
      // frequently bound to 127.0.0.1 only.
      const addrinfo* chosen = res;
      for (const addrinfo* a = res; a != nullptr; a = a->ai_next) {
        if (a->ai_family == AF_INET) {
          chosen = a;
          break;
        }
      }
      self->connect_addr(chosen->ai_addr);
    }
  });
  if (res != nullptr) uv_freeaddrinfo(res);
}

void Connection::on_connect_cb(uv_connect_t* req, int status) {
  auto* self = static_cast<Connection*>(req->data);
  guarded([&] {
    if (status == UV_ECANCELED || self->state_ != State::connecting) return;
    if (status != 0) {
      self->drop(Error{Errc::connection,
                       "connect to " + self->endpoint() + ": " + uv_message(status)});
      return;
    }
    self->on_connected();
  });
}

void Connection::on_connected() {
  if (cfg_.unix_socket.empty()) {
    uv_tcp_nodelay(&sock_.tcp, 1);
    uv_os_fd_t fd{};
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&sock_.tcp), &fd) == 0) {
      auto r = set_keepalive(fd, cfg_.keepalive_idle, cfg_.keepalive_interval,
                             cfg_.keepalive_count);
      if (!r) {
        drop(std::move(r).error());
        return;
      }
    }
  }
  const int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&sock_), on_alloc_cb, on_read_cb);
  if (rc != 0) {
    drop(Error{Errc::connection, "read from " + endpoint() + ": " + uv_message(rc)});
    return;
  }
  set_state(State::handshaking);

  // AUTH, SELECT, CLIENT SETNAME pipelined in one write; a PING when there is nothing else, so
  // that "ready" always means the server has answered on this connection.
  Request hs;
  std::string hs_wire;
  RespWriter w(hs_wire);
  handshake_steps_.clear();
  if (!cfg_.password.empty()) {
    if (cfg_.username.empty()) {
      w.begin(2);
      w.arg("AUTH");
    } else {
      w.begin(3);
      w.arg("AUTH");
      w.arg(cfg_.username);
    }
    w.arg(cfg_.password);
    handshake_steps_.push_back("AUTH");
  }
  if (cfg_.db != 0) {
    w.begin(2);
    w.arg("SELECT");
    w.arg(cfg_.db);
    handshake_steps_.push_back("SELECT");
  }
  if (!cfg_.client_name.empty()) {
    w.begin(3);
    w.arg("CLIENT");
    w.arg("SETNAME");
    w.arg(cfg_.client_name);
    handshake_steps_.push_back("CLIENT SETNAME");
  }
  if (handshake_steps_.empty()) {
    w.begin(1);
    w.arg("PING");
    handshake_steps_.push_back("PING");
  }
  hs.wire = std::make_shared<const std::string>(std::move(hs_wire));
  hs.replies = static_cast<std::uint32_t>(handshake_steps_.size());
  hs.name = "handshake";
  hs.done = [this](Outcome&& o) { on_handshake(std::move(o)); };
  write_request(std::move(hs));
  flush();
}

void Connection::on_handshake(Outcome&& o) {
  if (state_ != State::handshaking) return;  // failed already; drop() reported why
  if (o.error) {
    drop(std::move(*o.error));
    return;
  }
  for (std::size_t i = 0; i < handshake_steps_.size(); ++i) {
    const redisReply* r = i < o.earlier.size() ? o.earlier[i].get() : o.reply.get();
    if (r != nullptr && r->type == REDIS_REPLY_ERROR) {
      Error e = error_from_reply(*r, handshake_steps_[i]);
      e.message = endpoint() + ": " + e.message;
      drop(std::move(e));
      return;
    }
  }
  uv_timer_stop(&conn_timer_);
  reconnect_attempt_ = 0;
  set_state(State::ready);
  const auto now = Clock::now();
  while (!waiting_.empty()) {
    Request r = std::move(waiting_.front());
    waiting_.pop_front();
    if (r.deadline <= now) {
      complete(r, Error{Errc::timeout, std::string(r.name) + ": no connection to " + endpoint() +
                                           " within the command timeout"});
    } else {
      write_request(std::move(r));
    }
  }
  flush();
}

void Connection::enqueue(Request&& r) {
  arm_deadline(r.deadline);
  if (state_ == State::ready) {
    write_request(std::move(r));
  } else {
    waiting_.push_back(std::move(r));
  }
}

void Connection::write_request(Request&& r) {
  out_.append(*r.wire);
  r.wire.reset();  // the bytes are in out_; a retry holds its own reference
  inflight_.push_back(InFlight{std::move(r), {}, false});
}

void Connection::flush() {
  if (writing_ || out_.empty() || !sock_open_) return;
  if (state_ != State::ready && state_ != State::handshaking) return;
  auto* stream = reinterpret_cast<uv_stream_t*>(&sock_);
  uv_buf_t buf = uv_buf_init(out_.data(), static_cast<unsigned>(out_.size()));
  const int n = uv_try_write(stream, &buf, 1);
  if (n == static_cast<int>(out_.size())) {
    out_.clear();
    return;
  }
  if (n < 0 && n != UV_EAGAIN) {
    drop(Error{Errc::connection, "write to " + endpoint() + ": " + uv_message(n)});
    return;
  }
  const std::size_t done = n > 0 ? static_cast<std::size_t>(n) : 0;
  wbuf_.assign(out_, done, std::string::npos);
  out_.clear();
  buf = uv_buf_init(wbuf_.data(), static_cast<unsigned>(wbuf_.size()));
  const int rc = uv_write(&write_req_, stream, &buf, 1, on_write_cb);
  if (rc != 0) {
    drop(Error{Errc::connection, "write to " + endpoint() + ": " + uv_message(rc)});
    return;
  }
  writing_ = true;
}

void Connection::on_write_cb(uv_write_t* req, int status) {
  auto* self = static_cast<Connection*>(req->data);
  guarded([&] {
    self->writing_ = false;
    self->wbuf_.clear();
    if (self->wbuf_.capacity() > (1u << 20)) std::string().swap(self->wbuf_);
    if (status == UV_ECANCELED) return;
    if (status != 0) {
      self->drop(Error{Errc::connection,
                       "write to " + self->endpoint() + ": " + uv_message(status)});
      return;
    }
    self->flush();
  });
}

void Connection::on_alloc_cb(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(handle->data);
  *buf = uv_buf_init(self->rbuf_, sizeof self->rbuf_);
}

void Connection::on_read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(stream->data);
  guarded([&] {
    if (nread == 0) return;
    if (nread < 0) {
      const int err = static_cast<int>(nread);
      self->drop(Error{Errc::connection,
                       "connection to " + self->endpoint() + " lost: " +
                           (err == UV_EOF ? std::string("server closed the connection")
                                          : uv_message(err))});
      return;
    }
    self->on_data(buf->base, static_cast<std::size_t>(nread));
  });
}

void Connection::on_data(const char* data, std::size_t len) {
  if (redisReaderFeed(reader_, data, len) != REDIS_OK) {
    drop(error_from_reader(*reader_));
    return;
  }
  // Bytes not yet parsed belong to one incomplete element; a legitimate one is at most
  // max_value_size (plus its header). More means a garbage length from a broken server.
  if (reader_->len - reader_->pos > cfg_.max_value_size + 64 * 1024) {
    drop(Error{Errc::protocol, endpoint() + ": reply element larger than max_value_size (" +
                                   std::to_string(cfg_.max_value_size) + " bytes)"});
    return;
  }
  for (;;) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
      Error e = error_from_reader(*reader_);
      e.message = endpoint() + ": " + e.message;
      drop(std::move(e));
      return;
    }
    if (raw == nullptr) return;
    deliver(ReplyPtr(static_cast<redisReply*>(raw)));
    if (state_ != State::ready && state_ != State::handshaking) return;
  }
}

void Connection::deliver(ReplyPtr reply) {
  if (inflight_.empty()) {
    drop(Error{Errc::protocol, endpoint() + ": reply received with no command pending"});
    return;
  }
  InFlight& front = inflight_.front();
  if (front.earlier.size() + 1 < front.request.replies) {
    front.earlier.push_back(std::move(reply));
    return;
  }
  InFlight done = std::move(front);
  inflight_.pop_front();
  if (!done.abandoned) {
    complete(done.request, Outcome{std::nullopt, true, std::move(reply), std::move(done.earlier)});
  }
}

void Connection::drop(Error why) {
  if (state_ == State::closing || state_ == State::stopped || state_ == State::down) return;
  last_error_ = why;
  uv_timer_stop(&conn_timer_);
  uv_timer_stop(&deadline_timer_);
  deadline_armed_ = false;
  set_state(State::closing);
  if (sock_open_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&sock_));
    uv_close(reinterpret_cast<uv_handle_t*>(&sock_), on_sock_closed_cb);
  }
  if (gai_pending_) uv_cancel(reinterpret_cast<uv_req_t*>(&gai_));
  out_.clear();
  // Complete in order; callbacks may submit new requests, which go through the transport queue.
  auto inflight = std::move(inflight_);
  inflight_.clear();
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& f : inflight) {
    if (!f.abandoned) complete(f.request, why, true);
  }
  for (auto& r : waiting) complete(r, why);
  finish_close();
}

void Connection::on_sock_closed_cb(uv_handle_t* handle) {
  auto* self = static_cast<Connection*>(handle->data);
  guarded([&] {
    self->sock_open_ = false;
    self->finish_close();
  });
}

void Connection::finish_close() {
  if (state_ != State::closing || sock_open_ || gai_pending_) return;
  set_state(State::down);
  schedule_reconnect();
}

void Connection::schedule_reconnect() {
  // While the client is disabled, reconnect attempts are its background probe, on a slower
  // schedule.
  const bool probing = owner_.disabled();
  const auto min = static_cast<std::uint64_t>(
      (probing ? cfg_.probe_min : cfg_.reconnect_backoff_min).count());
  const auto max = static_cast<std::uint64_t>(
      (probing ? cfg_.probe_max : cfg_.reconnect_backoff_max).count());
  std::uint64_t delay = min;
  for (unsigned i = 0; i < reconnect_attempt_ && delay < max; ++i) delay *= 2;
  delay = std::min(delay, max);
  // "Equal jitter": somewhere in [delay/2, delay], so a pool does not reconnect in lockstep.
  std::uniform_int_distribution<std::uint64_t> jitter(delay / 2, delay);
  delay = jitter(rng_);
  ++reconnect_attempt_;
  uv_timer_start(&conn_timer_, on_conn_timer_cb, delay, 0);
}

void Connection::reconnect_now() {
  if (state_ == State::down) uv_timer_start(&conn_timer_, on_conn_timer_cb, 0, 0);
}

void Connection::on_conn_timer_cb(uv_timer_t* timer) {
  auto* self = static_cast<Connection*>(timer->data);
  guarded([&] {
    switch (self->state_) {
      case State::down: self->connect_now(); break;
      case State::connecting:
      case State::handshaking:
        self->drop(Error{Errc::timeout,
                         (self->state_ == State::connecting ? "connect to " : "handshake with ") +
                             self->endpoint() + " timed out after " +
                             std::to_string(self->cfg_.connect_timeout.count()) + " ms"});
        break;
      default: break;
    }
  });
}

void Connection::arm_deadline(Clock::time_point t) {
  if (t == Clock::time_point::max()) return;
  if (deadline_armed_ && deadline_at_ <= t) return;
  deadline_armed_ = true;
  deadline_at_ = t;
  uv_timer_start(&deadline_timer_, on_deadline_timer_cb, ms_until(t, Clock::now()), 0);
}

void Connection::on_deadline_timer_cb(uv_timer_t* timer) {
  auto* self = static_cast<Connection*>(timer->data);
  guarded([&] { self->on_deadline(); });
}

void Connection::on_deadline() {
  deadline_armed_ = false;
  const auto now = Clock::now();
  auto timeout_error = [&](const Request& r) {
    return Error{Errc::timeout, std::string(r.name) + ": no reply from " + endpoint() +
                                    " within " + std::to_string(cfg_.command_timeout.count()) +
                                    " ms"};
  };
  // Expired commands not yet written are simply removed.
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->deadline <= now) {
      Request r = std::move(*it);
      it = waiting_.erase(it);
      complete(r, timeout_error(r));
    } else {
      ++it;
    }
  }
  // Written ones are completed but stay, to absorb their replies and keep the order.
  for (auto& f : inflight_) {
    if (!f.abandoned && f.request.deadline <= now) {
      f.abandoned = true;
      Request& r = f.request;
      complete(r, timeout_error(r), true);
      r.done = nullptr;
    }
  }
  // A hung server: the oldest command is past its deadline plus a grace period.
  const auto grace = cfg_.command_timeout;
  if (!inflight_.empty() && inflight_.front().request.deadline != Clock::time_point::max() &&
      inflight_.front().request.deadline + grace <= now) {
    drop(Error{Errc::timeout, "no reply from " + endpoint() + " for " +
                                  std::to_string(2 * cfg_.command_timeout.count()) +
                                  " ms; replacing the connection"});
    return;
  }
  auto next = Clock::time_point::max();
  for (const auto& r : waiting_) next = std::min(next, r.deadline);
  for (const auto& f : inflight_) {
    if (!f.abandoned) next = std::min(next, f.request.deadline);
  }
  if (!inflight_.empty() && inflight_.front().request.deadline != Clock::time_point::max()) {
    next = std::min(next, inflight_.front().request.deadline + grace);
  }
  arm_deadline(next);
}

void Connection::stop(const Error& why) {
  const State before = state_;
  set_state(State::stopped);
  uv_timer_stop(&conn_timer_);
  uv_timer_stop(&deadline_timer_);
  if (before != State::closing && sock_open_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&sock_));
    uv_close(reinterpret_cast<uv_handle_t*>(&sock_), on_sock_closed_cb);
  }
  if (gai_pending_) uv_cancel(reinterpret_cast<uv_req_t*>(&gai_));
  uv_close(reinterpret_cast<uv_handle_t*>(&conn_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&deadline_timer_), nullptr);
  auto inflight = std::move(inflight_);
  inflight_.clear();
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& f : inflight) {
    if (!f.abandoned) complete(f.request, why, true);
  }
  for (auto& r : waiting) complete(r, why);
}

}  // namespace rcache::detail
