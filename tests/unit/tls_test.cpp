// TlsContext / TlsSession against an in-memory OpenSSL server: no socket, certificates made on the
// fly (tests/support/test_pki.hpp). Every failure a user can meet gives Errc::tls with a message
// that names the problem.
#include "transport/tls.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <memory>
#include <optional>
#include <vector>

#include "test_pki.hpp"

namespace rcache::detail {
namespace {

using test::TestPki;
using ::testing::HasSubstr;

// The server side: an SSL object over memory BIOs.
class MemServer {
 public:
  struct Options {
    bool require_client_cert = false;
    std::string client_ca_file;
    int max_version = 0;     // 0: OpenSSL's highest
    bool anonymous = false;  // no certificate: anonymous (aNULL) TLS 1.2 suites only
  };
  MemServer(const TestPki::Issued& id, const Options& o) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    if (o.anonymous) {
      SSL_CTX_set_max_proto_version(ctx_, TLS1_2_VERSION);
      EXPECT_EQ(SSL_CTX_set_cipher_list(ctx_, "aNULL:@SECLEVEL=0"), 1);
      SSL_CTX_set_dh_auto(ctx_, 1);
    } else {
      EXPECT_EQ(SSL_CTX_use_certificate_chain_file(ctx_, id.cert_file.c_str()), 1);
      EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx_, id.key_file.c_str(), SSL_FILETYPE_PEM), 1);
    }
    if (o.max_version != 0) SSL_CTX_set_max_proto_version(ctx_, o.max_version);
    if (o.require_client_cert) {
      SSL_CTX_load_verify_locations(ctx_, o.client_ca_file.c_str(), nullptr);
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    open();
  }
  // Another connection to the same server (same keys: a session it issued can be resumed).
  explicit MemServer(const MemServer& same_server) : ctx_(same_server.ctx_) {
    SSL_CTX_up_ref(ctx_);
    open();
  }
  void open() {
    ssl_ = SSL_new(ctx_);
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_, in_, out_);
    SSL_set_accept_state(ssl_);
  }
  ~MemServer() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  // Client bytes in; handshake progress or application data; server bytes out.
  std::string step(const std::string& from_client) {
    if (!from_client.empty())
      BIO_write(in_, from_client.data(), static_cast<int>(from_client.size()));
    ERR_clear_error();
    if (SSL_is_init_finished(ssl_) == 0) {
      if (SSL_do_handshake(ssl_) <= 0) {
        const int e = SSL_get_error(ssl_, -1);
        (void)e;
      }
    }
    if (SSL_is_init_finished(ssl_) != 0) {
      char buf[4096];
      int n = 0;
      while ((n = SSL_read(ssl_, buf, sizeof buf)) > 0)
        received.append(buf, static_cast<std::size_t>(n));
    }
    return drain();
  }
  std::string write(std::string_view plain) {
    SSL_write(ssl_, plain.data(), static_cast<int>(plain.size()));
    return drain();
  }
  bool done() const { return SSL_is_init_finished(ssl_) != 0; }
  std::string received;

 private:
  std::string drain() {
    std::string out;
    char buf[4096];
    int n = 0;
    while ((n = BIO_read(out_, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;
  BIO* out_ = nullptr;
};

class TlsTest : public ::testing::Test {
 protected:
  TlsTest() { server_id_ = pki_.issue("server", {}); }

  Config client_config() {
    Config c;
    c.tls = true;
    c.tls_ca_file = pki_.ca_file();
    return c;
  }
  std::shared_ptr<TlsContext> context(const Config& c) {
    auto r = TlsContext::create(c);
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    return r.ok() ? *r : nullptr;
  }
  // Exchanges records until the client is established and the server done, or an error; at most
  // 20 rounds. Application bytes the client decrypts land in `plain_`.
  Result<void> handshake(TlsSession& client, MemServer& server) {
    if (auto r = client.start(); !r) return r;
    for (int round = 0; round < 20; ++round) {
      const std::string to_server = client.take_output();
      const std::string to_client = server.step(to_server);
      if (!to_client.empty()) {
        if (auto r = client.feed(to_client.data(), to_client.size(), plain_); !r) return r;
      }
      if (client.established() && server.done() && !client.has_output()) return {};
    }
    return Error{Errc::timeout, "handshake did not finish in 20 rounds"};
  }
  // One request/reply over an established session (also delivers post-handshake messages such
  // as TLS 1.3 session tickets, and a server's late refusal).
  Result<void> ping(TlsSession& client, MemServer& server) {
    if (auto r = client.send("PING"); !r) return r;
    std::string back = server.step(client.take_output());
    back += server.write("+PONG");
    return client.feed(back.data(), back.size(), plain_);
  }

  TestPki pki_;
  TestPki::Issued server_id_;
  std::string plain_;
};

TEST_F(TlsTest, HandshakeAndRoundTripWithTheNameVerified) {
  auto ctx = context(client_config());
  TlsSession client(ctx, "localhost", "localhost:6379");
  MemServer server(server_id_, {});
  ASSERT_TRUE(handshake(client, server).ok());
  ASSERT_TRUE(ping(client, server).ok());
  EXPECT_EQ(server.received, "PING");
  EXPECT_EQ(plain_, "+PONG");
  EXPECT_THAT(client.describe(), HasSubstr("TLSv1.3"));
}

TEST_F(TlsTest, AnIpLiteralIsVerifiedAgainstTheIpSan) {
  auto ctx = context(client_config());
  TlsSession client(ctx, "127.0.0.1", "127.0.0.1:6379");
  MemServer server(server_id_, {});
  ASSERT_TRUE(handshake(client, server).ok());
  TlsSession other(ctx, "10.9.8.7", "10.9.8.7:6379");
  MemServer server2(server_id_, {});
  auto r = handshake(other, server2);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::tls);
  EXPECT_THAT(r.error().message, HasSubstr("IP:127.0.0.1"));
  EXPECT_THAT(r.error().message, HasSubstr("no IP address '10.9.8.7'"));
}

// Names come from the subjectAltName only: a certificate with only a CN matches nothing.
TEST_F(TlsTest, ACertificateWithOnlyACommonNameMatchesNoName) {
  TestPki::Spec spec;
  spec.common_name = "localhost";
  spec.dns.clear();
  spec.ips.clear();
  const auto cn_only = pki_.issue("cn-only", spec);
  auto ctx = context(client_config());
  TlsSession client(ctx, "localhost", "localhost:6379");
  MemServer server(cn_only, {});
  auto r = handshake(client, server);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::tls);
  EXPECT_THAT(r.error().message, HasSubstr("no subjectAltName"));
  EXPECT_THAT(r.error().message, HasSubstr("not 'localhost'"));
}

TEST_F(TlsTest, AChainThroughAnIntermediateIsVerifiedAndAnExpiredOneIsNamed) {
  TestPki::Spec good;
  good.via_intermediate = true;
  const auto chained = pki_.issue("chained", good);
  auto ctx = context(client_config());
  TlsSession ok(ctx, "localhost", "localhost:6379");
  MemServer s1(chained, {});
  ASSERT_TRUE(handshake(ok, s1).ok());

  TestPki::Spec bad = good;
  bad.intermediate_not_before_days = -400;
  bad.intermediate_not_after_days = -2;
  const auto stale = pki_.issue("stale", bad);
  TlsSession refused(ctx, "localhost", "localhost:6379");
  MemServer s2(stale, {});
  auto r = handshake(refused, s2);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::tls);
  EXPECT_THAT(r.error().message, HasSubstr("a CA certificate of the server's chain"));
  EXPECT_THAT(r.error().message, HasSubstr("stale intermediate CA, depth 1"));
  EXPECT_THAT(r.error().message, HasSubstr("expired on"));
}

