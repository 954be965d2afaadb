// Client::publish, and rcache::Subscriber over its connection (resilience/subscriber.hpp).
#include "rcache/pubsub.hpp"

#include "base/config_text.hpp"
#include "client/calls.hpp"
#include "protocol/pubsub.hpp"
#include "protocol/replies.hpp"
#include "rcache/client.hpp"
#include "resilience/subscriber.hpp"

namespace rcache {

using detail::PubSubVerb;

namespace {

Result<detail::Command> publish_cmd(detail::ClientCore& core, std::string_view channel,
                                    std::string_view message) {
  // Not idempotent: a PUBLISH sent twice is delivered twice.
  return detail::command_of("PUBLISH", detail::publish_command(core.config(), channel, message),
                            detail::Op::publish, false);
}

auto parse_receivers() {
  return detail::on_reply<std::int64_t>(
      [](const redisReply& r) { return detail::parse_integer("PUBLISH", r); });
}

// Where the subscriber's connection dials. Sentinel: the pool's master (none until found).
// Cluster: the masters of the current map in turn (classic pub/sub reaches every node through
// the cluster bus), else the seeds. Otherwise: the config's endpoint.
detail::SubscriberCore::Setup setup_for(detail::ClientCore& core, SubscriberOptions options) {
  detail::SubscriberCore::Setup s;
  s.cfg = core.config();
  s.options = std::move(options);
  if (!s.cfg.sentinel_master.empty()) {
    detail::Transport* transport = &core.transport();
    s.target = [transport](std::uint64_t) -> std::optional<detail::Target> {
      const detail::Target* t = transport->pool().target();
      if (t == nullptr) return std::nullopt;
      return *t;
    };
    s.wait_for_target = true;
    s.follow_target = true;
  } else if (detail::ClusterRouter* router = core.cluster()) {
    std::vector<detail::Target> seeds;
    for (const auto& n : s.cfg.cluster_nodes) {
      if (auto hp = detail::parse_host_port(n, 6379, "cluster_nodes")) {
        seeds.push_back(detail::Target{hp->host, hp->port});
      }
    }
    s.target = [router, seeds](std::uint64_t attempt) -> std::optional<detail::Target> {
      std::vector<detail::Target> masters;
      if (auto view = router->topology().view()) {
        for (auto i : view->map.masters()) {
          if (const detail::ClusterNode* n = view->nodes[i]) {
            masters.push_back(detail::Target{n->address.host, n->address.port});
          }
        }
      }
      const auto& from = masters.empty() ? seeds : masters;
      if (from.empty()) return std::nullopt;
      return from[attempt % from.size()];
    };
  }
  return s;
}

}  // namespace

// ---- PUBLISH ----

Result<std::int64_t> Client::publish(std::string_view channel, std::string_view message) {
  return detail::run<std::int64_t>(*core_, publish_cmd(*core_, channel, message),
                                   parse_receivers());
}
void Client::publish_async(std::string_view channel, std::string_view message,
                           Callback<std::int64_t> cb) {
  detail::run_async<std::int64_t>(*core_, publish_cmd(*core_, channel, message), parse_receivers(),
                                  std::move(cb));
}
std::future<Result<std::int64_t>> Client::publish_async(std::string_view channel,
                                                        std::string_view message) {
  return detail::future_of<std::int64_t>(
      [&](Callback<std::int64_t> cb) { publish_async(channel, message, std::move(cb)); });
}

// ---- Subscriber ----

Subscriber::Subscriber(detail::ClientCore& client, std::shared_ptr<detail::SubscriberCore> core)
    : client_(&client), core_(std::move(core)) {}

Subscriber::~Subscriber() {
  try {
    if (core_) core_->close();
  } catch (...) {
    // Only an allocation failure can get here; the connection then ends with the client.
  }
}

Result<std::unique_ptr<Subscriber>> Subscriber::create(Client& client, SubscriberOptions options) {
  detail::ClientCore& core = *client.core_;
  if (auto e = core.refuse_on_loop_thread("Subscriber::create")) return std::move(*e);
  try {
    auto sub = detail::SubscriberCore::make(setup_for(core, std::move(options)), core.transport(),
                                            core.clock());
    const auto& cfg = core.config();
    if (auto r = sub->start(cfg.connect_timeout + cfg.command_timeout); !r) {
      sub->close();
      return std::move(r).error();
    }
    return std::unique_ptr<Subscriber>(new Subscriber(core, std::move(sub)));
  } catch (const std::bad_alloc&) {
    return Error{Errc::too_large, "Subscriber::create: out of memory"};
  }
}

namespace {

// The client is read only while it is alive: a Subscriber that outlived it (a misuse) answers
// Errc::shutdown without touching it.
Result<void> call(detail::SubscriberCore& sub, const detail::ClientCore* client, PubSubVerb verb,
                  std::vector<std::string> names, MessageHandler handler) {
  if (sub.gone()) return Error{Errc::shutdown, "client is shutting down"};
  const detail::ClientCore& core = *client;
  const std::string what(detail::command_name(verb));
  if (names.empty()) return Error{Errc::invalid_argument, what + ": no name given"};
  for (const auto& n : names) {
    if (n.empty()) return Error{Errc::invalid_argument, what + ": empty name"};
  }
  if ((verb == PubSubVerb::subscribe || verb == PubSubVerb::psubscribe) && !handler) {
    return Error{Errc::invalid_argument, what + ": no handler"};
  }
  if (auto e = core.refuse_on_loop_thread(detail::command_name(verb).data())) return *e;
  const auto budget = core.scoped_budget().value_or(core.config().deadline);
  try {
    return sub.run(verb, std::move(names), std::move(handler), core.clock().now() + budget);
  } catch (const std::bad_alloc&) {
    return Error{Errc::too_large, what + ": out of memory"};
  }
}

}  // namespace

Result<void> Subscriber::subscribe(std::string_view channel, MessageHandler handler) {
  return subscribe(std::vector<std::string>{std::string(channel)}, std::move(handler));
}
Result<void> Subscriber::subscribe(const std::vector<std::string>& channels,
                                   MessageHandler handler) {
  return call(*core_, client_, PubSubVerb::subscribe, channels, std::move(handler));
}
Result<void> Subscriber::psubscribe(std::string_view pattern, MessageHandler handler) {
  return psubscribe(std::vector<std::string>{std::string(pattern)}, std::move(handler));
}
Result<void> Subscriber::psubscribe(const std::vector<std::string>& patterns,
                                    MessageHandler handler) {
  return call(*core_, client_, PubSubVerb::psubscribe, patterns, std::move(handler));
}
Result<void> Subscriber::unsubscribe(std::string_view channel) {
  return unsubscribe(std::vector<std::string>{std::string(channel)});
}
Result<void> Subscriber::unsubscribe(const std::vector<std::string>& channels) {
  return call(*core_, client_, PubSubVerb::unsubscribe, channels, MessageHandler());
}
Result<void> Subscriber::punsubscribe(std::string_view pattern) {
  return punsubscribe(std::vector<std::string>{std::string(pattern)});
}
Result<void> Subscriber::punsubscribe(const std::vector<std::string>& patterns) {
  return call(*core_, client_, PubSubVerb::punsubscribe, patterns, MessageHandler());
}

SubscriberStatus Subscriber::status() const {
  return core_->status();
}

}  // namespace rcache
