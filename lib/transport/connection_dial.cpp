// Dialling for a Connection: the address of this attempt (the observer's target or the config's),
// name resolution, the TCP or Unix-socket connect.
#include "transport/connection.hpp"

namespace rcache::detail {
namespace {

std::string uv_message(int status) {
  return uv_strerror(status);
}

// Every libuv callback goes through this: nothing may throw into libuv.
template <class F>
void guarded(F&& f) noexcept {
  try {
    f();
  } catch (...) {
    // Only std::bad_alloc can get here: the attempt is left to its connect timeout.
  }
}

}  // namespace

void Connection::connect_now() {
  tls_.reset();  // a session per attempt (the context offers the last one for resumption)
  queued_.clear();
  if (const Target* t = observer_.target()) {
    host_ = t->host;
    port_ = t->port;
    endpoint_ = endpoint_of(*t);
    pipeline_.set_endpoint(endpoint_);
  }
  set_state(LinkState::connecting);
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
  if (uv_ip4_addr(host_.c_str(), port_, reinterpret_cast<sockaddr_in*>(&addr)) == 0 ||
      uv_ip6_addr(host_.c_str(), port_, reinterpret_cast<sockaddr_in6*>(&addr)) == 0) {
    connect_addr(reinterpret_cast<const sockaddr*>(&addr));
    return;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  const std::string port = std::to_string(port_);
  const int rc = uv_getaddrinfo(loop_, &gai_, on_resolved_cb, host_.c_str(), port.c_str(), &hints);
  if (rc != 0) {
    drop(Error{Errc::connection, "cannot resolve " + host_ + ": " + uv_message(rc)});
    return;
  }
  gai_pending_ = true;
}

void Connection::connect_addr(const sockaddr* addr) {
  uv_tcp_init(loop_, &sock_.tcp);
  sock_.tcp.data = this;
  sock_open_ = true;
  const int rc = uv_tcp_connect(&connect_req_, &sock_.tcp, addr, on_connect_cb);
  if (rc != 0) drop(Error{Errc::connection, "connect to " + endpoint_ + ": " + uv_message(rc)});
}

void Connection::on_resolved_cb(uv_getaddrinfo_t* req, int status, addrinfo* res) {
  auto* self = static_cast<Connection*>(req->data);
  guarded([&] {
    self->gai_pending_ = false;
    if (self->state_ != LinkState::connecting) {
      if (self->state_ == LinkState::closing) self->finish_close();
    } else if (status != 0 || res == nullptr) {
      self->drop(
          Error{Errc::connection, "cannot resolve " + self->host_ + ": " + uv_message(status)});
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
    if (status == UV_ECANCELED || self->state_ != LinkState::connecting) return;
    if (status != 0) {
      self->drop(
          Error{Errc::connection, "connect to " + self->endpoint_ + ": " + uv_message(status)});
      return;
    }
    self->on_connected();
  });
}

}  // namespace rcache::detail
