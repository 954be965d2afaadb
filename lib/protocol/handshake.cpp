// The connection handshake: AUTH, SELECT, CLIENT SETNAME (or PING) and the check of its replies.
#include "protocol/handshake.hpp"

#include "protocol/replies.hpp"

namespace rcache::detail {

Handshake build_handshake(const Config& cfg, bool readonly) {
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
  if (!cfg.sentinel_master.empty()) {
    w.begin(1);
    w.arg("ROLE");
    hs.steps.push_back("ROLE");
    hs.master_name = cfg.sentinel_master;
  }
  if (readonly) {
    w.begin(1);
    w.arg("READONLY");
    hs.steps.push_back("READONLY");
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
    if (std::string_view(hs.steps[i]) == "ROLE") {
      const bool array = r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
                         r->element[0]->type == REDIS_REPLY_STRING;
      const std::string role =
          array ? std::string(r->element[0]->str, r->element[0]->len) : std::string("?");
      if (role != "master") {
        return Error{Errc::connection, std::string(endpoint) + " is not the master of '" +
                                           hs.master_name + "' (ROLE says " +
                                           (array ? "'" + role + "'" : "no role") +
                                           "); asking the sentinels again"};
      }
    }
  }
  return {};
}

}  // namespace rcache::detail
