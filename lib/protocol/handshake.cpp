// The connection handshake: AUTH, SELECT, CLIENT SETNAME (or PING) and the check of its replies.
#include "protocol/handshake.hpp"

#include "protocol/replies.hpp"

namespace rcache::detail {

Handshake build_handshake(const Config& cfg) {
  Handshake hs;
  RespWriter w(hs.wire);
  if (!cfg.password.empty()) {
    if (cfg.username.empty()) {
      w.begin(2);
      w.arg("AUTH");
    } else {
      w.begin(3);
      w.arg("AUTH");
      w.arg(cfg.username);
    }
    w.arg(cfg.password);
    hs.steps.push_back("AUTH");
  }
  if (cfg.db != 0) {
    w.begin(2);
    w.arg("SELECT");
    w.arg(cfg.db);
    hs.steps.push_back("SELECT");
  }
  if (!cfg.client_name.empty()) {
    w.begin(3);
    w.arg("CLIENT");
    w.arg("SETNAME");
    w.arg(cfg.client_name);
    hs.steps.push_back("CLIENT SETNAME");
  }
  if (hs.steps.empty()) {
    w.begin(1);
    w.arg("PING");
    hs.steps.push_back("PING");
  }
  return hs;
}

Result<void> check_handshake(const Handshake& hs, const std::vector<ReplyPtr>& earlier,
                             const redisReply* last, std::string_view endpoint) {
  for (std::size_t i = 0; i < hs.steps.size(); ++i) {
    const redisReply* r = i < earlier.size() ? earlier[i].get() : last;
    if (r == nullptr) {
      return Error{Errc::protocol, std::string(endpoint) + ": no reply to " + hs.steps[i]};
    }
    if (r->type == REDIS_REPLY_ERROR) {
      Error e = error_from_reply(*r, hs.steps[i]);
      e.message = std::string(endpoint) + ": " + e.message;
      return e;
    }
  }
  return {};
}

}  // namespace rcache::detail
