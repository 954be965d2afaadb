// Plain sockets on 127.0.0.1 for the demo: a free port, a connection, and a one-shot HTTP call.
#pragma once

#include <string>

namespace demo {

// A TCP port on 127.0.0.1 that was unused a moment ago (someone may still take it first); 0 on
// failure.
int free_port();

// A connected TCP socket to 127.0.0.1:port (the caller closes it), or -1 when nothing accepts.
int connect_loopback(int port);

// What a server answered. A plain value (copy it freely); status 0 means no HTTP answer.
struct HttpReply {
  int status = 0;
  std::string headers;  // the header lines, raw ("Content-Type: ...\r\n...")
  std::string body;
  // The value of a header (name without case), "" when absent.
  std::string header(const std::string& name) const;
};

// Sends "METHOD path HTTP/1.0" and reads until the server closes or timeout_ms has passed.
// Keeps no state, so any number of threads may call it at once.
HttpReply http_call(int port, const std::string& method, const std::string& path, int timeout_ms);

}  // namespace demo
