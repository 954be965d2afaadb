// One pipelined connection over libuv: connect, handshake, read, write, timers, reconnect.
#include "transport/connection.hpp"

#include <algorithm>
#include <atomic>

#include "transport/socket_options.hpp"

namespace rcache::detail {
namespace {

std::string uv_message(int status) {
  return uv_strerror(status);
}

std::uint64_t ms_until(TimePoint t, TimePoint now) {
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

Pipeline::Limits limits_of(const Config& cfg) {
  Pipeline::Limits l;
  // A reply holds at most one value of max_value_size (MGET: all its values together) plus its
  // framing; 1 MiB covers the framing of ~16k elements.
  l.reply_budget = cfg.max_value_size + (std::size_t{1} << 20);
  l.hung_after = cfg.command_timeout;
  l.command_timeout = cfg.command_timeout;
  return l;
}

}  // namespace

std::uint64_t fresh_drop_id() noexcept {
  // Process-wide: a drop id is never reused, by any connection of any client.
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

Connection::Connection(LinkObserver& observer, uv_loop_t* loop, const Config& cfg,
                       const ClockSource& clock, std::string endpoint, std::size_t index,
                       std::shared_ptr<TlsContext> tls)
    : observer_(observer),
      loop_(loop),
      cfg_(cfg),
      clock_(clock),
      endpoint_(std::move(endpoint)),
      index_(index),
      host_(cfg.host),
      port_(cfg.port),
      pipeline_(limits_of(cfg), endpoint_),
      handshake_(build_handshake(cfg, observer.readonly())),
      tls_ctx_(std::move(tls)),
      reconnect_backoff_(observer.reconnect_shape(),
                         static_cast<std::uint64_t>(std::random_device{}()) + index) {
  uv_timer_init(loop_, &conn_timer_);
  conn_timer_.data = this;
  uv_timer_init(loop_, &deadline_timer_);
  deadline_timer_.data = this;
  gai_.data = this;
  connect_req_.data = this;
  write_req_.data = this;
}

void Connection::set_state(LinkState s) {
  const LinkState from = state_;
  state_ = s;
  if (from != s) observer_.on_link_state(*this, from, s);
}

void Connection::on_connected() {
  if (cfg_.unix_socket.empty()) {
    uv_tcp_nodelay(&sock_.tcp, 1);
    uv_os_fd_t fd{};
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&sock_.tcp), &fd) == 0) {
      auto r =
          set_keepalive(fd, cfg_.keepalive_idle, cfg_.keepalive_interval, cfg_.keepalive_count);
      if (!r) {
        drop(std::move(r).error());
        return;
      }
    }
  }
  const int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&sock_), on_alloc_cb, on_read_cb);
  if (rc != 0) {
    drop(Error{Errc::connection, "read from " + endpoint_ + ": " + uv_message(rc)});
    return;
  }
  set_state(LinkState::handshaking);
  if (tls_ctx_) {
    // TLS first; the RESP handshake follows once it is established (on_read_cb). Both run
    // under connect_timeout (conn_timer_).
    const std::string& name = cfg_.tls_server_name.empty() ? host_ : cfg_.tls_server_name;
    tls_ = std::make_unique<TlsSession>(tls_ctx_, name, endpoint_);
    if (auto r = tls_->start(); !r) {
      drop(std::move(r).error());
      return;
    }
    write_tls_output();
    return;
  }
  start_resp_handshake();
}

void Connection::start_resp_handshake() {
  Request hs;
  hs.wire = std::make_shared<const std::string>(handshake_.wire);
  hs.replies = static_cast<std::uint32_t>(handshake_.steps.size());
  hs.name = "handshake";
  hs.done = [this](Outcome&& o) { on_handshake(std::move(o)); };
  pipeline_.push_handshake(std::move(hs));
  flush();
}

void Connection::on_handshake(Outcome&& o) {
  if (state_ != LinkState::handshaking) return;  // failed already; drop() reported why
  if (o.error) {
    drop(std::move(*o.error));
    return;
  }
  if (auto r = check_handshake(handshake_, o.earlier, o.reply.get(), endpoint_); !r) {
    drop(std::move(r).error());
    return;
  }
  uv_timer_stop(&conn_timer_);
  // The reconnect backoff starts over once this connection has answered a call, not at the
  // handshake: a server that breaks the stream right after every handshake is retried on the
  // growing schedule instead of every 50 ms.
  served_at_handshake_ = pipeline_.delivered();
  pipeline_.open();
  set_state(LinkState::ready);
  on_deadline();  // requests whose deadline passed while connecting end now, unsent
  flush();
}

void Connection::enqueue(Request&& r) {
  arm_deadline(r.deadline);
  pipeline_.push(std::move(r));
}

