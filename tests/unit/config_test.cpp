#include "rcache/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

using rcache::Config;
using rcache::Errc;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

void expect_invalid(std::string_view url, std::string_view fragment) {
  auto r = Config::from_url(url);
  ASSERT_FALSE(r.ok()) << url;
  EXPECT_EQ(r.error().code, Errc::invalid_argument) << url;
  EXPECT_THAT(r.error().message, HasSubstr(std::string(fragment))) << url;
}

TEST(ConfigUrl, ParsesHostPortAndDb) {
  auto r = Config::from_url("redis://cache.internal:6380/3");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->host, "cache.internal");
  EXPECT_EQ(r->port, 6380);
  EXPECT_EQ(r->db, 3);
  EXPECT_TRUE(r->password.empty());
  EXPECT_TRUE(r->unix_socket.empty());
}

TEST(ConfigUrl, DefaultsPortAndDb) {
  auto r = Config::from_url("redis://localhost");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->port, 6379);
  EXPECT_EQ(r->db, 0);
  auto slash = Config::from_url("redis://localhost:7000/");
  ASSERT_TRUE(slash.ok());
  EXPECT_EQ(slash->port, 7000);
  EXPECT_EQ(slash->db, 0);
}

TEST(ConfigUrl, PasswordOnly) {
  auto r = Config::from_url("redis://:s3cret@127.0.0.1:6379/0");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->username, "");
  EXPECT_EQ(r->password, "s3cret");
}

TEST(ConfigUrl, AclUserAndPercentEscapes) {
  auto r = Config::from_url("redis://app%2Duser:p%40ss%3Aw%25rd@127.0.0.1/1");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->username, "app-user");
  EXPECT_EQ(r->password, "p@ss:w%rd");
  EXPECT_EQ(r->db, 1);
}

TEST(ConfigUrl, PasswordContainingAtSign) {
  auto r = Config::from_url("redis://:a@b@127.0.0.1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->password, "a@b");
  EXPECT_EQ(r->host, "127.0.0.1");
}

TEST(ConfigUrl, Ipv6Host) {
  auto r = Config::from_url("redis://[::1]:6390/2");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->host, "::1");
  EXPECT_EQ(r->port, 6390);
  EXPECT_EQ(r->db, 2);
}

TEST(ConfigUrl, UnixSocketWithDb) {
  auto r = Config::from_url("unix:///var/run/redis/redis.sock?db=4");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->unix_socket, "/var/run/redis/redis.sock");
  EXPECT_EQ(r->db, 4);
}

TEST(ConfigUrl, UnixSocketWithPasswordParameter) {
  auto r = Config::from_url("unix:///tmp/r.sock?db=1&password=x%20y");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->password, "x y");
}

TEST(ConfigUrl, RedissTurnsTlsOnWithRedisPySpellings) {
  auto c = Config::from_url(
      "rediss://:pw@cache.example:6380/2?ssl_ca_certs=/etc/ca%20dir/ca.pem"
      "&ssl_certfile=/etc/c.pem&ssl_keyfile=/etc/k.pem&ssl_password=k%2Fpw"
      "&tls_server_name=redis.internal&tls_min_version=1.3");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_TRUE(c->tls);
  EXPECT_EQ(c->host, "cache.example");
  EXPECT_EQ(c->port, 6380);
  EXPECT_EQ(c->db, 2);
  EXPECT_EQ(c->tls_ca_file, "/etc/ca dir/ca.pem");
  EXPECT_EQ(c->tls_cert_file, "/etc/c.pem");
  EXPECT_EQ(c->tls_key_file, "/etc/k.pem");
  EXPECT_EQ(c->tls_key_password, "k/pw");
  EXPECT_EQ(c->tls_server_name, "redis.internal");
  EXPECT_EQ(c->tls_min_version, "1.3");
  EXPECT_FALSE(c->tls_insecure_skip_verify);
  auto none = Config::from_url("rediss://127.0.0.1:6380?ssl_cert_reqs=none");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->tls_insecure_skip_verify);
  EXPECT_FALSE(Config::from_url("redis://127.0.0.1:6380").value().tls);
  expect_invalid("rediss://127.0.0.1?ssl_cert_reqs=maybe", "ssl_cert_reqs = 'maybe'");
  // TLS options on a plaintext URL are an error, not silently plaintext.
  expect_invalid("redis://127.0.0.1?ssl_ca_certs=/etc/ca.pem", "TLS option 'ssl_ca_certs'");
  for (const char* q : {"ssl_cert_reqs=required", "tls_min_version=1.3", "ssl_password=x"}) {
    expect_invalid(std::string("redis://127.0.0.1?") + q, "use rediss://");
    expect_invalid(std::string("unix:///tmp/r.sock?") + q, "use rediss://");
  }
  EXPECT_FALSE(
      Config::from_url("rediss://h?ssl_cert_reqs=optional").value().tls_insecure_skip_verify);
}