// tls_ciphers that allow anonymous suites must not turn verification off.
TEST_F(TlsTest, AnAnonymousCipherSuiteIsRefusedWhileVerifying) {
  Config c = client_config();
  c.tls_ciphers = "ALL:aNULL:@SECLEVEL=0";
  auto ctx = context(c);
  TlsSession client(ctx, "localhost", "localhost:6379");
  MemServer::Options o;
  o.anonymous = true;
  MemServer server(server_id_, o);
  auto r = handshake(client, server);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::tls);
  EXPECT_THAT(r.error().message, HasSubstr("showed no certificate"));
  EXPECT_FALSE(client.established());
  EXPECT_FALSE(client.send("PING").ok());
}

TEST_F(TlsTest, ACertificateForAnotherNameIsRefusedNamingBoth) {
  TestPki::Spec spec;
  spec.common_name = "cache.other.example";
  spec.dns = {"cache.other.example"};
  spec.ips = {};
  const auto other = pki_.issue("other", spec);
  auto ctx = context(client_config());
  TlsSession client(ctx, "localhost", "localhost:6380");
  MemServer server(other, {});
  auto r = handshake(client, server);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::tls);
  EXPECT_THAT(r.error().message, HasSubstr("TLS handshake with localhost:6380 failed"));
  EXPECT_THAT(r.error().message, HasSubstr("is for DNS:cache.other.example, not 'localhost'"));
  EXPECT_THAT(r.error().message, HasSubstr("tls_server_name"));
}

