// A civetweb HTTP server with lambda handlers, for the demo (its client is in loopback.hpp).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

struct mg_context;

namespace demo {

struct Request {
  std::string method;
  std::string path;   // without the query
  std::string query;  // after '?', raw
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers{};  // extra: {"X-Cache", "redis"}
};

using Handler = std::function<Response(const Request&)>;

// Thread safety: route() is for the constructing thread, before any traffic. Handlers then run
// on civetweb's worker threads, several at once, so they must be thread-safe themselves.
class HttpServer {
 public:
  // Listens on 127.0.0.1:port with `threads` worker threads; empty error() when it started.
  HttpServer(int port, int threads);
  ~HttpServer();
  const std::string& error() const { return error_; }
  // A prefix route: "/records/" matches "/records/rec1". Register before serving traffic.
  void route(const std::string& prefix, Handler h);

 private:
  struct Route {
    HttpServer* server;
    Handler handler;
  };
  int port_ = 0;
  mg_context* ctx_ = nullptr;
  std::vector<std::unique_ptr<Route>> routes_;
  std::string error_;
};

std::string query_param(const std::string& query, const std::string& name);

}  // namespace demo
