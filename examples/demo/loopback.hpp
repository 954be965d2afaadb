// Plain sockets on 127.0.0.1 for the demo: a free port, a connection, and a one-shot HTTP call.
#pragma once

#include <string>
#include <vector>

namespace demo {

// A TCP port on 127.0.0.1 that was unused a moment ago (someone may still take it first); 0 on
// failure.
int free_port();

// A port p on 127.0.0.1 such that p and p + offset (a Redis Cluster node and its bus) were both
// free a moment ago, neither is p or p + offset of a port in `avoid`, and p + offset <= 65535;
// picked below the kernel's ephemeral range when there is room, so that the demo's own
// outgoing connections cannot hold it while a node is down. 0 if none was found.
int free_port_pair(int offset, const std::vector<int>& avoid);

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