// '@' in a query value (a key password, a path) is not the end of a userinfo; '@' and '?' in a
// password still are what they were.
TEST(ConfigUrl, AnAtSignInTheQueryIsPartOfItsValue) {
  auto c = Config::from_url(
      "rediss://localhost:39875?ssl_ca_certs=/p/dir@host/ca.pem&ssl_password=p@ss");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->host, "localhost");
  EXPECT_EQ(c->port, 39875);
  EXPECT_EQ(c->tls_ca_file, "/p/dir@host/ca.pem");
  EXPECT_EQ(c->tls_key_password, "p@ss");
  EXPECT_TRUE(c->password.empty());
  EXPECT_THAT(c->to_string(), HasSubstr("rediss://localhost:39875/0"));
  EXPECT_THAT(c->to_string(), Not(HasSubstr("p@ss")));

  auto both = Config::from_url("rediss://u:pa?ss/x@h:1/2?ssl_password=k@y&db=3");
  ASSERT_TRUE(both.ok()) << both.error().to_string();
  EXPECT_EQ(both->username, "u");
  EXPECT_EQ(both->password, "pa?ss/x");
  EXPECT_EQ(both->host, "h");
  EXPECT_EQ(both->db, 3);
  EXPECT_EQ(both->tls_key_password, "k@y");

  auto unix = Config::from_url("unix://:pw@/tmp/r.sock?db=1");
  ASSERT_TRUE(unix.ok()) << unix.error().to_string();
  EXPECT_EQ(unix->password, "pw");
  auto sentinel =
      Config::from_url("rediss+sentinel://:pw@s1/m?sentinel_password=s@p&ssl_ca_certs=/a@b/ca.pem");
  ASSERT_TRUE(sentinel.ok()) << sentinel.error().to_string();
  EXPECT_EQ(sentinel->sentinels, std::vector<std::string>{"s1"});
  EXPECT_EQ(sentinel->sentinel_password, "s@p");
  EXPECT_EQ(sentinel->tls_ca_file, "/a@b/ca.pem");
}

TEST(ConfigUrl, UnknownSchemeIsNamed) {
  expect_invalid("http://127.0.0.1", "unknown scheme 'http'");
  expect_invalid("127.0.0.1:6379", "no scheme");
}

TEST(ConfigUrl, PortOutOfRange) {
  expect_invalid("redis://127.0.0.1:0", "port = '0'");
  expect_invalid("redis://127.0.0.1:65536", "port = '65536'");
  expect_invalid("redis://127.0.0.1:99999999999999999999", "port");
  expect_invalid("redis://127.0.0.1:-1", "port = '-1'");
  expect_invalid("redis://127.0.0.1:http", "port = 'http'");
  expect_invalid("redis://127.0.0.1:", "port is empty");
}

TEST(ConfigUrl, EmptyHost) {
  expect_invalid("redis://", "host is empty");
  expect_invalid("redis://:6379", "host is empty");
  expect_invalid("redis://:pw@:6379/0", "host is empty");
  expect_invalid("redis://[]:6379", "host is empty");
}

TEST(ConfigUrl, DbOutOfRange) {
  expect_invalid("redis://127.0.0.1/-1", "db = '-1'");
  expect_invalid("redis://127.0.0.1/abc", "db = 'abc'");
  expect_invalid("redis://127.0.0.1/99999999999999999999999", "db");
  expect_invalid("unix:///tmp/r.sock?db=x", "db = 'x'");
}

