// TLS against a real redis-server --tls-port, with certificates made by the test (TestPki).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "fake_server.hpp"
#include "fixtures.hpp"
#include "test_pki.hpp"

namespace rcache::test {
namespace {

using namespace std::chrono_literals;
using ::testing::AnyOf;
using ::testing::HasSubstr;

class Tls : public ::testing::Test {
 protected:
  void SetUp() override {
    server_id_ = pki_.issue("server", {});
    client_id_ = [&] {
      TestPki::Spec s;
      s.client = true;
      return pki_.issue("client", s);
    }();
  }
  std::unique_ptr<RedisServer> start_server(const TestPki::Issued& id, bool auth_clients = false,
                                            std::vector<std::string> args = {}) {
    RedisServer::Options o;
    o.args = std::move(args);
    o.tls_cert_file = id.cert_file;
    o.tls_key_file = id.key_file;
    o.tls_ca_file = pki_.ca_file();
    o.tls_auth_clients = auth_clients;
    auto s = RedisServer::start(o);
    EXPECT_NE(s, nullptr);
    return s;
  }
  Config tls_config(const RedisServer& s) {
    Config c;
    c.port = s.tls_port();
    c.tls = true;
    c.tls_ca_file = pki_.ca_file();
    c.command_timeout = kRelaxedTimeout;
    c.deadline = 2 * kRelaxedTimeout;
    c.connect_timeout = 3s;
    c.log_level = LogLevel::off;
    return c;
  }
  // A client whose start-up failed in a mode that keeps the reason (not `disabled`): the first
  // call's error.
  Error first_error(Config c) {
    auto client = make_client(std::move(c));
    if (client == nullptr) return Error{Errc::invalid_argument, "no client"};
    auto r = client->get("k");
    EXPECT_FALSE(r.ok());
    return r.ok() ? Error{} : r.error();
  }

  TestPki pki_;
  TestPki::Issued server_id_;
  TestPki::Issued client_id_;
};

TEST_F(Tls, RoundTripsOverTlsInEveryCallForm) {
  auto server = start_server(server_id_);
  ASSERT_NE(server, nullptr);
  auto client = make_client(tls_config(*server));
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(client->set("k" + std::to_string(i), "v" + std::to_string(i)).ok());
  }
  EXPECT_EQ(client->get("k7").value(), std::optional<std::string>("v7"));
  auto m = client->mget({"k1", "missing", "k199"});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)[0], std::optional<std::string>("v1"));
  EXPECT_FALSE((*m)[1].has_value());
  const std::string big(std::size_t{3} << 20, 'x');  // many records, compressed on the way
  ASSERT_TRUE(client->set("big", big).ok());
  EXPECT_TRUE(client->get("big").value() == std::optional<std::string>(big));
  EXPECT_EQ(client->get_async("k3").get().value(), std::optional<std::string>("v3"));
  // The server sees a TLS client: its own INFO counts the connection on the TLS port.
  auto who = client->command({"CLIENT", "INFO"});
  ASSERT_TRUE(who.ok());
  EXPECT_THAT(who->str, HasSubstr("laddr=127.0.0.1:" + std::to_string(server->tls_port())));
}

TEST_F(Tls, AnUntrustedCaIsATlsErrorNotDisabled) {
  auto server = start_server(server_id_);
  ASSERT_NE(server, nullptr);
  TestPki stranger("stranger CA");
  Config c = tls_config(*server);
  c.tls_ca_file = stranger.ca_file();
  const Error e = first_error(c);
  EXPECT_EQ(e.code, Errc::tls) << e.to_string();
  EXPECT_THAT(e.message, HasSubstr("does not trust"));
  EXPECT_THAT(e.message, HasSubstr("rcache test CA"));  // the issuer it was signed by
  c.degraded_mode = DegradedMode::fail_fast;
  auto r = Client::create(c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::tls);
}

