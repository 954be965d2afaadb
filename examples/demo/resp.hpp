// One command to a Redis node on 127.0.0.1 over a fresh connection, for what the demo asks its
// cluster's nodes directly (CLUSTER ..., ROLE, INFO): RESP2 written and read by hand, blocking,
// bounded by a timeout. The cache itself goes through rcache, never through this.
#pragma once

#include <string>
#include <vector>

namespace demo {

// A plain value (copy it freely).
struct RespReply {
  enum class Type { none, status, error, integer, bulk, nil, array };
  Type type = Type::none;  // none: no answer (nothing listening, timed out, not RESP)
  std::string str;         // status, error and bulk
  long long integer = 0;
  std::vector<RespReply> elements;  // array

  bool is_ok() const { return type == Type::status && str == "OK"; }
  // What it says, for messages and scalar checks: str, the integer, "(nil)", "(array)",
  // "(no answer)".
  std::string text() const;
};

// Sends argv as one command and reads one reply, all within timeout_ms. Keeps no state: any
// number of threads may call it at once.
RespReply redis_call(int port, const std::vector<std::string>& argv, int timeout_ms = 500);

// "value" of a "name:value" line of INFO / CLUSTER INFO text; "" if absent.
std::string info_field(const std::string& info, const std::string& name);

}  // namespace demo