TEST(ConfigUrl, BadPercentEscapes) {
  expect_invalid("redis://us%zzer:pw@127.0.0.1", "bad percent escape in username");
  expect_invalid("unix:///tmp/r%2.sock", "bad percent escape in socket path");
}

TEST(ConfigUrl, BadPercentEscapeInPasswordDoesNotLeakIt) {
  auto r = Config::from_url("redis://:hunter2%G@127.0.0.1");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("password"));
  EXPECT_THAT(r.error().message, Not(HasSubstr("hunter2")));
}

// Whatever is malformed, no message shows any part of the userinfo (passwords often hold
// '/', '?', ':' or '@' unescaped).
TEST(ConfigUrl, MalformedUrlsNeverEchoTheUserinfo) {
  const std::string secret = "Tr0ub4dor";
  const std::vector<std::string> urls = {
      "redis://admin:Tr0ub4dor@h:notaport",        // bad port after a good userinfo
      "redis://admin:Tr0ub4dor@h:6380/nodb",       // bad db
      "redis://admin:Tr0ub4dor@h:6380?timeout=x",  // malformed value of a known option
      "redis://admin:Tr0ub4dor@",                  // empty host
      "redis://admin:Tr0ub4dor@[::1",              // broken IPv6 host
      "redis:/admin:Tr0ub4dor@h:6380",             // mistyped scheme separator
      "redis//admin:Tr0ub4dor@h:6380",             // no scheme at all
      "admin:Tr0ub4dor@h:6380",                    // no scheme
      "rediz://admin:Tr0ub4dor@h:6380",            // unknown scheme
      "unix://admin:Tr0ub4dor?x@relative/path",    // unix, '?' in the password, bad path
      "redis://admin:Tr0ub4dor%zz@h",              // bad percent escape in the password
  };
  for (const auto& url : urls) {
    auto r = Config::from_url(url);
    ASSERT_FALSE(r.ok()) << url << " parsed";
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << url;
    EXPECT_THAT(r.error().message, Not(HasSubstr(secret))) << url;
    EXPECT_THAT(r.error().message, Not(HasSubstr("Tr0ub"))) << url;
  }
}

TEST(ConfigUrl, PasswordWithSlashOrQuestionMarkIsParsedNotMistakenForPortOrQuery) {
  auto slash = Config::from_url("redis://admin:Tr0ub4dor/3@h:6380");
  ASSERT_TRUE(slash.ok()) << slash.error().message;
  EXPECT_EQ(slash->password, "Tr0ub4dor/3");
  EXPECT_EQ(slash->port, 6380);
  auto r = Config::from_url("redis://admin:Tr0/ub?4dor@cache:6380/2");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->username, "admin");
  EXPECT_EQ(r->password, "Tr0/ub?4dor");
  EXPECT_EQ(r->host, "cache");
  EXPECT_EQ(r->port, 6380);
  EXPECT_EQ(r->db, 2);
}

TEST(ConfigUrl, UserWithoutPassword) {
  expect_invalid("redis://alice@127.0.0.1", "userinfo without ':'");
  expect_invalid("redis://alice:@127.0.0.1", "without a password");
}

