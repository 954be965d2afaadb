// A blocking HTTP/1.0 request against 127.0.0.1 for tests and the demo: status code and body,
// bounded by a timeout. Loopback only.
#pragma once

#include <string>

namespace rcache::test {

struct HttpResponse {
  int status = 0;  // 0: no response
  std::string body;
};

// Any method (GET, DELETE...); status 0 when nothing answered within the timeout.
HttpResponse http_call(int port, const std::string& method, const std::string& path,
                       int timeout_ms = 2000);
inline HttpResponse http_get(int port, const std::string& path, int timeout_ms = 2000) {
  return http_call(port, "GET", path, timeout_ms);
}

}  // namespace rcache::test
