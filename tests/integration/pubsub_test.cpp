// Pub/sub against a real redis-server: publish, subscribe, patterns, restarts and kills.
#include "rcache/pubsub.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster_set.hpp"
#include "fixtures.hpp"

namespace rcache::test {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Got {
  std::string channel, pattern, payload;
  bool operator==(const Got&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Got& g) {
  return os << "{" << g.channel << ", " << g.pattern << ", " << g.payload.size() << " bytes}";
}

// What handlers received, from the loop thread, for the test thread to wait on.
class Inbox {
 public:
  MessageHandler handler() {
    return [this](const Message& m) {
      std::lock_guard lock(mu_);
      got_.push_back(Got{std::string(m.channel), std::string(m.pattern), std::string(m.payload)});
      cv_.notify_all();
    };
  }
  bool wait_for(std::size_t n, std::chrono::milliseconds limit = 5s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return got_.size() >= n; });
  }
  std::vector<Got> got() {
    std::lock_guard lock(mu_);
    return got_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Got> got_;
};

std::unique_ptr<Subscriber> make_subscriber(Client& c, SubscriberOptions o = {}) {
  auto r = Subscriber::create(c, std::move(o));
  if (!r.ok()) {
    ADD_FAILURE() << "Subscriber::create: " << r.error().to_string();
    return nullptr;
  }
  return std::move(*r);
}

class PubSub : public RedisTest {};

TEST_F(PubSub, PublishReturnsTheNumberOfReceivers) {
  auto none = client().publish("nobody", "x");
  ASSERT_TRUE(none.ok()) << none.error().to_string();
  EXPECT_EQ(*none, 0);
  Inbox in;  // declared first: it must outlive the subscriber that feeds it
  auto sub = make_subscriber(client());
  ASSERT_NE(sub, nullptr);
  EXPECT_TRUE(sub->status().connected);
  ASSERT_TRUE(sub->subscribe("ch", in.handler()).ok());
  EXPECT_EQ(client().publish("ch", "1").value(), 1);
  EXPECT_EQ(client().publish_async("ch", "2").get().value(), 1);
  std::promise<Result<std::int64_t>> p;
  client().publish_async("ch", "3", [&p](Result<std::int64_t> r) { p.set_value(std::move(r)); });
  EXPECT_EQ(p.get_future().get().value(), 1);
  ASSERT_TRUE(in.wait_for(3));
  EXPECT_THAT(in.got(), ElementsAre(Got{"ch", "", "1"}, Got{"ch", "", "2"}, Got{"ch", "", "3"}));
}

TEST_F(PubSub, BinaryPayloadsRoundTripUnchanged) {
  Inbox in;  // declared first: it must outlive the subscriber that feeds it
  auto sub = make_subscriber(client());
  ASSERT_NE(sub, nullptr);
  const std::string channel("bin\0ch", 6);
  ASSERT_TRUE(sub->subscribe(channel, in.handler()).ok());
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  const std::vector<std::string> payloads = {"", std::string("\0", 1), "\r\n*3\r\n", all_bytes,
                                             std::string(300000, 'z')};
  for (const auto& p : payloads) ASSERT_EQ(client().publish(channel, p).value(), 1);
  ASSERT_TRUE(in.wait_for(payloads.size()));
  const auto got = in.got();
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    EXPECT_EQ(got[i].channel, channel);
    EXPECT_EQ(got[i].payload, payloads[i]) << i;
  }
  EXPECT_EQ(sub->status().messages, payloads.size());
}

TEST_F(PubSub, APatternSubscriptionGivesThePatternAndTheChannel) {
  Inbox in;  // declared first: it must outlive the subscriber that feeds it
  auto sub = make_subscriber(client());
  ASSERT_NE(sub, nullptr);
  ASSERT_TRUE(sub->psubscribe("news.*", in.handler()).ok());
  EXPECT_EQ(client().publish("news.eu", "a").value(), 1);
  EXPECT_EQ(client().publish("sports", "b").value(), 0);
  ASSERT_TRUE(in.wait_for(1));
  EXPECT_THAT(in.got(), ElementsAre(Got{"news.eu", "news.*", "a"}));
  EXPECT_EQ(sub->status().patterns, 1u);
}