// A REDIS_URL shared with Python, Go or Java services: their options with a meaning here are
// applied, whatever client spelled them.
TEST(ConfigUrlCompat, OtherClientsOptionsWithAMeaningAreMapped) {
  auto lettuce = Config::from_url(
      "redis://h?timeout=2.5&connect_timeout=500ms&clientName=orders"
      "&database=3&protocol=2");
  ASSERT_TRUE(lettuce.ok()) << lettuce.error().message;
  EXPECT_EQ(lettuce->deadline, std::chrono::milliseconds(2500));
  EXPECT_EQ(lettuce->command_timeout, Config{}.command_timeout);  // each attempt, unchanged
  EXPECT_EQ(lettuce->connect_timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(lettuce->client_name, "orders");
  EXPECT_EQ(lettuce->db, 3);
  EXPECT_TRUE(lettuce->url_ignored_options.empty());

  auto py = Config::from_url(
      "redis://h/1?socket_timeout=0.2&socket_connect_timeout=3"
      "&client_name=worker");
  ASSERT_TRUE(py.ok()) << py.error().message;
  EXPECT_EQ(py->deadline, std::chrono::milliseconds(200));
  EXPECT_EQ(py->connect_timeout, std::chrono::milliseconds(3000));
  EXPECT_EQ(py->client_name, "worker");
  EXPECT_EQ(py->db, 1);

  auto go = Config::from_url("redis://h?dial_timeout=5s&read_timeout=1m&write_timeout=1m30s");
  ASSERT_TRUE(go.ok()) << go.error().message;
  EXPECT_EQ(go->connect_timeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(go->deadline, std::chrono::milliseconds(90000));  // the last one given
  auto units = Config::from_url("redis://h?timeout=1500000us&connect_timeout=0.5h");
  ASSERT_TRUE(units.ok()) << units.error().message;
  EXPECT_EQ(units->deadline, std::chrono::milliseconds(1500));
  EXPECT_EQ(units->connect_timeout, std::chrono::minutes(30));
  // go-redis' "no timeout": the defaults stay, the option is named in the warning.
  auto none = Config::from_url("redis://h?read_timeout=-1&dial_timeout=0");
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_EQ(none->deadline, Config{}.deadline);
  EXPECT_EQ(none->url_ignored_options, (std::vector<std::string>{"read_timeout", "dial_timeout"}));
  // Values are percent-decoded like rcache's own.
  auto named = Config::from_url("redis://h?client_name=orders%2Dv2");
  ASSERT_TRUE(named.ok()) << named.error().message;
  EXPECT_EQ(named->client_name, "orders-v2");
}

TEST(ConfigUrlCompat, AnSslSwitchMustAgreeWithTheScheme) {
  expect_invalid("redis://h?ssl=true", "ssl=true on a URL without TLS");
  expect_invalid("rediss://h?tls=false", "tls=false on a rediss:// URL");
  auto ok = Config::from_url("rediss://h?ssl=true");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_TRUE(ok->tls);
  EXPECT_TRUE(ok->url_ignored_options.empty());
}

TEST(ConfigUrlCompat, CertificateVerificationSwitchesApplyOnlyWithTls) {
  for (const char* q : {"skip_verify=true", "verifyPeer=NONE", "verifyPeer=false", "insecure=1"}) {
    auto c = Config::from_url(std::string("rediss://h?") + q);
    ASSERT_TRUE(c.ok()) << q << ": " << c.error().message;
    EXPECT_TRUE(c->tls_insecure_skip_verify) << q;
  }
  for (const char* q : {"skip_verify=false", "verifyPeer=FULL", "verifyPeer=true"}) {
    auto c = Config::from_url(std::string("rediss://h?") + q);
    ASSERT_TRUE(c.ok()) << q << ": " << c.error().message;
    EXPECT_FALSE(c->tls_insecure_skip_verify) << q;
  }
  auto plain = Config::from_url("redis://h?skip_verify=true");  // nothing to verify
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->tls);
  EXPECT_EQ(plain->url_ignored_options, std::vector<std::string>{"skip_verify"});
}

TEST(ConfigUrlCompat, OptionsWithoutAMeaningAreIgnoredAndListedInOrder) {
  auto c = Config::from_url(
      "redis://h?max_connections=50&decode_responses=True&protocol=3&x_my_own=1&db=2");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->db, 2);
  EXPECT_EQ(c->url_ignored_options, (std::vector<std::string>{"max_connections", "decode_responses",
                                                              "protocol", "x_my_own"}));
}

TEST(ConfigUrlCompat, StrictModeRefusesWhatItWouldIgnore) {
  using rcache::UrlMode;
  auto known = Config::from_url("redis://h?pool_size=10", UrlMode::strict);
  ASSERT_FALSE(known.ok());
  EXPECT_THAT(known.error().message, HasSubstr("'pool_size' has no meaning in rcache"));
  auto typo = Config::from_url("redis://h?tiemout=5", UrlMode::strict);
  ASSERT_FALSE(typo.ok());
  EXPECT_THAT(typo.error().message, HasSubstr("unknown query parameter 'tiemout'"));
  auto mapped = Config::from_url("redis://h?timeout=5&client_name=a", UrlMode::strict);
  ASSERT_TRUE(mapped.ok()) << mapped.error().message;
  EXPECT_EQ(mapped->deadline, std::chrono::seconds(5));
}

