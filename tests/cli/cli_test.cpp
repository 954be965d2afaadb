// The rcache CLI as an operator runs it: arguments and help, exit codes, the URL from --url and
// REDIS_URL, authentication and connection failures, scan/count/delete, get/inspect of values an
// rcache Client wrote, ping/health, and stats from INFO and from a Prometheus page. The backup and
// restore tests are in backup_test.cpp.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "cli_fixture.hpp"
#include "cluster_set.hpp"

namespace rcache::test {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

const char* const kCommands[] = {"ping",   "health", "stats",   "scan",   "count",
                                 "delete", "get",    "inspect", "backup", "restore"};

TEST_F(CliTest, HelpListsEveryCommandAndTheExitCodes) {
  const auto r = cli_bare({"--help"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  for (const std::string c : kCommands) EXPECT_THAT(r.out, HasSubstr("\n  " + c + " ")) << c;
  EXPECT_THAT(r.out, AllOf(HasSubstr("Exit codes"), HasSubstr("REDIS_URL"), HasSubstr("--url"),
                           HasSubstr("--timeout"), HasSubstr("--json")));
}

TEST_F(CliTest, EachCommandHasItsOwnHelp) {
  for (const std::string c : kCommands) {
    const auto r = cli_bare({c, "--help"});
    EXPECT_EQ(r.exit_code, 0) << c << ": " << r.describe();
    EXPECT_THAT(r.out, HasSubstr("Usage: rcache " + c)) << c;
  }
  EXPECT_THAT(cli_bare({"backup", "--help"}).out, HasSubstr("--out FILE"));
  EXPECT_THAT(cli_bare({"delete", "-h"}).out, HasSubstr("--yes"));
}

TEST_F(CliTest, VersionPrintsTheLibraryVersion) {
  const auto r = cli_bare({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, std::string("rcache ") + version() + "\n");
}

TEST_F(CliTest, BadArgumentsExitTwoNamingTheArgument) {
  struct Case {
    std::vector<std::string> args;
    std::string names;
  };
  const std::vector<Case> cases = {
      {{"frobnicate"}, "unknown command 'frobnicate'"},
      {{"scan"}, "missing PATTERN"},
      {{"get"}, "missing KEY"},
      {{"restore"}, "missing FILE"},
      {{"scan", "a*", "--bogus"}, "unknown option '--bogus'"},
      {{"scan", "a*", "--count", "abc"}, "--count: 'abc' is not a number"},
      {{"scan", "a*", "--count", "0"}, "--count: 0 is out of range"},
      {{"scan", "a*", "--count"}, "--count needs a value"},
      {{"ping", "--timeout", "soon"}, "--timeout: 'soon' is not a number"},
      {{"delete", "a*", "--yes=1"}, "--yes takes no value"},
      {{"get", "a", "b"}, "unexpected argument 'b'"},
      {{"backup", "a*"}, "--out FILE is required"},
      {{}, "no command given"},
      {{"--yes", "delete", "a*"}, "unknown option '--yes'"},
  };
  for (const auto& c : cases) {
    const auto r = cli(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.names << ": " << r.describe();
    EXPECT_THAT(r.err, HasSubstr(c.names));
    EXPECT_EQ(r.out, "") << c.names;
  }
}

TEST_F(CliTest, AMalformedUrlIsAUsageError) {
  const auto r = cli_bare({"--url", "redis://127.0.0.1:notaport", "ping"});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_THAT(r.err, HasSubstr("--url"));
}

TEST_F(CliTest, RedisUrlFromTheEnvironmentIsUsedWithoutUrlOption) {
  redis({"SET", "env:key", "from-env"});
  ChildOptions o;
  o.set_env = {{"REDIS_URL", server_->url()}};
  const auto r = cli_bare({"get", "env:key"}, o);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.out, "from-env");
}

TEST_F(CliTest, WrongPasswordIsAClearAuthenticationError) {
  RedisServer::Options opts;
  opts.args = {"--requirepass", "s3cret"};
  auto secured = RedisServer::start(opts);
  ASSERT_NE(secured, nullptr);
  const std::string base = "redis://:wrong@127.0.0.1:" + std::to_string(secured->port());
  const auto r = cli_bare({"--url", base, "ping"});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_THAT(r.err, HasSubstr("authentication failed"));
  EXPECT_THAT(r.err, Not(HasSubstr("wrong"))) << "the password must not be printed";
  const auto ok =
      cli_bare({"--url", "redis://:s3cret@127.0.0.1:" + std::to_string(secured->port()), "ping"});
  EXPECT_EQ(ok.exit_code, 0) << ok.describe();
}

TEST_F(CliTest, UnreachablePortFailsQuicklyWithAConnectionError) {
  const int port = free_port();
  for (const std::string cmd : {"ping", "count"}) {
    std::vector<std::string> args = {"--url", "redis://127.0.0.1:" + std::to_string(port), cmd};
    if (cmd == "count") args.push_back("*");
    const auto r = cli_bare(args);
    EXPECT_EQ(r.exit_code, 1) << cmd << ": " << r.describe();
    EXPECT_THAT(r.err, AllOf(HasSubstr("cannot reach Redis"), HasSubstr("connection refused")));
    EXPECT_LT(r.elapsed.count(), 3000) << cmd;
  }
  const auto json =
      cli_bare({"--url", "redis://127.0.0.1:" + std::to_string(port), "--json", "get", "k"});
  EXPECT_EQ(json.exit_code, 1);
  EXPECT_THAT(json.out, AllOf(::testing::StartsWith("{\"ok\":false,\"exit_code\":1,\"error\":"),
                              HasSubstr("cannot reach Redis")));
  const auto health = cli_bare({"--url", "redis://127.0.0.1:" + std::to_string(port), "health"});
  EXPECT_EQ(health.exit_code, 1) << health.describe();
  EXPECT_THAT(health.out, HasSubstr("status:       disabled"));
}

// With a cluster URL the key-space commands cover every master: count, scan, backup, delete
// and restore of keys spread over three masters.
TEST_F(CliTest, KeyspaceCommandsCoverEveryMasterOfACluster) {
  auto set = ClusterSet::start();
  ASSERT_NE(set, nullptr);
  const std::string url = "redis+cluster://127.0.0.1:" + std::to_string(set->master_ports()[0]);
  Config c;
  c.cluster_nodes = set->seeds();
  c.log_level = LogLevel::off;
  auto client = make_client(c);
  ASSERT_NE(client, nullptr);
  Client::Pairs pairs;
  for (int i = 0; i < 3000; ++i)
    pairs.emplace_back("c:" + std::to_string(i), "v" + std::to_string(i));
  ASSERT_TRUE(client->mset(pairs).ok());
  for (int port : set->master_ports()) {  // spread over every master
    EXPECT_GT(std::stoll(set->node_by_port(port)->command({"DBSIZE"})), 500);
  }
  auto count = cli_bare({"--url", url, "count", "c:*"});
  ASSERT_EQ(count.exit_code, 0) << count.describe();
  EXPECT_EQ(count.out, "3000\n");
  auto scan = cli_bare({"--url", url, "scan", "c:1*"});
  ASSERT_EQ(scan.exit_code, 0) << scan.describe();
  EXPECT_EQ(split_lines(scan.out).size(), 1111u);
  const std::string backup = file("cluster.jsonl");
  auto b = cli_bare({"--url", url, "backup", "c:*", "--out", backup});
  ASSERT_EQ(b.exit_code, 0) << b.describe();
  auto d = cli_bare({"--url", url, "delete", "c:*", "--yes"});
  ASSERT_EQ(d.exit_code, 0) << d.describe();
  EXPECT_EQ(client->count_pattern("c:*").value(), 0u);
  auto r = cli_bare({"--url", url, "restore", backup});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(client->count_pattern("c:*").value(), 3000u);
  EXPECT_EQ(client->get("c:2999").value(), std::optional<std::string>("v2999"));
}

TEST_F(CliTest, PingReportsRoundTrips) {
  const auto r = cli({"ping", "--count", "3", "--interval", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(split_lines(r.out).size(), 4u) << r.out;
  EXPECT_THAT(r.out, HasSubstr("3 pings, 3 answered; min/avg/max"));
  const auto j = cli({"--json", "ping"});
  EXPECT_THAT(j.out, AllOf(HasSubstr("\"ok\":true"), HasSubstr("\"answered\":1")));
}

TEST_F(CliTest, HealthIsOkAndItsJsonIsTheLibrarys) {
  const auto r = cli({"health"});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_THAT(r.out, HasSubstr("status:       ok"));
  const auto j = cli({"health", "--json"});
  EXPECT_EQ(j.exit_code, 0);
  EXPECT_THAT(j.out, AllOf(HasSubstr("\"status\":\"ok\""), HasSubstr("\"circuit_breaker\"")));
}

TEST_F(CliTest, ScanEscapesBinaryKeysAndHonoursLimitAndType) {
  const std::string binary = std::string("bin:\x01\xff\n", 7) + std::string(1, '\0');
  redis({"SET", binary, "v"});
  redis({"SET", "bin:plain", "v"});
  redis({"SET", "bin:caf\xc3\xa9", "v"});
  redis({"HSET", "bin:hash", "f", "v"});
  redis({"SET", "other", "v"});
  auto r = cli({"scan", "bin:*"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  auto lines = split_lines(r.out);
  std::sort(lines.begin(), lines.end());
  EXPECT_THAT(lines, ::testing::ElementsAre("bin:\\x01\\xff\\n\\x00", "bin:caf\xc3\xa9", "bin:hash",
                                            "bin:plain"));
  EXPECT_EQ(split_lines(cli({"scan", "bin:*", "--limit", "2"}).out).size(), 2u);
  EXPECT_EQ(cli({"scan", "bin:*", "--type", "hash"}).out, "bin:hash\n");
  // An escaped key from scan reads back with --escaped.
  const auto got = cli({"get", "--escaped", "bin:\\x01\\xff\\n\\x00"});
  EXPECT_EQ(got.exit_code, 0) << got.describe();
  EXPECT_EQ(got.out, "v");
  const auto json = cli({"scan", "bin:\x01*", "--json"});
  EXPECT_EQ(json.out, "{\"key_b64\":\"YmluOgH/CgA=\"}\n");
}

TEST_F(CliTest, CountCountsMatchingKeys) {
  for (int i = 0; i < 2500; ++i) redis({"SET", "c:" + std::to_string(i), "v"});
  redis({"SET", "other", "v"});
  const auto r = cli({"count", "c:*", "--count", "100"});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.out, "2500\n");
  EXPECT_THAT(cli({"count", "c:*", "--json"}).out, HasSubstr("\"count\":2500"));
}

TEST_F(CliTest, DeleteDryRunAndWithoutYesDeleteNothingAndYesDeletesExactlyTheMatches) {
  for (int i = 0; i < 3000; ++i) redis({"SET", "del:" + std::to_string(i), "v"});
  for (int i = 0; i < 20; ++i) redis({"SET", "keep:" + std::to_string(i), "v"});
  ASSERT_EQ(dbsize(), 3020);

  const auto dry = cli({"delete", "del:*", "--dry-run"});
  EXPECT_EQ(dry.exit_code, 0) << dry.describe();
  EXPECT_THAT(dry.out, HasSubstr("3,000 keys match del:*"));
  EXPECT_EQ(dbsize(), 3020);

  const auto unconfirmed = cli({"delete", "del:*"});
  EXPECT_EQ(unconfirmed.exit_code, 4) << unconfirmed.describe();
  EXPECT_THAT(unconfirmed.out, HasSubstr("3,000 keys match del:*"));
  EXPECT_THAT(unconfirmed.err, HasSubstr("add --yes"));
  EXPECT_EQ(dbsize(), 3020);

  const auto yes = cli({"delete", "del:*", "--yes", "--count", "250", "--progress"});
  EXPECT_EQ(yes.exit_code, 0) << yes.describe();
  EXPECT_THAT(yes.out, HasSubstr("deleted 3,000 keys matching del:*"));
  EXPECT_EQ(dbsize(), 20);
  EXPECT_EQ(redis({"EXISTS", "keep:0", "keep:19"}).integer, 2);

  const auto none = cli({"delete", "del:*", "--json"});
  EXPECT_EQ(none.exit_code, 0) << "nothing to confirm when nothing matches";
  EXPECT_THAT(none.out, AllOf(HasSubstr("\"matched\":0"), HasSubstr("\"deleted\":0")));
}

TEST_F(CliTest, GetDecodesACompressedValueAndInspectShowsTheEnvelope) {
  std::string value;
  for (int i = 0; value.size() < 10000; ++i) value += "record " + std::to_string(i % 50) + ";";
  value.resize(10000);
  ASSERT_TRUE(client().set("big", value).ok());
  const std::string stored = redis({"GET", "big"}).str;
  ASSERT_LT(stored.size(), value.size()) << "the client should have compressed it";

  const auto got = cli({"get", "big"});
  ASSERT_EQ(got.exit_code, 0) << got.describe();
  EXPECT_EQ(got.out, value);

  const auto inspect = cli({"inspect", "big"});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.describe();
  EXPECT_THAT(inspect.out, AllOf(HasSubstr("type:      string"), HasSubstr("codec:     zlib"),
                                 HasSubstr("original:  10,000 bytes"),
                                 HasSubstr("stored:    " + std::to_string(stored.size())),
                                 HasSubstr("decodes:   yes"), HasSubstr("ttl:       none")));
  const auto json = cli({"inspect", "big", "--json"});
  EXPECT_THAT(json.out,
              AllOf(HasSubstr("\"codec\":\"zlib\""), HasSubstr("\"original_bytes\":10000"),
                    HasSubstr("\"stored_bytes\":" + std::to_string(stored.size()))));
}

TEST_F(CliTest, GetIsBinarySafeAndAMissIsExitThree) {
  const std::string bytes("a\0b\xff\r\n", 6);
  redis({"SET", "raw", bytes});
  const auto r = cli({"get", "raw"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, bytes);
  const auto miss = cli({"get", "absent"});
  EXPECT_EQ(miss.exit_code, 3);
  EXPECT_EQ(miss.out, "");
  EXPECT_THAT(miss.err, HasSubstr("no such key: absent"));
  EXPECT_THAT(cli({"get", "absent", "--json"}).out, HasSubstr("\"found\":false"));
  EXPECT_EQ(cli({"inspect", "absent"}).exit_code, 3);
}

TEST_F(CliTest, LegacyHexValuesDecodeOnlyWithLegacyHex) {
  // "compressed:" + hex(zlib("hello hello hello hello")), as the Python services wrote them.
  const std::string legacy = "compressed:789ccb48cdc9c957c8402701680308b1";
  redis({"SET", "old", legacy});
  EXPECT_EQ(cli({"get", "old"}).out, legacy);
  EXPECT_EQ(cli({"get", "old", "--legacy-hex"}).out, "hello hello hello hello");
  EXPECT_THAT(cli({"inspect", "old"}).out, HasSubstr("codec:     plain"));
  EXPECT_THAT(cli({"inspect", "old", "--legacy-hex"}).out,
              AllOf(HasSubstr("codec:     legacy_hex"), HasSubstr("original:  23 bytes")));
}

TEST_F(CliTest, InspectShowsTtlAndElementsOfOtherTypes) {
  redis({"RPUSH", "list", "a", "b", "c"});
  redis({"PEXPIRE", "list", "60000"});
  const auto r = cli({"inspect", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_THAT(r.out, AllOf(HasSubstr("type:      list"), HasSubstr("elements:  3"),
                           HasSubstr("ttl:       5"), HasSubstr("memory:    ")));
}

TEST_F(CliTest, StatsSummarizesInfo) {
  redis({"SET", "s1", "v"});
  redis({"GET", "s1"});
  redis({"GET", "nope"});
  const auto r = cli({"stats"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_THAT(r.out, AllOf(HasSubstr("keyspace hits"), HasSubstr("hit rate"), HasSubstr("ops/s"),
                           HasSubstr("used memory"), HasSubstr("db0  1 key,")));
  const auto j = cli({"stats", "--json"});
  EXPECT_THAT(j.out,
              AllOf(HasSubstr("\"source\":\"info\""), HasSubstr("\"dbs\":{\"db0\":{\"keys\":1,")));
}

// Serves `body` once over HTTP/1.0 on a loopback port; join() after the request.
class OneShotHttp {
 public:
  explicit OneShotHttp(std::string body) : fd_(listen_loopback(port_)) {
    thread_ = std::thread([this, body = std::move(body)] {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10000) != 1) return;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<std::size_t>(n));
      }
      request_ = req;
      const std::string resp =
          "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
          "Content-Length: " +
          std::to_string(body.size()) + "\r\n\r\n" + body;
      (void)::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      ::close(c);
    });
  }
  ~OneShotHttp() {
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  const std::string& request() {
    if (thread_.joinable()) thread_.join();
    return request_;
  }

 private:
  int port_ = 0;
  int fd_;
  std::thread thread_;
  std::string request_;
};

TEST_F(CliTest, StatsSummarizesAServicesRcacheMetrics) {
  const char* sample = std::getenv("RCACHE_CLI_EXPOSITION");
  ASSERT_NE(sample, nullptr) << "RCACHE_CLI_EXPOSITION is not set (meson sets it)";
  const std::string page = slurp(sample);
  ASSERT_FALSE(page.empty());
  {
    OneShotHttp http(page);
    const auto r = cli_bare(
        {"stats", "--metrics", "http://127.0.0.1:" + std::to_string(http.port()) + "/metrics"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_THAT(http.request(), HasSubstr("GET /metrics HTTP/1.0\r\n"));
    // monitoring/testdata/exposition.txt: api 222551 hits, 25537 misses; errors by reason
    // timeout 21+4+2, circuit_open 30+12+5, connection 6+1.
    EXPECT_THAT(r.out,
                AllOf(HasSubstr("client api: up, breaker closed"), HasSubstr("client sessions:"),
                      HasSubstr("89.7 %"), HasSubstr("(222,551 hits, 25,537 misses)"),
                      HasSubstr("errors       circuit_open 47, timeout 27, connection 7")));
  }
  {
    OneShotHttp http(page);
    const auto j = cli_bare({"--json", "stats", "--metrics",
                             "http://127.0.0.1:" + std::to_string(http.port()) + "/metrics"});
    ASSERT_EQ(j.exit_code, 0) << j.describe();
    EXPECT_THAT(j.out, AllOf(HasSubstr("\"api\":{\"up\":1,\"breaker\":\"closed\","),
                             HasSubstr("\"hits\":222551"),
                             HasSubstr("\"errors_by_reason\":{\"circuit_open\":47,"
                                       "\"connection\":7,\"timeout\":27}")));
  }
  const auto https = cli_bare({"stats", "--metrics", "https://127.0.0.1:1/metrics"});
  EXPECT_EQ(https.exit_code, 2);
  EXPECT_THAT(https.err, HasSubstr("only plain http"));
  const auto no_port = cli_bare({"stats", "--metrics", "http://127.0.0.1:/metrics"});
  EXPECT_EQ(no_port.exit_code, 2);
  EXPECT_THAT(no_port.err, HasSubstr("bad port ''"));
}

}  // namespace
}  // namespace rcache::test