void Connection::flush() {
  if (writing_ || !sock_open_) return;
  if (state_ != LinkState::ready && state_ != LinkState::handshaking) return;
  if (tls_ != nullptr && !tls_->established()) return;
  auto* stream = reinterpret_cast<uv_stream_t*>(&sock_);
  const std::string_view bytes = pipeline_.prepare_write();
  if (bytes.empty()) return;
  if (tls_ != nullptr) {
    // Encrypted in full (a memory BIO takes it all), so handed on as far as the pipeline is
    // concerned; the records go to the socket now or behind the write in progress.
    if (auto r = tls_->send(bytes); !r) {
      drop(std::move(r).error());
      return;
    }
    pipeline_.commit_write(bytes.size());
    write_tls_output();
    return;
  }
  uv_buf_t buf = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
  const int n = uv_try_write(stream, &buf, 1);
  if (n < 0 && n != UV_EAGAIN) {
    drop(Error{Errc::connection, "write to " + endpoint_ + ": " + uv_message(n)});
    return;
  }
  const std::size_t done = n > 0 ? static_cast<std::size_t>(n) : 0;
  pipeline_.commit_write(done);
  if (done == bytes.size()) return;
  // A short write: the rest goes through uv_write, which owns a copy until its callback. Handed
  // to libuv counts as sent: some of it may reach the server whatever happens next.
  wbuf_.assign(bytes.substr(done));
  pipeline_.commit_write(wbuf_.size());
  buf = uv_buf_init(wbuf_.data(), static_cast<unsigned>(wbuf_.size()));
  const int rc = uv_write(&write_req_, stream, &buf, 1, on_write_cb);
  if (rc != 0) {
    drop(Error{Errc::connection, "write to " + endpoint_ + ": " + uv_message(rc)});
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
      self->drop(Error{Errc::connection, "write to " + self->endpoint_ + ": " + uv_message(status) +
                                             self->handshake_hint()});
      return;
    }
    if (!self->queued_.empty()) {
      std::string q;
      q.swap(self->queued_);
      if (!self->write_out(q) || self->writing_) return;
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
      std::string why =
          err == UV_EOF ? std::string("server closed the connection") : uv_message(err);
      if (self->tls_ != nullptr && !self->tls_->established()) {
        why += " during the TLS handshake (is it a TLS port?)";
      } else {
        why += self->handshake_hint();
      }
      self->drop(Error{Errc::connection, "connection to " + self->endpoint_ + " lost: " + why});
      return;
    }
    if (self->state_ != LinkState::ready && self->state_ != LinkState::handshaking) return;
    const auto n = static_cast<std::size_t>(nread);
    if (self->tls_ == nullptr) {
      self->on_plaintext(buf->base, n);
      return;
    }
    self->tls_plain_.clear();
    const bool was_established = self->tls_->established();
    if (auto r = self->tls_->feed(buf->base, n, self->tls_plain_); !r) {
      self->drop(std::move(r).error());
      return;
    }
    if (!self->write_tls_output()) return;
    if (!was_established && self->tls_->established()) self->start_resp_handshake();
    if (!self->tls_plain_.empty())
      self->on_plaintext(self->tls_plain_.data(), self->tls_plain_.size());
    if (self->tls_plain_.capacity() > (std::size_t{1} << 20)) std::string().swap(self->tls_plain_);
  });
}

void Connection::on_plaintext(const char* data, std::size_t len) {
  if (state_ != LinkState::ready && state_ != LinkState::handshaking) return;
  if (auto broken = pipeline_.consume(data, len)) drop(std::move(*broken));
}

std::string Connection::handshake_hint() const {
  if (state_ != LinkState::handshaking) return "";
  // A plaintext client on a TLS-only port: the server's TLS layer refuses the RESP bytes and
  // resets or closes before any reply.
  if (tls_ == nullptr)
    return " before answering the handshake (if that port only accepts TLS, use rediss:// or set "
           "tls = true)";
  // TLS 1.3 ends the client's handshake before the server has checked it: a server that wants a
  // client certificate refuses right after, often as a reset of the client's first write.
  if (!tls_->established()) return "";
  return " right after the TLS handshake (does the server require a client certificate? set "
         "tls_cert_file and tls_key_file)";
}

bool Connection::write_tls_output() {
  if (tls_ == nullptr || !tls_->has_output()) return true;
  const std::string out = tls_->take_output();
  return write_out(out);
}