TEST_F(TlsTest, AnUntrustedCaIsRefusedNamingTheIssuer) {
  TestPki stranger("stranger CA");
  const auto id = stranger.issue("server", {});
  auto ctx = context(client_config());  // trusts pki_, not stranger
  TlsSession client(ctx, "localhost", "localhost:6379");
  MemServer server(id, {});
  auto r = handshake(client, server);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::tls);
  EXPECT_THAT(r.error().message, HasSubstr("does not trust"));
  EXPECT_THAT(r.error().message, HasSubstr("stranger CA"));
  EXPECT_THAT(r.error().message, HasSubstr("tls_ca_file"));
}

TEST_F(TlsTest, AnExpiredCertificateIsRefusedWithItsDate) {
  TestPki::Spec spec;
  spec.not_before_days = -30;
  spec.not_after_days = -1;
  const auto old = pki_.issue("expired", spec);
  auto ctx = context(client_config());
  TlsSession client(ctx, "localhost", "localhost:6379");
  MemServer server(old, {});
  auto r = handshake(client, server);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::tls);
  EXPECT_THAT(r.error().message, HasSubstr("expired on"));
  EXPECT_THAT(r.error().message, HasSubstr("GMT"));
}

TEST_F(TlsTest, ACertificateNotYetValidIsRefused) {
  TestPki::Spec spec;
  spec.not_before_days = 2;
  spec.not_after_days = 30;
  const auto future = pki_.issue("future", spec);
  auto ctx = context(client_config());
  TlsSession client(ctx, "localhost", "localhost:6379");
  MemServer server(future, {});
  auto r = handshake(client, server);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("is not valid before"));
}

TEST_F(TlsTest, InsecureSkipVerifyAcceptsAnyCertificateForAnyName) {
  TestPki stranger("stranger CA");
  TestPki::Spec spec;
  spec.dns = {"elsewhere.example"};
  spec.ips = {};
  const auto id = stranger.issue("server", spec);
  Config c = client_config();
  c.tls_insecure_skip_verify = true;
  auto ctx = context(c);
  TlsSession client(ctx, "localhost", "localhost:6379");
  MemServer server(id, {});
  ASSERT_TRUE(handshake(client, server).ok());
  ASSERT_TRUE(ping(client, server).ok());
  EXPECT_EQ(plain_, "+PONG");
}

TEST_F(TlsTest, AServerRequiringAClientCertificateSaysSoAndAcceptsOne) {
  MemServer::Options o;
  o.require_client_cert = true;
  o.client_ca_file = pki_.ca_file();
  {
    auto ctx = context(client_config());
    TlsSession client(ctx, "localhost", "localhost:6379");
    MemServer server(server_id_, o);
    // TLS 1.3: the client finishes first; the refusal arrives with the next records.
    auto r = handshake(client, server);
    if (r.ok()) r = ping(client, server);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::tls);
    EXPECT_THAT(r.error().message, HasSubstr("client certificate"));
    EXPECT_THAT(r.error().message, HasSubstr("tls_cert_file"));
  }
  TestPki::Spec spec;
  spec.client = true;
  spec.key_password = "s3cret";
  const auto mine = pki_.issue("client", spec);
  Config c = client_config();
  c.tls_cert_file = mine.cert_file;
  c.tls_key_file = mine.key_file;
  c.tls_key_password = "s3cret";
  auto ctx = context(c);
  TlsSession client(ctx, "localhost", "localhost:6379");
  MemServer server(server_id_, o);
  ASSERT_TRUE(handshake(client, server).ok());
  ASSERT_TRUE(ping(client, server).ok());
  EXPECT_EQ(plain_, "+PONG");
}