TEST_F(PubSub, SeveralChannelsInOneCall) {
  Inbox in;  // declared first: it must outlive the subscriber that feeds it
  auto sub = make_subscriber(client());
  ASSERT_NE(sub, nullptr);
  ASSERT_TRUE(sub->subscribe(std::vector<std::string>{"a", "b", "c"}, in.handler()).ok());
  EXPECT_EQ(sub->status().channels, 3u);
  for (const char* ch : {"a", "b", "c"}) EXPECT_EQ(client().publish(ch, ch).value(), 1);
  ASSERT_TRUE(in.wait_for(3));
  ASSERT_TRUE(sub->unsubscribe(std::vector<std::string>{"a", "c"}).ok());
  EXPECT_EQ(sub->status().channels, 1u);
  EXPECT_EQ(client().publish("a", "x").value(), 0);
  EXPECT_EQ(client().publish("b", "y").value(), 1);
}

TEST_F(PubSub, UnsubscribeStopsDelivery) {
  Inbox in;  // declared first: it must outlive the subscriber that feeds it
  auto sub = make_subscriber(client());
  ASSERT_NE(sub, nullptr);
  ASSERT_TRUE(sub->subscribe("ch", in.handler()).ok());
  ASSERT_TRUE(sub->psubscribe("c*", in.handler()).ok());
  EXPECT_EQ(client().publish("ch", "both").value(), 2);  // Redis sends it once per match
  ASSERT_TRUE(in.wait_for(2));
  ASSERT_TRUE(sub->unsubscribe("ch").ok());
  ASSERT_TRUE(sub->punsubscribe("c*").ok());
  EXPECT_EQ(client().publish("ch", "after").value(), 0);
  ASSERT_TRUE(sub->subscribe("marker", in.handler()).ok());
  EXPECT_EQ(client().publish("marker", "end").value(), 1);
  ASSERT_TRUE(in.wait_for(3));
  const auto got = in.got();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2], (Got{"marker", "", "end"}));
  // Not subscribed: not an error.
  EXPECT_TRUE(sub->unsubscribe("never").ok());
}

TEST_F(PubSub, SeveralSubscribersEachReceiveEveryMessage) {
  std::vector<std::unique_ptr<Inbox>> inboxes;  // first: they outlive the subscribers
  std::vector<std::unique_ptr<Subscriber>> subs;
  for (int i = 0; i < 3; ++i) {
    subs.push_back(make_subscriber(client()));
    ASSERT_NE(subs.back(), nullptr);
    inboxes.push_back(std::make_unique<Inbox>());
    ASSERT_TRUE(subs.back()->subscribe("fan", inboxes.back()->handler()).ok());
  }
  EXPECT_EQ(client().publish("fan", "out").value(), 3);
  for (auto& in : inboxes) {
    ASSERT_TRUE(in->wait_for(1));
    EXPECT_THAT(in->got(), ElementsAre(Got{"fan", "", "out"}));
  }
  subs.pop_back();  // its connection closes with it
  EXPECT_TRUE(eventually(2s, [&] { return client().publish("fan", "x").value_or(-1) == 2; }));
}

TEST_F(PubSub, AThrowingHandlerDoesNotStopDelivery) {
  Inbox in;  // declared first: it must outlive the subscriber that feeds it
  auto sub = make_subscriber(client());
  ASSERT_NE(sub, nullptr);
  MessageHandler inner = in.handler();
  ASSERT_TRUE(sub->subscribe("ch",
                             [inner](const Message& m) {
                               inner(m);
                               if (m.payload == "boom") throw std::runtime_error("handler failed");
                             })
                  .ok());
  for (const char* p : {"1", "boom", "2"}) ASSERT_EQ(client().publish("ch", p).value(), 1);
  ASSERT_TRUE(in.wait_for(3));
  EXPECT_EQ(in.got()[2].payload, "2");
  EXPECT_TRUE(client().ping().ok());  // the loop thread is fine
}

TEST_F(PubSub, BlockingCallsFromAHandlerAreRefusedNotDeadlocked) {
  std::promise<Result<void>> p;
  auto sub = make_subscriber(client());
  ASSERT_NE(sub, nullptr);
  ASSERT_TRUE(sub->subscribe("ch",
                             [&](const Message&) {
                               p.set_value(sub->subscribe("other", [](const Message&) {}));
                             })
                  .ok());
  ASSERT_EQ(client().publish("ch", "x").value(), 1);
  auto r = p.get_future().get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
}