TEST(ConfigUrlCompat, MalformedValuesOfMappedOptionsAreErrorsInEveryMode) {
  for (const auto& [query, says] : std::vector<std::pair<std::string, std::string>>{
           {"timeout=abc", "timeout = 'abc'"},
           {"socket_timeout=2h", "socket_timeout = '2h'"},
           {"dial_timeout=7200", "from 1 ms to 1 hour"},
           {"connect_timeout=", "connect_timeout = ''"},
           {"read_timeout=1.5.2s", "read_timeout"},
           {"timeout=500us", "from 1 ms to 1 hour"},
           {"timeout=5x", "timeout = '5x'"},
           {"timeout=ms", "timeout = 'ms'"},
           {"timeout=1h1s", "from 1 ms to 1 hour"},
           {"timeout=nan", "timeout = 'nan'"},
           {"client_name=", "client name cannot be empty"},
           {"protocol=4", "expected 2 or 3"},
           {"database=x", "database = 'x'"}}) {
    expect_invalid("redis://h?" + query, says);
  }
  expect_invalid("rediss://h?skip_verify=maybe", "expected true or false");
}

TEST(ConfigUrlCompat, FromEnvIsStrictWhenAskedTo) {
  ::setenv("REDIS_URL", "redis://127.0.0.1:6379?max_connections=5", 1);
  auto lenient = Config::from_env();
  ASSERT_TRUE(lenient.ok()) << lenient.error().message;
  EXPECT_EQ(lenient->url_ignored_options, std::vector<std::string>{"max_connections"});
  ::setenv("RCACHE_URL_STRICT", "1", 1);
  auto strict = Config::from_env();
  ::unsetenv("RCACHE_URL_STRICT");
  ::unsetenv("REDIS_URL");
  ASSERT_FALSE(strict.ok());
  EXPECT_THAT(strict.error().message,
              HasSubstr("REDIS_URL: url: query parameter 'max_connections'"));
}

TEST(ConfigUrl, RelativeUnixPath) {
  expect_invalid("unix://redis.sock", "must be absolute");
}

TEST(ConfigValidate, DefaultsAreValid) {
  EXPECT_TRUE(Config{}.validate().ok());
}

