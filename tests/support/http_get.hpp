// A blocking HTTP/1.0 GET against 127.0.0.1 for tests: status code and body, bounded by a
// timeout. Loopback only.
#pragma once

#include <string>

namespace rcache::test {

struct HttpResponse {
  int status = 0;  // 0: no response
  std::string body;
};

HttpResponse http_get(int port, const std::string& path, int timeout_ms = 2000);

}  // namespace rcache::test