TEST_F(TlsTest, NoCommonVersionIsNamed) {
  Config c = client_config();
  c.tls_min_version = "1.3";
  auto ctx = context(c);
  TlsSession client(ctx, "localhost", "localhost:6379");
  MemServer::Options o;
  o.max_version = TLS1_2_VERSION;
  MemServer server(server_id_, o);
  auto r = handshake(client, server);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::tls);
  EXPECT_THAT(r.error().message, HasSubstr("no TLS version in common"));
}

TEST_F(TlsTest, APlaintextServerIsNamedAsNotSpeakingTls) {
  auto ctx = context(client_config());
  TlsSession client(ctx, "localhost", "localhost:6379");
  ASSERT_TRUE(client.start().ok());
  EXPECT_TRUE(client.has_output());  // the ClientHello
  (void)client.take_output();
  const std::string reply = "-ERR unknown command '\x16\x03\x01'\r\n";
  auto r = client.feed(reply.data(), reply.size(), plain_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::tls);
  EXPECT_THAT(r.error().message, HasSubstr("does not speak TLS"));
}

TEST_F(TlsTest, GarbageAfterTheHandshakeIsAnErrorNotACrash) {
  auto ctx = context(client_config());
  TlsSession client(ctx, "localhost", "localhost:6379");
  MemServer server(server_id_, {});
  ASSERT_TRUE(handshake(client, server).ok());
  // A whole application-data record (type 23, TLS 1.2 framing, 256 bytes) that is not ours.
  std::string garbage = std::string("\x17\x03\x03\x01\x00", 5) + std::string(256, '\x5a');
  auto r = client.feed(garbage.data(), garbage.size(), plain_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::tls);
}

TEST_F(TlsTest, AReconnectResumesTheSessionUnlessResumptionIsOff) {
  for (bool resume : {true, false}) {
    Config c = client_config();
    c.tls_session_resumption = resume;
    auto ctx = context(c);
    MemServer server1(server_id_, {});
    {
      TlsSession first(ctx, "localhost", "localhost:6379");
      ASSERT_TRUE(handshake(first, server1).ok());
      ASSERT_TRUE(ping(first, server1).ok());  // carries the TLS 1.3 session tickets
      EXPECT_FALSE(first.resumed());
    }
    MemServer server2(server1);  // the same server, a new connection
    TlsSession second(ctx, "localhost", "localhost:6379");
    ASSERT_TRUE(handshake(second, server2).ok()) << resume;
    EXPECT_EQ(second.resumed(), resume);
    plain_.clear();
    ASSERT_TRUE(ping(second, server2).ok());
    EXPECT_EQ(plain_, "+PONG");
  }
}

// A TLS 1.3 ticket is offered once (RFC 8446 C.4: a server with a session cache, like Redis,
// accepts it once); a first connection leaves two, so of three reconnects started together two
// resume and the third makes a full handshake. Sessions are kept per peer.
TEST_F(TlsTest, ATls13TicketIsOfferedOnceAndOnlyToItsPeer) {
  auto ctx = context(client_config());
  MemServer server(server_id_, {});
  {
    TlsSession first(ctx, "localhost", "localhost:6379");
    ASSERT_TRUE(handshake(first, server).ok());
    ASSERT_TRUE(ping(first, server).ok());
  }
  // Another endpoint with the same name: none of the first endpoint's sessions.
  MemServer other(server);
  TlsSession elsewhere(ctx, "localhost", "localhost:6380");
  ASSERT_TRUE(handshake(elsewhere, other).ok());
  EXPECT_FALSE(elsewhere.resumed());

  std::vector<std::unique_ptr<MemServer>> servers;
  std::vector<std::unique_ptr<TlsSession>> clients;
  for (int i = 0; i < 3; ++i) {
    servers.push_back(std::make_unique<MemServer>(server));
    clients.push_back(std::make_unique<TlsSession>(ctx, "localhost", "localhost:6379"));
    ASSERT_TRUE(clients.back()->start().ok());  // each takes its session now
  }
  int resumed = 0;
  for (int i = 0; i < 3; ++i) {
    auto& c = *clients[static_cast<std::size_t>(i)];
    auto& s = *servers[static_cast<std::size_t>(i)];
    for (int round = 0; round < 20 && !(c.established() && s.done() && !c.has_output()); ++round) {
      const std::string back = s.step(c.take_output());
      if (!back.empty()) {
        ASSERT_TRUE(c.feed(back.data(), back.size(), plain_).ok());
      }
    }
    ASSERT_TRUE(c.established());
    resumed += c.resumed() ? 1 : 0;
  }
  EXPECT_EQ(resumed, 2);
  EXPECT_EQ(ctx->handshakes(), 5u);
  EXPECT_EQ(ctx->resumed(), 2u);
}