TEST(ConfigValidate, EachBadFieldIsNamedWithItsValue) {
  struct Case {
    const char* what;
    Config cfg;
    const char* fragment;
  };
  auto with = [](auto mutate) {
    Config c;
    mutate(c);
    return c;
  };
  const Case cases[] = {
      {"port 0", with([](Config& c) { c.port = 0; }), "port = 0"},
      {"port big", with([](Config& c) { c.port = 70000; }), "port = 70000"},
      {"empty host", with([](Config& c) { c.host = ""; }), "host is empty"},
      {"negative db", with([](Config& c) { c.db = -3; }), "db = -3"},
      {"pool 0", with([](Config& c) { c.pool_size = 0; }), "pool_size = 0"},
      {"connect 0", with([](Config& c) { c.connect_timeout = std::chrono::milliseconds(0); }),
       "connect_timeout = 0ms"},
      {"command neg", with([](Config& c) { c.command_timeout = std::chrono::milliseconds(-5); }),
       "command_timeout = -5ms"},
      {"keepalive neg", with([](Config& c) { c.keepalive_idle = std::chrono::seconds(-1); }),
       "keepalive_idle = -1s"},
      {"keepalive intvl", with([](Config& c) { c.keepalive_interval = std::chrono::seconds(0); }),
       "keepalive_interval = 0s"},
      {"keepalive cnt", with([](Config& c) { c.keepalive_count = 0; }), "keepalive_count = 0"},
      {"backoff", with([](Config& c) {
         c.reconnect_backoff_min = std::chrono::milliseconds(500);
         c.reconnect_backoff_max = std::chrono::milliseconds(100);
       }),
       "reconnect_backoff_max = 100ms"},
      {"max value", with([](Config& c) { c.max_value_size = 0; }), "max_value_size = 0"},
      {"scan count", with([](Config& c) { c.scan_count = 0; }), "scan_count = 0"},
      {"waiting", with([](Config& c) { c.max_waiting_for_connection = 10000001; }),
       "max_waiting_for_connection = 10000001"},
      {"tls option without tls", with([](Config& c) { c.tls_ca_file = "/etc/ca.pem"; }),
       "TLS options are set but tls is false"},
      {"tls ciphers without tls", with([](Config& c) { c.tls_ciphers = "HIGH"; }),
       "TLS options are set but tls is false"},
      {"tls key password without tls", with([](Config& c) { c.tls_key_password = "x"; }),
       "TLS options are set but tls is false"},
      {"tls 1.3 without tls", with([](Config& c) { c.tls_min_version = "1.3"; }),
       "TLS options are set but tls is false"},
      {"tls min version", with([](Config& c) {
         c.tls = true;
         c.tls_min_version = "1.1";
       }),
       "tls_min_version = '1.1'"},
      {"tls cert alone", with([](Config& c) {
         c.tls = true;
         c.tls_cert_file = "/etc/client.pem";
       }),
       "tls_cert_file is set alone"},
      {"client name", with([](Config& c) { c.client_name = "my app"; }), "client_name = 'my app'"},
      {"user no pw", with([](Config& c) { c.username = "bob"; }), "without a password"},
      {"relative socket", with([](Config& c) { c.unix_socket = "r.sock"; }), "unix_socket"},
      {"near cache tiny", with([](Config& c) { c.near_cache_bytes = 1000; }),
       "near_cache_bytes = 1000 is too small"},
      {"local store tiny", with([](Config& c) {
         c.degraded_mode = rcache::DegradedMode::local;
         c.local_max_bytes = 4096;
       }),
       "local_max_bytes = 4096 is too small"},
      {"near ttl 0", with([](Config& c) { c.near_cache_ttl = std::chrono::milliseconds(0); }),
       "near_cache_ttl = 0ms"},
      {"max stale neg", with([](Config& c) { c.max_stale = std::chrono::milliseconds(-1); }),
       "max_stale = -1ms"},
      {"outage loads neg", with([](Config& c) { c.outage_loads_per_second = -1; }),
       "outage_loads_per_second"},
      {"outage loads nan", with([](Config& c) { c.outage_loads_per_second = std::nan(""); }),
       "outage_loads_per_second"},
  };
  for (const auto& c : cases) {
    auto r = c.cfg.validate();
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << c.what;
    EXPECT_THAT(r.error().message, HasSubstr(c.fragment)) << c.what;
  }
}

// local_max_bytes sizes local mode's near cache only when near_cache_bytes does not.
TEST(ConfigValidate, ASmallLocalMaxBytesIsFineWhenItIsNotUsed) {
  Config c;
  c.local_max_bytes = 4096;
  EXPECT_TRUE(c.validate().ok());  // not local mode
  c.degraded_mode = rcache::DegradedMode::local;
  c.near_cache_bytes = std::size_t{1} << 20;
  EXPECT_TRUE(c.validate().ok());  // the near cache has its own size
}

TEST(ConfigValidate, ZeroKeepaliveIdleDisablesKeepalive) {
  Config c;
  c.keepalive_idle = std::chrono::seconds(0);
  c.keepalive_interval = std::chrono::seconds(0);
  EXPECT_TRUE(c.validate().ok());
}

TEST(ConfigToString, MasksPassword) {
  auto r = Config::from_url("redis://alice:hunter2@127.0.0.1:6381/5");
  ASSERT_TRUE(r.ok());
  const std::string s = r->to_string();
  EXPECT_THAT(s, Not(HasSubstr("hunter2")));
  EXPECT_THAT(s, HasSubstr("alice:***@127.0.0.1:6381/5"));
}

class EnvGuard {
 public:
  EnvGuard() { clear(); }
  ~EnvGuard() { clear(); }
  static void clear() {
    ::unsetenv("REDIS_URL");
    ::unsetenv("REDIS_PASSWORD");
    ::unsetenv("REDIS_DB");
  }
};

TEST(ConfigEnv, DefaultsWhenUnset) {
  EnvGuard g;
  auto r = Config::from_env();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->host, "127.0.0.1");
  EXPECT_EQ(r->port, 6379);
}