TEST_F(PubSub, BadArgumentsAreRefused) {
  auto sub = make_subscriber(client());
  ASSERT_NE(sub, nullptr);
  EXPECT_EQ(sub->subscribe("", [](const Message&) {}).error().code, Errc::invalid_argument);
  EXPECT_EQ(sub->subscribe(std::vector<std::string>{}, [](const Message&) {}).error().code,
            Errc::invalid_argument);
  EXPECT_EQ(sub->subscribe("ch", MessageHandler()).error().code, Errc::invalid_argument);
}

Config fast_reconnect(Config c) {
  c.reconnect_backoff_min = 20ms;
  c.reconnect_backoff_max = 200ms;
  return c;
}

TEST(PubSubFaults, SurvivesAServerRestartOnTheSamePort) {
  auto server = RedisServer::start();
  ASSERT_NE(server, nullptr);
  auto client = make_client(fast_reconnect(config_for(*server)));
  ASSERT_NE(client, nullptr);
  std::atomic<int> resubscribed{0};
  SubscriberOptions o;
  o.on_resubscribed = [&] { ++resubscribed; };
  Inbox in;  // declared first: it must outlive the subscriber that feeds it
  auto sub = make_subscriber(*client, o);
  ASSERT_NE(sub, nullptr);
  ASSERT_TRUE(sub->subscribe("ch", in.handler()).ok());
  ASSERT_TRUE(sub->psubscribe("p.*", in.handler()).ok());
  EXPECT_TRUE(sub->status().connected);
  server->stop();
  ASSERT_TRUE(eventually(3s, [&] { return !sub->status().connected; }));
  ASSERT_TRUE(server->restart());
  ASSERT_TRUE(eventually(5s, [&] { return resubscribed.load() == 1; }));
  const auto s = sub->status();
  EXPECT_TRUE(s.connected);
  EXPECT_EQ(s.channels, 1u);
  EXPECT_EQ(s.patterns, 1u);
  EXPECT_EQ(s.resubscribes, 1u);
  EXPECT_GE(s.reconnects, 1u);
  EXPECT_FALSE(s.last_error.empty());
  ASSERT_TRUE(eventually(3s, [&] { return client->publish("ch", "back").value_or(-1) == 1; }));
  EXPECT_EQ(client->publish("p.x", "too").value(), 1);
  ASSERT_TRUE(in.wait_for(2));
  EXPECT_THAT(in.got(), ElementsAre(Got{"ch", "", "back"}, Got{"p.x", "p.*", "too"}));
}

TEST(PubSubFaults, AKilledConnectionIsRecovered) {
  auto server = RedisServer::start();
  ASSERT_NE(server, nullptr);
  auto client = make_client(fast_reconnect(config_for(*server)));
  ASSERT_NE(client, nullptr);
  std::atomic<int> resubscribed{0};
  SubscriberOptions o;
  o.on_resubscribed = [&] {
    ++resubscribed;
    throw std::runtime_error("discarded");
  };
  Inbox in;  // declared first: it must outlive the subscriber that feeds it
  auto sub = make_subscriber(*client, o);
  ASSERT_NE(sub, nullptr);
  ASSERT_TRUE(sub->subscribe("ch", in.handler()).ok());
  EXPECT_EQ(server->command({"CLIENT", "KILL", "TYPE", "pubsub"}), "1");
  ASSERT_TRUE(eventually(5s, [&] { return resubscribed.load() == 1; }));
  EXPECT_EQ(sub->status().reconnects, 1u);
  EXPECT_EQ(client->publish("ch", "again").value(), 1);
  ASSERT_TRUE(in.wait_for(1));
  EXPECT_THAT(in.got(), ElementsAre(Got{"ch", "", "again"}));
}

TEST(PubSubFaults, AWrongPasswordIsAClearErrorFromCreate) {
  RedisServer::Options so;
  so.args = {"--requirepass", "right-pw"};
  auto server = RedisServer::start(so);
  ASSERT_NE(server, nullptr);
  Config c = config_for(*server);
  c.password = "wrong-pw";
  auto client = Client::create(c);
  ASSERT_TRUE(client.ok()) << client.error().to_string();
  auto sub = Subscriber::create(**client);
  ASSERT_FALSE(sub.ok());
  EXPECT_EQ(sub.error().code, Errc::auth);
  EXPECT_THAT(sub.error().message, ::testing::Not(HasSubstr("wrong-pw")));
}

