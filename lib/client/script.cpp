// Script (SHA1 of its source) and Client::eval(): EVALSHA, EVAL after NOSCRIPT.
#include "rcache/script.hpp"

#include "base/sha1.hpp"
#include "client/calls.hpp"
#include "client/script_call.hpp"
#include "protocol/resp.hpp"
#include "rcache/client.hpp"

namespace rcache {

std::string sha1_hex(std::string_view bytes) {
  return detail::sha1_hex(bytes);
}

Script::Script(std::string source, Options options)
    : source_(std::make_shared<const std::string>(std::move(source))),
      sha1_(sha1_hex(*source_)),
      options_(options) {}

namespace {

Result<detail::Command> evalsha_cmd(detail::ClientCore& core, const Script& s,
                                    const std::vector<std::string>& keys,
                                    const std::vector<std::string>& args) {
  std::vector<std::string_view> a(args.begin(), args.end());
  auto w = detail::evalsha_command(core.config(), s.sha1(), keys, a);
  if (!w) return std::move(w).error();
  auto c = detail::Command::of("EVALSHA", std::move(*w), detail::Op::script, s.idempotent());
  c.keys = static_cast<std::uint32_t>(keys.size());
  return c;
}

auto reply_of() {
  return detail::on_reply<Reply>([](const redisReply& r) -> Result<Reply> {
    if (auto e = detail::reply_error("EVALSHA", r)) return std::move(*e);
    return detail::to_reply(r);
  });
}

void start_eval(detail::ClientCore& core, const Script& s, const std::vector<std::string>& keys,
                const std::vector<std::string>& args, Callback<Reply> cb) {
  auto cmd = evalsha_cmd(core, s, keys, args);
  if (!cmd) return core.fail_async<Reply>(std::move(cmd).error(), std::move(cb));
  detail::eval_async<Reply>(core, std::move(*cmd), s.shared_source(), reply_of(), std::move(cb));
}

}  // namespace

void Client::eval_async(const Script& script, const std::vector<std::string>& keys,
                        const std::vector<std::string>& args, Callback<Reply> cb) {
  start_eval(*core_, script, keys, args, std::move(cb));
}
std::future<Result<Reply>> Client::eval_async(const Script& script,
                                              const std::vector<std::string>& keys,
                                              const std::vector<std::string>& args) {
  return detail::future_of<Reply>(
      [&](Callback<Reply> cb) { start_eval(*core_, script, keys, args, std::move(cb)); });
}
Result<Reply> Client::eval(const Script& script, const std::vector<std::string>& keys,
                           const std::vector<std::string>& args) {
  if (auto e = core_->refuse_on_loop_thread("EVALSHA")) return std::move(*e);
  auto cmd = evalsha_cmd(*core_, script, keys, args);
  if (!cmd) return std::move(cmd).error();
  return detail::future_of<Reply>([&](Callback<Reply> cb) {
           detail::eval_async<Reply>(*core_, std::move(*cmd), script.shared_source(), reply_of(),
                                     std::move(cb));
         })
      .get();
}

}  // namespace rcache