TEST_F(Tls, ANameMismatchIsRefusedByDefaultAndAcceptedOnlyWhenInsecure) {
  TestPki::Spec spec;
  spec.common_name = "redis.internal";
  spec.dns = {"redis.internal"};
  spec.ips = {};
  auto server = start_server(pki_.issue("named", spec));
  ASSERT_NE(server, nullptr);
  Config c = tls_config(*server);
  const Error e = first_error(c);
  EXPECT_EQ(e.code, Errc::tls) << e.to_string();
  EXPECT_THAT(e.message,
              HasSubstr("has no IP address '127.0.0.1' among its names (DNS:redis.internal)"));
  Config by_name = c;
  by_name.host = "localhost";
  const Error n = first_error(by_name);
  EXPECT_EQ(n.code, Errc::tls) << n.to_string();
  EXPECT_THAT(n.message, HasSubstr("is for DNS:redis.internal, not 'localhost' (the name dialled"));

  // The name it is known by: verified against that instead of the IP dialled.
  Config named = c;
  named.tls_server_name = "redis.internal";
  auto ok = make_client(named);
  ASSERT_NE(ok, nullptr);
  EXPECT_TRUE(ok->set("k", "v").ok());

  // Insecure: accepted, and said loudly at start-up.
  std::mutex mu;
  std::vector<std::string> warnings;
  Config insecure = c;
  insecure.tls_insecure_skip_verify = true;
  insecure.log_level = LogLevel::warning;
  insecure.log_sink = [&](LogLevel l, std::string_view m) {
    std::lock_guard lock(mu);
    if (l == LogLevel::warning) warnings.emplace_back(m);
  };
  auto loose = make_client(insecure);
  ASSERT_NE(loose, nullptr);
  EXPECT_TRUE(loose->set("k", "v").ok());
  std::lock_guard lock(mu);
  ASSERT_FALSE(warnings.empty());
  EXPECT_THAT(warnings[0], HasSubstr("NOT verified"));
}

TEST_F(Tls, AnExpiredCertificateIsRefusedWithItsDate) {
  TestPki::Spec spec;
  spec.not_before_days = -30;
  spec.not_after_days = -1;
  auto server = start_server(pki_.issue("expired", spec));
  ASSERT_NE(server, nullptr);
  // Logged at error once per distinct reason, however many attempts follow.
  std::mutex mu;
  std::vector<std::string> errors;
  Config c = tls_config(*server);
  c.log_level = LogLevel::warning;
  c.reconnect_backoff_min = 10ms;
  c.reconnect_backoff_max = 20ms;
  c.log_sink = [&](LogLevel l, std::string_view m) {
    std::lock_guard lock(mu);
    if (l == LogLevel::error) errors.emplace_back(m);
  };
  auto client = make_client(c);
  ASSERT_NE(client, nullptr);
  auto r = client->get("k");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::tls) << r.error().to_string();
  EXPECT_THAT(r.error().message, HasSubstr("expired on"));
  std::this_thread::sleep_for(300ms);  // many reconnect attempts, all refused the same way
  std::lock_guard lock(mu);
  std::size_t expiry_lines = 0;
  for (const auto& line : errors) expiry_lines += line.find("expired on") != std::string::npos;
  EXPECT_GE(expiry_lines, 1u);
  EXPECT_LE(expiry_lines, 2u);  // the pool's line, and the start-up decision's
  EXPECT_THAT(errors, ::testing::Contains(HasSubstr("refused this client at start-up")));
}

TEST_F(Tls, MutualTlsWithoutAClientCertificateSaysSoAndWithOneWorks) {
  auto server = start_server(server_id_, /*auth_clients=*/true);
  ASSERT_NE(server, nullptr);
  // TLS 1.3: the refusal is an alert after the client's handshake ended, or, when the client
  // wrote first, a reset; either way the message points at the client certificate.
  const Error e = first_error(tls_config(*server));
  EXPECT_THAT(e.code, AnyOf(Errc::tls, Errc::connection, Errc::disabled)) << e.to_string();
  EXPECT_THAT(e.message, HasSubstr("client certificate"));
  Config c = tls_config(*server);
  c.tls_cert_file = client_id_.cert_file;
  c.tls_key_file = client_id_.key_file;
  auto client = make_client(c);
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(client->set("mtls", "yes").ok());
  EXPECT_EQ(client->get("mtls").value(), std::optional<std::string>("yes"));
}

TEST_F(Tls, KillNineUnderLoadThenTheSameClientRecoversOverTls) {
  auto server = start_server(server_id_);
  ASSERT_NE(server, nullptr);
  Config c = tls_config(*server);
  c.command_timeout = 200ms;
  c.deadline = 400ms;
  c.reconnect_backoff_max = 200ms;
  auto client = make_client(c);
  ASSERT_NE(client, nullptr);
  std::atomic<bool> stop{false};
  std::atomic<long> ok{0}, failed{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&] {
      for (int i = 0; !stop.load() && i < 10'000'000; ++i) {
        (client->set("k", "v").ok() ? ok : failed).fetch_add(1);
      }
    });
  }
  std::this_thread::sleep_for(300ms);
  server->kill9();
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(server->restart());
  const bool back = eventually(10s, [&] { return client->get("k").ok(); });
  stop = true;
  for (auto& t : load) t.join();
  std::printf("[ figures  ] TLS kill -9 under load: %ld ok, %ld failed\n", ok.load(),
              failed.load());
  EXPECT_TRUE(back);
  EXPECT_GT(ok.load(), 0);
  EXPECT_TRUE(client->set("after", "restart").ok());
}

