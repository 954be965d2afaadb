#include "http.hpp"

#include <civetweb.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <thread>

#include "loopback.hpp"

namespace demo {

HttpServer::HttpServer(int port, int threads) : port_(port) {
  const std::string ports = "127.0.0.1:" + std::to_string(port);
  const std::string nthreads = std::to_string(threads);
  const char* options[] = {"listening_ports",   ports.c_str(), "num_threads", nthreads.c_str(),
                           "enable_keep_alive", "no",          nullptr};
  mg_callbacks callbacks{};
  ctx_ = mg_start(&callbacks, nullptr, options);
  if (ctx_ == nullptr) error_ = "cannot listen on " + ports;
}

HttpServer::~HttpServer() {
  if (ctx_ == nullptr) return;
  // civetweb's listener waits up to 2 s in poll() before it sees the stop flag: a connection
  // wakes it up, so that stopping takes milliseconds (at most 100 tries, 10 ms apart).
  std::atomic<bool> stopped{false};
  std::thread waker;
  try {
    waker = std::thread([this, &stopped] {
      for (int i = 0; i < 100 && !stopped.load(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (const int fd = connect_loopback(port_); fd >= 0) ::close(fd);
      }
    });
  } catch (...) {  // no thread: stopping takes up to 2 s
  }
  mg_stop(ctx_);
  stopped = true;
  if (waker.joinable()) waker.join();
}

void HttpServer::route(const std::string& prefix, Handler h) {
  if (ctx_ == nullptr) return;
  routes_.push_back(std::make_unique<Route>(Route{this, std::move(h)}));
  mg_set_request_handler(
      ctx_, prefix.c_str(),
      [](mg_connection* conn, void* cbdata) -> int {
        // No exception may leave this callback (it returns into civetweb's C code).
        try {
          auto* r = static_cast<Route*>(cbdata);
          const mg_request_info* info = mg_get_request_info(conn);
          Request req{info->request_method ? info->request_method : "",
                      info->local_uri ? info->local_uri : "",
                      info->query_string ? info->query_string : ""};
          Response resp;
          try {
            resp = r->handler(req);
          } catch (const std::exception& e) {
            resp = Response{500, std::string("{\"error\":\"") + e.what() + "\"}"};
          } catch (...) {
            resp = Response{500, R"({"error":"unknown exception"})"};
          }
          std::string head = "HTTP/1.1 " + std::to_string(resp.status) + " " +
                             mg_get_response_code_text(conn, resp.status) +
                             "\r\nContent-Type: " + resp.content_type +
                             "\r\nContent-Length: " + std::to_string(resp.body.size()) +
                             "\r\nConnection: close\r\n";
          for (const auto& [name, value] : resp.headers) head += name + ": " + value + "\r\n";
          head += "\r\n";
          mg_write(conn, head.data(), head.size());
          mg_write(conn, resp.body.data(), resp.body.size());
          return resp.status;
        } catch (...) {
          static constexpr char kFailed[] =
              "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
              "Connection: close\r\n\r\n";
          mg_write(conn, kFailed, sizeof kFailed - 1);
          return 500;
        }
      },
      routes_.back().get());
}

std::string query_param(const std::string& query, const std::string& name) {
  char out[1024];
  const int n = mg_get_var(query.c_str(), query.size(), name.c_str(), out, sizeof out);
  return n >= 0 ? std::string(out, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace demo