TEST(ConfigEnv, PasswordAndDbOverrideTheUrl) {
  EnvGuard g;
  ::setenv("REDIS_URL", "redis://:fromurl@127.0.0.1:6390/1", 1);
  ::setenv("REDIS_PASSWORD", "fromenv", 1);
  ::setenv("REDIS_DB", "7", 1);
  auto r = Config::from_env();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->password, "fromenv");
  EXPECT_EQ(r->db, 7);
  EXPECT_EQ(r->port, 6390);
}

TEST(ConfigEnv, BadValuesNameTheVariable) {
  EnvGuard g;
  ::setenv("REDIS_URL", "redis://127.0.0.1:0", 1);
  auto bad_url = Config::from_env();
  ASSERT_FALSE(bad_url.ok());
  EXPECT_THAT(bad_url.error().message, HasSubstr("REDIS_URL"));
  ::setenv("REDIS_URL", "redis://127.0.0.1:6379", 1);
  ::setenv("REDIS_DB", "minus-one", 1);
  auto bad_db = Config::from_env();
  ASSERT_FALSE(bad_db.ok());
  EXPECT_THAT(bad_db.error().message, HasSubstr("REDIS_DB"));
}

TEST(ConfigEnv, WrongPasswordUrlErrorsNeverShowThePassword) {
  EnvGuard g;
  ::setenv("REDIS_URL", "redis://:topsecret@127.0.0.1:70000", 1);
  auto r = Config::from_env();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, Not(HasSubstr("topsecret")));
}

TEST(ConfigSentinel, TheUrlNamesSentinelsMasterDbAndCredentials) {
  auto c = Config::from_url(
      "redis+sentinel://app:p%40ss@s1:26380,[::1]:26381,s3/mymaster/2?sentinel_password=sp");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->sentinels, (std::vector<std::string>{"s1:26380", "[::1]:26381", "s3"}));
  EXPECT_EQ(c->sentinel_master, "mymaster");
  EXPECT_EQ(c->db, 2);
  EXPECT_EQ(c->username, "app");
  EXPECT_EQ(c->password, "p@ss");
  EXPECT_EQ(c->sentinel_password, "sp");
  EXPECT_FALSE(c->tls);
  const std::string shown = c->to_string();
  EXPECT_THAT(shown, HasSubstr("redis+sentinel://app:***@s1:26380,[::1]:26381,s3/mymaster/2"));
  EXPECT_THAT(shown, Not(HasSubstr("p@ss")));
  EXPECT_THAT(shown, Not(HasSubstr("sp ")));

  auto t = Config::from_url("rediss+sentinel://s1/m?ssl_ca_certs=/etc/ca.pem");
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  EXPECT_TRUE(t->tls);
  EXPECT_EQ(t->tls_ca_file, "/etc/ca.pem");
  EXPECT_EQ(t->db, 0);
}

TEST(ConfigSentinel, BadFormsNameTheProblem) {
  struct Case {
    const char* url;
    const char* says;
  };
  for (const Case& k :
       {Case{"redis+sentinel:///mymaster", "no sentinels"},
        Case{"redis+sentinel://s1:26379", "no master name"},
        Case{"redis+sentinel://s1:26379/", "no master name"},
        Case{"redis+sentinel://s1:0/m", "out of range"},
        Case{"redis+sentinel://s1:x/m", "out of range"},
        Case{"redis+sentinel://s1:/m", "port is empty"},
        Case{"redis+sentinel://::1:26379/m", "IPv6"},
        Case{"redis+sentinel://[::1/m", "without ']'"}, Case{"redis+sentinel://s1/m/-1", "db"},
        Case{"redis+sentinel://s1/m?timeout=abc", "timeout = 'abc'"}}) {
    auto c = Config::from_url(k.url);
    ASSERT_FALSE(c.ok()) << k.url;
    EXPECT_EQ(c.error().code, Errc::invalid_argument) << k.url;
    EXPECT_THAT(c.error().message, HasSubstr(k.says)) << k.url;
  }
}