TEST(PubSubFaults, SubscribeWithoutAServerFailsWithinTheDeadline) {
  auto server = RedisServer::start();
  ASSERT_NE(server, nullptr);
  Config c = config_for(*server);
  c.deadline = 500ms;
  auto client = make_client(c);
  ASSERT_NE(client, nullptr);
  auto sub = make_subscriber(*client);
  ASSERT_NE(sub, nullptr);
  server->stop();
  ASSERT_TRUE(eventually(3s, [&] { return !sub->status().connected; }));
  const auto start = std::chrono::steady_clock::now();
  auto r = sub->subscribe("ch", [](const Message&) {});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().code == Errc::connection || r.error().code == Errc::timeout)
      << r.error().to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(sub->status().channels, 0u);
}

TEST(PubSubFaults, DestroyingTheClientFirstLeavesAnInertSubscriber) {
  auto server = RedisServer::start();
  ASSERT_NE(server, nullptr);
  auto client = make_client(config_for(*server));
  ASSERT_NE(client, nullptr);
  auto sub = make_subscriber(*client);
  ASSERT_NE(sub, nullptr);
  ASSERT_TRUE(sub->subscribe("ch", [](const Message&) {}).ok());
  client.reset();  // a misuse, documented: must not crash
  auto r = sub->subscribe("other", [](const Message&) {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::shutdown);
  EXPECT_FALSE(sub->status().connected);
  sub.reset();
}

TEST(PubSubFaults, ASubscriberMayBeDestroyedFromItsOwnHandler) {
  auto server = RedisServer::start();
  ASSERT_NE(server, nullptr);
  auto client = make_client(config_for(*server));
  ASSERT_NE(client, nullptr);
  auto sub = make_subscriber(*client);
  ASSERT_NE(sub, nullptr);
  std::promise<void> gone;
  ASSERT_TRUE(sub->subscribe("ch",
                             [&](const Message&) {
                               sub.reset();
                               gone.set_value();
                             })
                  .ok());
  ASSERT_EQ(client->publish("ch", "bye").value(), 1);
  ASSERT_EQ(gone.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(eventually(2s, [&] { return client->publish("ch", "x").value_or(-1) == 0; }));
}

// Classic pub/sub in a cluster: the subscriber sits on one node, Redis forwards every PUBLISH
// over the cluster bus, so a message published on any node (and by the client, routed to some
// master as a keyless command) reaches it; a kill of its connection is recovered.
TEST(PubSubCluster, MessagesPublishedOnAnyNodeReachTheSubscriber) {
  auto set = ClusterSet::start();
  ASSERT_NE(set, nullptr);
  Config c;
  c.cluster_nodes = set->seeds();
  c.command_timeout = kRelaxedTimeout;
  c.connect_timeout = kRelaxedTimeout;
  c.deadline = kRelaxedTimeout;
  c.log_level = LogLevel::off;
  c = fast_reconnect(c);
  auto client = make_client(c);
  ASSERT_NE(client, nullptr);
  std::atomic<int> resubscribed{0};
  SubscriberOptions o;
  o.on_resubscribed = [&] { ++resubscribed; };
  Inbox in;
  auto sub = make_subscriber(*client, o);
  ASSERT_NE(sub, nullptr);
  ASSERT_TRUE(sub->subscribe("cl", in.handler()).ok());
  auto n = client->publish("cl", "via-client");
  ASSERT_TRUE(n.ok()) << n.error().to_string();
  for (std::size_t i = 0; i < set->size(); ++i) {
    set->node(i).command({"PUBLISH", "cl", "node-" + std::to_string(i)});
  }
  ASSERT_TRUE(in.wait_for(1 + set->size()));
  std::vector<std::string> payloads;
  for (const auto& g : in.got()) payloads.push_back(g.payload);
  EXPECT_THAT(payloads,
              ::testing::UnorderedElementsAre("via-client", "node-0", "node-1", "node-2"));
  std::string killed;
  for (std::size_t i = 0; i < set->size(); ++i) {
    killed += set->node(i).command({"CLIENT", "KILL", "TYPE", "pubsub"});
  }
  EXPECT_NE(killed.find('1'), std::string::npos) << killed;
  ASSERT_TRUE(eventually(5s, [&] { return resubscribed.load() == 1; }));
  ASSERT_TRUE(eventually(3s, [&] {
    set->node(0).command({"PUBLISH", "cl", "after"});
    return in.wait_for(5, 100ms);
  }));
  EXPECT_EQ(in.got().back().payload, "after");
}

}  // namespace
}  // namespace rcache::test