bool Connection::write_out(std::string_view bytes) {
  if (bytes.empty()) return true;
  if (!sock_open_) return false;
  if (writing_) {
    queued_.append(bytes);
    return true;
  }
  auto* stream = reinterpret_cast<uv_stream_t*>(&sock_);
  uv_buf_t buf = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
  const int n = uv_try_write(stream, &buf, 1);
  if (n < 0 && n != UV_EAGAIN) {
    drop(
        Error{Errc::connection, "write to " + endpoint_ + ": " + uv_message(n) + handshake_hint()});
    return false;
  }
  const std::size_t done = n > 0 ? static_cast<std::size_t>(n) : 0;
  if (done == bytes.size()) return true;
  wbuf_.assign(bytes.substr(done));
  buf = uv_buf_init(wbuf_.data(), static_cast<unsigned>(wbuf_.size()));
  const int rc = uv_write(&write_req_, stream, &buf, 1, on_write_cb);
  if (rc != 0) {
    drop(Error{Errc::connection,
               "write to " + endpoint_ + ": " + uv_message(rc) + handshake_hint()});
    return false;
  }
  writing_ = true;
  return true;
}

void Connection::close_socket() {
  if (sock_open_ && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&sock_))) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&sock_));
    uv_close(reinterpret_cast<uv_handle_t*>(&sock_), on_sock_closed_cb);
  }
  if (gai_pending_) uv_cancel(reinterpret_cast<uv_req_t*>(&gai_));
}

void Connection::drop(Error why) {
  if (state_ == LinkState::closing || state_ == LinkState::stopped || state_ == LinkState::down) {
    return;
  }
  last_error_ = std::move(why);
  if (state_ == LinkState::ready && pipeline_.delivered() != served_at_handshake_) {
    reconnect_attempt_ = 0;
  }
  uv_timer_stop(&conn_timer_);
  uv_timer_stop(&deadline_timer_);
  deadline_armed_ = false;
  const std::uint64_t id = observer_.drop_id(*this, state_);
  set_state(LinkState::closing);
  close_socket();
  // Completions may submit new requests; those go through the transport's queue.
  pipeline_.fail_all(last_error_, id);
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
  if (state_ != LinkState::closing || sock_open_ || gai_pending_) return;
  set_state(LinkState::down);
  schedule_reconnect();
}

void Connection::schedule_reconnect() {
  if (redial_now_) {
    redial_now_ = false;
    uv_timer_start(&conn_timer_, on_conn_timer_cb, 0, 0);
    return;
  }
  reconnect_backoff_.reshape(observer_.reconnect_shape());
  const auto delay = reconnect_backoff_.delay(++reconnect_attempt_);
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(delay).count();
  uv_timer_start(&conn_timer_, on_conn_timer_cb, static_cast<std::uint64_t>(ms), 0);
}

void Connection::reconnect_now() {
  if (state_ == LinkState::down) uv_timer_start(&conn_timer_, on_conn_timer_cb, 0, 0);
}

void Connection::redial(const Error& why) {
  if (state_ == LinkState::stopped) return;
  if (state_ == LinkState::down) {
    reconnect_now();
    return;
  }
  redial_now_ = true;  // finish_close() reconnects at once instead of after a backoff
  drop(why);
}

void Connection::on_conn_timer_cb(uv_timer_t* timer) {
  auto* self = static_cast<Connection*>(timer->data);
  guarded([&] {
    switch (self->state_) {
      case LinkState::down:
        self->connect_now();
        break;
      case LinkState::connecting:
      case LinkState::handshaking:
        self->drop(
            Error{Errc::timeout,
                  (self->state_ == LinkState::connecting                 ? "connect to "
                   : self->tls_ != nullptr && !self->tls_->established() ? "TLS handshake with "
                                                                         : "handshake with ") +
                      self->endpoint_ + " timed out after " +
                      std::to_string(self->cfg_.connect_timeout.count()) + " ms" +
                      (self->tls_ != nullptr && !self->tls_->established()
                           ? " (the server is stalled, or it is not a TLS port: a plaintext "
                             "Redis never answers a TLS hello)"
                           : "")});
        break;
      default:
        break;
    }
  });
}

void Connection::arm_deadline(TimePoint t) {
  if (t == TimePoint::max()) return;
  if (deadline_armed_ && deadline_at_ <= t) return;
  deadline_armed_ = true;
  deadline_at_ = t;
  uv_timer_start(&deadline_timer_, on_deadline_timer_cb, ms_until(t, clock_.now()), 0);
}

void Connection::on_deadline_timer_cb(uv_timer_t* timer) {
  auto* self = static_cast<Connection*>(timer->data);
  guarded([&] { self->on_deadline(); });
}

void Connection::on_deadline() {
  deadline_armed_ = false;
  if (auto hung = pipeline_.expire(clock_.now())) {
    drop(std::move(*hung));
    return;
  }
  if (state_ == LinkState::stopped) return;
  arm_deadline(pipeline_.next_deadline());
}

void Connection::stop(const Error& why) {
  set_state(LinkState::stopped);
  uv_timer_stop(&conn_timer_);
  uv_timer_stop(&deadline_timer_);
  close_socket();
  uv_close(reinterpret_cast<uv_handle_t*>(&conn_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&deadline_timer_), nullptr);
  pipeline_.fail_all(why);
}

}  // namespace rcache::detail
