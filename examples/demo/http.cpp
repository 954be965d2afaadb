#include "http.hpp"

#include <civetweb.h>

#include <exception>

namespace demo {

HttpServer::HttpServer(int port, int threads) {
  const std::string ports = "127.0.0.1:" + std::to_string(port);
  const std::string nthreads = std::to_string(threads);
  const char* options[] = {"listening_ports",   ports.c_str(), "num_threads", nthreads.c_str(),
                           "enable_keep_alive", "no",          nullptr};
  mg_callbacks callbacks{};
  ctx_ = mg_start(&callbacks, nullptr, options);
  if (ctx_ == nullptr) error_ = "cannot listen on " + ports;
}

HttpServer::~HttpServer() {
  if (ctx_ != nullptr) mg_stop(ctx_);
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
