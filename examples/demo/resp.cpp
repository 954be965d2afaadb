// One command to a Redis node on 127.0.0.1 over a fresh connection (RESP2 by hand).
#include "resp.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include "loopback.hpp"

namespace demo {
namespace {

enum class Parse { done, more, bad };

// One reply of buf from `at` on; `at` moves past it when done.
Parse parse(const std::string& buf, std::size_t& at, RespReply& out, int depth) {
  const auto eol = buf.find("\r\n", at);
  if (eol == std::string::npos) return Parse::more;
  if (eol == at || depth > 8) return Parse::bad;
  const char kind = buf[at];
  const std::string line = buf.substr(at + 1, eol - at - 1);
  std::size_t next = eol + 2;
  char* end = nullptr;
  const long long n = std::strtoll(line.c_str(), &end, 10);
  const bool number = !line.empty() && end != nullptr && *end == '\0';
  switch (kind) {
    case '+':
    case '-':
      out.type = kind == '+' ? RespReply::Type::status : RespReply::Type::error;
      out.str = line;
      break;
    case ':':
      if (!number) return Parse::bad;
      out.type = RespReply::Type::integer;
      out.integer = n;
      break;
    case '$':
      if (!number || n < -1 || n > (64 << 20)) return Parse::bad;
      if (n == -1) {
        out.type = RespReply::Type::nil;
        break;
      }
      if (buf.size() < next + static_cast<std::size_t>(n) + 2) return Parse::more;
      out.type = RespReply::Type::bulk;
      out.str = buf.substr(next, static_cast<std::size_t>(n));
      next += static_cast<std::size_t>(n) + 2;
      break;
    case '*':
      if (!number || n < -1 || n > 1'000'000) return Parse::bad;
      if (n == -1) {
        out.type = RespReply::Type::nil;
        break;
      }
      out.type = RespReply::Type::array;
      out.elements.clear();
      for (long long i = 0; i < n; ++i) {
        RespReply e;
        const Parse p = parse(buf, next, e, depth + 1);
        if (p != Parse::done) return p;
        out.elements.push_back(std::move(e));
      }
      break;
    default:
      return Parse::bad;
  }
  at = next;
  return Parse::done;
}

}  // namespace

std::string RespReply::text() const {
  switch (type) {
    case Type::status:
    case Type::error:
    case Type::bulk:
      return str;
    case Type::integer:
      return std::to_string(integer);
    case Type::nil:
      return "(nil)";
    case Type::array:
      return "(array)";
    case Type::none:
      break;
  }
  return "(no answer)";
}

RespReply redis_call(int port, const std::vector<std::string>& argv, int timeout_ms) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  RespReply reply;
  std::string request = "*" + std::to_string(argv.size()) + "\r\n";
  for (const auto& a : argv) request += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  const int fd = connect_loopback(port);
  if (fd < 0) return reply;
  std::string buf;
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
      static_cast<ssize_t>(request.size())) {
    char chunk[16384];
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      pollfd readable{fd, POLLIN, 0};
      if (left <= 0 || ::poll(&readable, 1, static_cast<int>(left)) != 1) break;
      const ssize_t got = ::recv(fd, chunk, sizeof chunk, 0);
      if (got <= 0) break;
      buf.append(chunk, static_cast<std::size_t>(got));
      std::size_t at = 0;
      RespReply parsed;
      const Parse p = parse(buf, at, parsed, 0);
      if (p == Parse::done) reply = std::move(parsed);
      if (p != Parse::more) break;
    }
  }
  ::close(fd);
  return reply;
}

std::string info_field(const std::string& info, const std::string& name) {
  const std::string key = name + ":";
  for (std::size_t at = 0; at < info.size();) {
    const auto end = info.find('\n', at);
    const std::string line =
        info.substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (line.compare(0, key.size(), key) == 0) {
      std::string value = line.substr(key.size());
      if (!value.empty() && value.back() == '\r') value.pop_back();
      return value;
    }
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return "";
}

}  // namespace demo