// The CLIENT KILL ride-through of a plain pool holds over TLS, and the reconnects resume the
// session the first handshakes got from Redis (tls-session-caching is on by default).
TEST_F(Tls, ReconnectsAfterAClientKillResumeTheSessionAndFailNoCall) {
  auto server = start_server(server_id_);
  ASSERT_NE(server, nullptr);
  Config c = tls_config(*server);
  c.blocking_spin = std::chrono::microseconds(0);
  auto victim = make_client(c);
  ASSERT_NE(victim, nullptr);
  ASSERT_TRUE(victim->set("k", "v").ok());
  auto killer = make_client(tls_config(*server));
  ASSERT_NE(killer, nullptr);
  std::atomic<bool> stop{false};
  std::atomic<long> ok{0}, failed{0};
  std::mutex first_mu;
  std::string first_error;
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&] {
      for (int i = 0; !stop.load() && i < 10'000'000; ++i) {
        auto r = victim->get("k");
        if (r.ok()) {
          ok.fetch_add(1);
          continue;
        }
        failed.fetch_add(1);
        std::lock_guard lock(first_mu);
        if (first_error.empty()) first_error = r.error().to_string();
      }
    });
  }
  std::int64_t killed = 0;
  for (int round = 0; round < 2; ++round) {
    std::this_thread::sleep_for(300ms);
    auto r = killer->command({"CLIENT", "KILL", "TYPE", "normal"});  // all but the killer's own
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    killed += r->integer;
  }
  // Right after a kill the pool can still look whole: the client has not read the closures yet.
  // Back means every connection of both waves handshook again.
  const bool back = eventually(10s, [&] {
    const PoolStatus s = victim->pool_status();
    return s.ready == c.pool_size && s.tls_handshakes >= 3 * c.pool_size - 2;
  });
  stop = true;
  for (auto& t : load) t.join();
  const PoolStatus p = victim->pool_status();
  const Stats st = victim->stats();
  std::printf(
      "[ figures  ] TLS, 2 x CLIENT KILL of the pool (%lld connections), 4 threads: %ld ok, "
      "%ld failed; %llu handshakes, %llu resumed\n",
      static_cast<long long>(killed), ok.load(), failed.load(),
      static_cast<unsigned long long>(p.tls_handshakes),
      static_cast<unsigned long long>(p.tls_resumed));
  EXPECT_TRUE(back);
  EXPECT_GE(killed, 2 * static_cast<std::int64_t>(c.pool_size) - 2);
  EXPECT_EQ(failed.load(), 0) << "first failure: " << first_error;
  EXPECT_EQ(st.breaker_transitions, 0u);
  EXPECT_GE(p.tls_handshakes, 3 * c.pool_size - 2);
  // The first handshakes of the pool run before any session exists; every reconnect resumes
  // (each handshake leaves two single-use TLS 1.3 tickets behind).
  EXPECT_EQ(p.tls_resumed, p.tls_handshakes - c.pool_size);
  EXPECT_THAT(victim->health().to_json(),
              HasSubstr("\"tls_resumed\":" + std::to_string(p.tls_resumed)));
}

// Redis ends a killed TLS client with a close_notify: a clean end, after which a TLS 1.2 session
// (reusable, unlike a TLS 1.3 ticket) must stay resumable for every reconnect.
TEST_F(Tls, OverTls12EveryReconnectResumesToo) {
  auto server = start_server(server_id_, false, {"--tls-protocols", "TLSv1.2"});
  ASSERT_NE(server, nullptr);
  Config c = tls_config(*server);
  auto victim = make_client(c);
  ASSERT_NE(victim, nullptr);
  ASSERT_TRUE(victim->set("k", "v").ok());
  Config k = tls_config(*server);
  k.pool_size = 1;  // CLIENT KILL spares the connection that sends it: nothing else of its own
  auto killer = make_client(k);
  ASSERT_NE(killer, nullptr);
  for (std::size_t round = 1; round <= 3; ++round) {
    auto r = killer->command({"CLIENT", "KILL", "TYPE", "normal"});
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    ASSERT_TRUE(eventually(10s, [&] {
      const PoolStatus p = victim->pool_status();
      return p.ready == c.pool_size && p.tls_handshakes >= (round + 1) * c.pool_size;
    })) << round;
  }
  EXPECT_TRUE(victim->get("k").ok());
  const PoolStatus p = victim->pool_status();
  EXPECT_EQ(p.tls_resumed, p.tls_handshakes - c.pool_size) << p.tls_handshakes;
}