TEST(ConfigSentinel, FieldsAreCheckedTogether) {
  Config c;
  c.sentinel_master = "m";
  auto r = c.validate();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("no sentinels"));
  c.sentinels = {"127.0.0.1:26379", "bad host:1"};
  r = c.validate();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("invalid"));
  c.sentinels = {"127.0.0.1:26379"};
  EXPECT_TRUE(c.validate().ok());
  c.sentinel_username = "u";
  r = c.validate();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("sentinel_password"));
  Config no_master;
  no_master.sentinels = {"127.0.0.1:26379"};
  r = no_master.validate();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("sentinel_master"));
}

TEST(ConfigCluster, TheUrlNamesSeedsCredentialsAndOptions) {
  auto c = Config::from_url(
      "rediss+cluster://app:p%40ss@10.0.0.1:7000,[::1]:7001,node3?client_name=svc&timeout=2s");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->cluster_nodes, (std::vector<std::string>{"10.0.0.1:7000", "[::1]:7001", "node3"}));
  EXPECT_TRUE(c->tls);
  EXPECT_EQ(c->username, "app");
  EXPECT_EQ(c->password, "p@ss");
  EXPECT_EQ(c->client_name, "svc");
  EXPECT_EQ(c->deadline, std::chrono::milliseconds(2000));
  auto reads = Config::from_url("redis+cluster://127.0.0.1:7000?read_from=prefer_replica");
  ASSERT_TRUE(reads.ok()) << reads.error().to_string();
  EXPECT_EQ(reads->read_from, rcache::ReadFrom::prefer_replica);
  EXPECT_THAT(Config::from_url("redis+cluster://n1?read_from=replica").error().message,
              HasSubstr("read_from = 'replica'"));
  auto plain = Config::from_url("redis+cluster://127.0.0.1:7000/0");
  ASSERT_TRUE(plain.ok()) << plain.error().to_string();
  EXPECT_FALSE(plain->tls);
  EXPECT_THAT(c->to_string(), HasSubstr("rediss+cluster://app:***@10.0.0.1:7000,[::1]:7001,node3"));
  EXPECT_THAT(c->to_string(), ::testing::Not(HasSubstr("p@ss")));
}

TEST(ConfigCluster, BadFormsNameTheProblem) {
  struct Case {
    const char* url;
    const char* says;
  };
  for (const Case& k :
       {Case{"redis+cluster://", "no cluster nodes"},
        Case{"redis+cluster://,,", "no cluster nodes"},
        Case{"redis+cluster://n1:0", "out of range"}, Case{"redis+cluster://n1:/", "port is empty"},
        Case{"redis+cluster://::1:7000", "IPv6"}, Case{"redis+cluster://n1:7000/2", "db = 2"},
        Case{"redis+cluster://n1?timeout=abc", "timeout = 'abc'"}}) {
    auto c = Config::from_url(k.url);
    ASSERT_FALSE(c.ok()) << k.url;
    EXPECT_EQ(c.error().code, Errc::invalid_argument) << k.url;
    EXPECT_THAT(c.error().message, HasSubstr(k.says)) << k.url;
  }
}

TEST(ConfigCluster, FieldsAreCheckedTogether) {
  Config c;
  c.cluster_nodes = {"127.0.0.1:7000"};
  EXPECT_TRUE(c.validate().ok());
  auto says = [](Config x, const char* what) {
    auto r = x.validate();
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_THAT(r.error().message, HasSubstr(what));
  };
  Config bad = c;
  bad.cluster_nodes.push_back("bad host:1");
  says(bad, "cluster_nodes");
  bad = c;
  bad.sentinel_master = "m";
  bad.sentinels = {"127.0.0.1:26379"};
  says(bad, "both set");
  bad = c;
  bad.near_cache_bytes = 1 << 20;
  says(bad, "near cache");
  bad = c;
  bad.degraded_mode = rcache::DegradedMode::local;
  says(bad, "near cache");
  bad = c;
  bad.cluster_max_redirects = 0;
  says(bad, "cluster_max_redirects");
  bad = c;
  bad.cluster_refresh_interval = std::chrono::milliseconds(0);
  says(bad, "cluster_refresh_interval");
  bad = c;
  bad.unix_socket = "/tmp/redis.sock";
  says(bad, "unix_socket");
  Config single;
  single.read_from = rcache::ReadFrom::prefer_replica;
  says(single, "read_from");
}

}  // namespace