// A TLS 1.2 session may be resumed by several connections: it stays for the next one.
TEST_F(TlsTest, ATls12SessionResumesEveryReconnect) {
  auto ctx = context(client_config());
  MemServer::Options o;
  o.max_version = TLS1_2_VERSION;
  MemServer server(server_id_, o);
  {
    TlsSession first(ctx, "localhost", "localhost:6379");
    ASSERT_TRUE(handshake(first, server).ok());
    EXPECT_EQ(first.describe().rfind("TLSv1.2", 0), 0u) << first.describe();
  }
  for (int i = 0; i < 3; ++i) {
    MemServer again(server);
    TlsSession next(ctx, "localhost", "localhost:6379");
    ASSERT_TRUE(handshake(next, again).ok());
    EXPECT_TRUE(next.resumed()) << i;
  }
  EXPECT_EQ(ctx->resumed(), 3u);
}

TEST_F(TlsTest, BadFilesAreConfigurationErrorsNamingTheField) {
  Config c = client_config();
  c.tls_ca_file = pki_.dir() + "/missing.crt";
  auto r = TlsContext::create(c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_THAT(r.error().message, HasSubstr("tls_ca_file '" + c.tls_ca_file + "'"));
  EXPECT_THAT(r.error().message, HasSubstr("No such file or directory"));

  TestPki::Spec spec;
  spec.client = true;
  spec.key_password = "right";
  const auto mine = pki_.issue("client", spec);
  const auto other = pki_.issue("other-client", TestPki::Spec{});
  Config k = client_config();
  k.tls_cert_file = mine.cert_file;
  k.tls_key_file = mine.key_file;
  auto no_pw = TlsContext::create(k);
  ASSERT_FALSE(no_pw.ok());
  EXPECT_THAT(no_pw.error().message, HasSubstr("is encrypted: set tls_key_password"));
  k.tls_key_password = "wrong";
  auto wrong = TlsContext::create(k);
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.error().message, HasSubstr("tls_key_password does not decrypt tls_key_file"));
  EXPECT_THAT(wrong.error().message, ::testing::Not(HasSubstr("wrong\'")));  // never the password
  k.tls_key_file = other.key_file;
  k.tls_key_password.clear();
  auto mismatch = TlsContext::create(k);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_THAT(mismatch.error().message, HasSubstr("is not the key of tls_cert_file"));

  // The usual mix-ups: the certificate given as the key, a key as the CA, a missing CA dir.
  Config swapped = client_config();
  swapped.tls_cert_file = other.cert_file;
  swapped.tls_key_file = other.cert_file;
  auto cert_as_key = TlsContext::create(swapped);
  ASSERT_FALSE(cert_as_key.ok());
  EXPECT_THAT(cert_as_key.error().message,
              HasSubstr("holds no PEM private key (it is a certificate"));
  Config key_as_ca = client_config();
  key_as_ca.tls_ca_file = other.key_file;
  auto ca = TlsContext::create(key_as_ca);
  ASSERT_FALSE(ca.ok());
  EXPECT_THAT(ca.error().message,
              HasSubstr("tls_ca_file '" + other.key_file + "' holds no PEM certificate"));
  Config dir = client_config();
  dir.tls_ca_file.clear();
  dir.tls_ca_dir = pki_.dir() + "/no-such-dir";
  auto d = TlsContext::create(dir);
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.error().message,
              HasSubstr("tls_ca_dir '" + dir.tls_ca_dir + "' is not a directory"));

  Config ciphers = client_config();
  ciphers.tls_ciphers = "NO-SUCH-CIPHER";
  auto bad = TlsContext::create(ciphers);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("tls_ciphers = 'NO-SUCH-CIPHER'"));
}

}  // namespace
}  // namespace rcache::detail