TEST_F(Tls, WithResumptionOffEveryReconnectIsAFullHandshake) {
  auto server = start_server(server_id_);
  ASSERT_NE(server, nullptr);
  Config c = tls_config(*server);
  c.tls_session_resumption = false;
  auto victim = make_client(c);
  ASSERT_NE(victim, nullptr);
  ASSERT_TRUE(victim->set("k", "v").ok());
  auto killer = make_client(tls_config(*server));
  ASSERT_NE(killer, nullptr);
  auto r = killer->command({"CLIENT", "KILL", "TYPE", "normal"});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  // CLIENT KILL spares only the connection that sent it: the killer's other pooled connections
  // reconnect too, with resumption on (the default) - the contrast in the same run.
  const auto back = [&c](Client& cl, std::size_t reconnects) {
    const PoolStatus p = cl.pool_status();
    return p.ready == c.pool_size && p.tls_handshakes >= c.pool_size + reconnects;
  };
  ASSERT_TRUE(eventually(
      10s, [&] { return back(*victim, c.pool_size) && back(*killer, c.pool_size - 1); }));
  EXPECT_TRUE(victim->get("k").ok());
  EXPECT_EQ(victim->pool_status().tls_resumed, 0u);
  const PoolStatus k = killer->pool_status();
  EXPECT_EQ(k.tls_resumed, k.tls_handshakes - c.pool_size);
  EXPECT_GE(k.tls_resumed, c.pool_size - 1);
}

// A stalled TLS server: calls end at their deadline with a timeout, and the client is back once
// the server is (the timeout and breaker rules are the transport's, under TLS as over TCP).
TEST_F(Tls, AStalledTlsServerTimesOutAndTheClientRecovers) {
  auto server = start_server(server_id_);
  ASSERT_NE(server, nullptr);
  Config c = tls_config(*server);
  c.command_timeout = 200ms;
  c.deadline = 500ms;
  auto client = make_client(c);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->set("k", "v").ok());
  server->pause();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = client->get("k");
  const auto took = std::chrono::steady_clock::now() - t0;
  server->resume();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().code, AnyOf(Errc::timeout, Errc::circuit_open)) << r.error().to_string();
  EXPECT_LT(took, 5s);  // a generous bound on a 500 ms deadline
  EXPECT_TRUE(eventually(10s, [&] { return client->get("k").ok(); }));
  EXPECT_EQ(client->get("k").value(), std::optional<std::string>("v"));
}

TEST_F(Tls, ATlsClientToAPlainPortAndAPlainClientToATlsPortFailClearly) {
  auto server = start_server(server_id_);
  ASSERT_NE(server, nullptr);
  Config to_plain = tls_config(*server);
  to_plain.port = server->port();
  // Redis waits for a newline that a ClientHello may never contain: the TLS handshake times out
  // within connect_timeout, and the message says where it stopped and what to check.
  to_plain.connect_timeout = 1s;
  const Error e = first_error(to_plain);
  EXPECT_THAT(e.code, AnyOf(Errc::tls, Errc::connection, Errc::disabled)) << e.to_string();
  EXPECT_THAT(e.message, HasSubstr("TLS handshake"));
  EXPECT_THAT(e.message, HasSubstr("TLS port"));

  Config plain = config_for(*server);
  plain.port = server->tls_port();
  plain.connect_timeout = 2s;
  plain.log_level = LogLevel::off;
  const Error p = first_error(plain);
  EXPECT_THAT(p.code, AnyOf(Errc::disabled, Errc::connection)) << p.to_string();
  EXPECT_THAT(p.message, HasSubstr("use rediss://")) << p.to_string();
}

TEST_F(Tls, GarbageFromATlsPortIsAnErrorNotACrash) {
  FakeServer::Script script;
  script.greeting = "HTTP/1.1 400 Bad Request\r\n\r\n";
  script.payload = "";
  FakeServer garbage(script);
  Config c;
  c.port = garbage.port();
  c.tls = true;
  c.tls_ca_file = pki_.ca_file();
  c.client_name = "";
  c.connect_timeout = 1s;
  c.log_level = LogLevel::off;
  const Error e = first_error(c);
  EXPECT_EQ(e.code, Errc::tls) << e.to_string();
  EXPECT_THAT(e.message, HasSubstr("does not speak TLS"));
}

TEST_F(Tls, BadTlsFilesFailCreateNamingTheField) {
  auto server = start_server(server_id_);
  ASSERT_NE(server, nullptr);
  Config c = tls_config(*server);
  c.tls_ca_file = pki_.dir() + "/no-such-ca.pem";
  auto r = Client::create(c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_THAT(r.error().message, HasSubstr("tls_ca_file"));
}

}  // namespace
}  // namespace rcache::test
