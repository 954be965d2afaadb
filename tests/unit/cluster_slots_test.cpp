// Redis Cluster's pure parts: key slots, MOVED/ASK, cluster error words, CLUSTER SLOTS, the keys
// of a command wire, and the slot map built from them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bitset>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "protocol/cluster.hpp"
#include "reply_bytes.hpp"
#include "topology/slot_map.hpp"

namespace rcache::detail {
namespace {

using test::parse_reply;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using namespace std::string_literals;

// ---- RESP text builders for replies -------------------------------------------------------------

std::string bulk(std::string_view s) {
  return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}
std::string integer(long long v) {
  return ":" + std::to_string(v) + "\r\n";
}
std::string array(std::initializer_list<std::string> parts) {
  std::string out = "*" + std::to_string(parts.size()) + "\r\n";
  for (const auto& p : parts) out += p;
  return out;
}
std::string node(std::string_view ip, long long port, std::string_view id) {
  return array({bulk(ip), integer(port), bulk(id)});
}
// Redis 7: [ip, port, id, {metadata as a flat array}]
std::string node7(std::string_view ip, long long port, std::string_view id) {
  return array({bulk(ip), integer(port), bulk(id), array({bulk("hostname"), bulk("host-a")})});
}
std::string error(std::string_view text) {
  return "-" + std::string(text) + "\r\n";
}

// The CLUSTER SLOTS of a 3-master, 3-replica cluster as redis-cli --cluster create lays it out.
std::string three_masters() {
  return array({
      array({integer(0), integer(5460), node("127.0.0.1", 7000, "id0"),
             node("127.0.0.1", 7003, "id3")}),
      array({integer(5461), integer(10922), node("127.0.0.1", 7001, "id1"),
             node("127.0.0.1", 7004, "id4")}),
      array({integer(10923), integer(16383), node("127.0.0.1", 7002, "id2"),
             node("127.0.0.1", 7005, "id5")}),
  });
}

std::vector<SlotRange> ranges_of(const std::string& resp, std::string_view asked = "10.0.0.9") {
  auto reply = parse_reply(resp);
  auto r = parse_cluster_slots(*reply, asked);
  EXPECT_TRUE(r.ok()) << r.error().to_string();
  return r.ok() ? *r : std::vector<SlotRange>{};
}

SlotMap map_of(const std::vector<SlotRange>& ranges) {
  auto m = SlotMap::from_ranges(ranges);
  EXPECT_TRUE(m.ok()) << m.error().to_string();
  return m.ok() ? *m : SlotMap{};
}

NodeAddress at(int port, std::string host = "127.0.0.1") {
  return NodeAddress{std::move(host), port, ""};
}

SlotRange range(std::uint16_t first, std::uint16_t last, int master,
                std::vector<int> replicas = {}) {
  SlotRange r{first, last, at(master), {}};
  for (int p : replicas) r.replicas.push_back(at(p));
  return r;
}

// ---- key_slot -----------------------------------------------------------------------------------

// Bit by bit, straight from the definition, to check the table-driven one against.
std::uint16_t reference_crc16(std::string_view s) {
  unsigned crc = 0;
  for (char c : s) {
    crc ^= static_cast<unsigned>(static_cast<unsigned char>(c)) << 8;
    for (int i = 0; i < 8; ++i) crc = (crc & 0x8000U) != 0 ? (crc << 1) ^ 0x1021U : crc << 1;
  }
  return static_cast<std::uint16_t>(crc & 0xFFFFU);
}

TEST(KeySlot, KnownValuesOfTheSpecAndOfRedis) {
  EXPECT_EQ(crc16("123456789"), 0x31C3);
  EXPECT_EQ(key_slot("123456789"), 12739);
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("somekey"), 11058);       // CLUSTER KEYSLOT somekey
  EXPECT_EQ(key_slot("foo{hash_tag}"), 2515);  // CLUSTER KEYSLOT foo{hash_tag}
  EXPECT_EQ(key_slot(""), 0);
  for (const std::string& k : {"a"s, "user:1000"s, "x{y"s, "\xff\xfe\x00\x01"s, "a\r\nb"s}) {
    EXPECT_EQ(crc16(k), reference_crc16(k)) << k;
  }
}

TEST(KeySlot, HashTagsHashOnlyTheFirstNonEmptyTag) {
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_EQ(key_slot("foo{hash_tag}"), key_slot("hash_tag"));
  EXPECT_EQ(key_slot("a{b}c{d}"), key_slot("b"));                  // the first tag only
  EXPECT_EQ(key_slot("foo{}{bar}"), crc16("foo{}{bar}") % 16384);  // empty tag: whole key
  EXPECT_NE(key_slot("foo{}{bar}"), key_slot("bar"));
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));  // up to the first '}'
  EXPECT_EQ(key_slot("x{abc"), crc16("x{abc") % 16384);    // no '}': whole key
  EXPECT_EQ(key_slot("x}abc{"), crc16("x}abc{") % 16384);  // '}' only before '{'
  EXPECT_EQ(key_slot("}{a}"), key_slot("a"));
  EXPECT_EQ(key_slot("{}"), crc16("{}") % 16384);
}

TEST(KeySlot, BinaryKeysHashEveryByteIncludingNul) {
  const std::string with_nul("a\0b", 3);
  EXPECT_EQ(key_slot(with_nul), reference_crc16(with_nul) % 16384);
  EXPECT_NE(key_slot(with_nul), key_slot("a"));
  EXPECT_NE(key_slot(std::string("a\0", 2)), key_slot("a"));  // a NUL at the end counts
  // With XMODEM's zero start value, leading NUL bytes leave the CRC at 0: as in Redis, "\0a"
  // and "a" share a slot.
  EXPECT_EQ(key_slot(std::string("\0", 1)), 0);
  EXPECT_EQ(key_slot(std::string("\0a", 2)), key_slot("a"));
  EXPECT_EQ(key_slot(std::string("x{a\0b}y", 8)), key_slot(with_nul));
  EXPECT_EQ(key_slot("k\xff{\x80\x81}"), key_slot("\x80\x81"));
}

TEST(KeySlot, GeneratedKeysReachEverySlot) {
  std::vector<bool> hit(kClusterSlots, false);
  std::size_t distinct = 0;
  for (int i = 0; i < 200000; ++i) {
    const std::uint16_t s = key_slot("key:" + std::to_string(i));
    ASSERT_LT(s, kClusterSlots);
    if (!hit[s]) {
      hit[s] = true;
      ++distinct;
    }
  }
  EXPECT_EQ(distinct, kClusterSlots);
}

// ---- redirects and error words -----------------------------------------------------------------

std::optional<Redirect> redirect(std::string_view resp) {
  return parse_redirect(*parse_reply(resp));
}

TEST(Redirects, MovedAndAskWithEveryAddressForm) {
  auto moved = redirect("-MOVED 3999 127.0.0.1:6381\r\n");
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->kind, Redirect::Kind::moved);
  EXPECT_EQ(moved->slot, 3999);
  EXPECT_EQ(moved->host, "127.0.0.1");
  EXPECT_EQ(moved->port, 6381);

  auto ask = redirect("-ASK 0 redis-2.example:7000\r\n");
  ASSERT_TRUE(ask);
  EXPECT_EQ(ask->kind, Redirect::Kind::ask);
  EXPECT_EQ(ask->slot, 0);
  EXPECT_EQ(ask->host, "redis-2.example");
  EXPECT_EQ(ask->port, 7000);

  auto v6 = redirect("-MOVED 16383 ::1:6381\r\n");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->slot, 16383);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 6381);

  auto long_v6 = redirect("-ASK 7 fe80::a:b:1:65535\r\n");
  ASSERT_TRUE(long_v6);
  EXPECT_EQ(long_v6->host, "fe80::a:b:1");
  EXPECT_EQ(long_v6->port, 65535);

  auto bracketed = redirect("-MOVED 12 [2001:db8::7]:6380\r\n");
  ASSERT_TRUE(bracketed);
  EXPECT_EQ(bracketed->host, "2001:db8::7");
  EXPECT_EQ(bracketed->port, 6380);

  auto no_host = redirect("-MOVED 3999 :6381\r\n");
  ASSERT_TRUE(no_host);
  EXPECT_EQ(no_host->host, "");
  EXPECT_EQ(no_host->port, 6381);
}

TEST(Redirects, AnythingMalformedIsNotARedirect) {
  for (const char* bad : {"-MOVED abc 127.0.0.1:6381\r\n",
                          "-MOVED 16384 127.0.0.1:6381\r\n",
                          "-MOVED -1 127.0.0.1:6381\r\n",
                          "-MOVED +1 127.0.0.1:6381\r\n",
                          "-MOVED 99999999999 h:1\r\n",
                          "-MOVED 1 127.0.0.1:0\r\n",
                          "-MOVED 1 127.0.0.1:70000\r\n",
                          "-MOVED 1 127.0.0.1:\r\n",
                          "-MOVED 1 127.0.0.1:x\r\n",
                          "-MOVED 1 127.0.0.1\r\n",
                          "-MOVED 1\r\n",
                          "-MOVED 1 \r\n",
                          "-MOVED\r\n",
                          "-MOVED \r\n",
                          "-ASK\r\n",
                          "-MOVED  1 h:1\r\n",
                          "-MOVED 1 h:1 extra\r\n",
                          "-MOVED 1 []:6381\r\n",
                          "-MOVED 1 [::1]6381\r\n",
                          "-MOVED 1 [::1:6381\r\n",
                          "-MOVED 1 [::1]:\r\n",
                          "-moved 1 h:1\r\n",
                          "-Moved 1 h:1\r\n",
                          "-ERR 1 h:1\r\n",
                          "-ASKING 1 h:1\r\n",
                          "+MOVED 1 h:1\r\n",
                          "$13\r\nMOVED 1 h:123\r\n",
                          ":1\r\n",
                          "$-1\r\n",
                          "*1\r\n$13\r\nMOVED 1 h:123\r\n"}) {
    EXPECT_FALSE(redirect(bad)) << bad;
  }
}

TEST(Redirects, ClusterWordsAreTheFirstWordOfAnErrorExactly) {
  auto word = [](std::string_view resp) { return cluster_word(*parse_reply(resp)); };
  EXPECT_EQ(word("-MOVED 1 h:1\r\n"), ClusterWord::moved);
  EXPECT_EQ(word("-ASK 1 h:1\r\n"), ClusterWord::ask);
  EXPECT_EQ(word("-TRYAGAIN Multiple keys request during rehashing of slot\r\n"),
            ClusterWord::tryagain);
  EXPECT_EQ(word("-CLUSTERDOWN The cluster is down\r\n"), ClusterWord::clusterdown);
  EXPECT_EQ(word("-CLUSTERDOWN\r\n"), ClusterWord::clusterdown);
  EXPECT_EQ(word("-CROSSSLOT Keys in request don't hash to the same slot\r\n"),
            ClusterWord::crossslot);
  EXPECT_EQ(word("-READONLY You can't write against a read only replica.\r\n"),
            ClusterWord::readonly);
  for (const char* none : {"-ERR unknown command\r\n", "-MOVEDX 1 h:1\r\n", "-moved 1 h:1\r\n",
                           "-ASKING\r\n", "- MOVED 1 h:1\r\n", "-\r\n", "+MOVED 1 h:1\r\n",
                           "$5\r\nMOVED\r\n", ":1\r\n", "$-1\r\n", "*0\r\n"}) {
    EXPECT_EQ(word(none), ClusterWord::none) << none;
  }
}

TEST(Redirects, AddressesPrintIpv6InBrackets) {
  EXPECT_EQ(address_of(at(7000)), "127.0.0.1:7000");
  EXPECT_EQ(address_of(at(6381, "::1")), "[::1]:6381");
  EXPECT_EQ(address_of(at(1, "redis.example")), "redis.example:1");
  EXPECT_TRUE((NodeAddress{"h", 1, "a"} == NodeAddress{"h", 1, "b"}));  // the id is not compared
  EXPECT_FALSE((NodeAddress{"h", 1, ""} == NodeAddress{"h", 2, ""}));
}

// ---- CLUSTER SLOTS ------------------------------------------------------------------------------

TEST(ClusterSlots, ThreeMastersWithReplicas) {
  const auto ranges = ranges_of(three_masters());
  ASSERT_EQ(ranges.size(), 3U);
  EXPECT_EQ(ranges[0].first, 0);
  EXPECT_EQ(ranges[0].last, 5460);
  EXPECT_EQ(ranges[1].first, 5461);
  EXPECT_EQ(ranges[2].last, 16383);
  EXPECT_EQ(ranges[0].master.host, "127.0.0.1");
  EXPECT_EQ(ranges[0].master.port, 7000);
  EXPECT_EQ(ranges[0].master.id, "id0");
  ASSERT_EQ(ranges[2].replicas.size(), 1U);
  EXPECT_EQ(ranges[2].replicas[0].port, 7005);
  EXPECT_EQ(ranges[2].replicas[0].id, "id5");
}

TEST(ClusterSlots, Redis7MetadataOldReplyShapesEmptyAndUnknownIps) {
  const auto ranges = ranges_of(array({
      // Redis 7: a metadata element after the id (ignored), two replicas
      array({integer(0), integer(99), node7("10.0.0.1", 6379, "m1"), node7("10.0.0.2", 6379, "r1"),
             node7("10.0.0.3", 6380, "r2")}),
      // Redis 3.0: no id; empty ip is the node asked
      array({integer(100), integer(100), array({bulk(""), integer(6390)})}),
      // unknown endpoint of a replica: that replica is left out
      array({integer(101), integer(200), node("10.0.0.4", 6379, "m2"), node("?", 6379, "r3")}),
      // unknown endpoint of the master: the whole range is left out (its port is not checked)
      array({integer(201), integer(300), node("?", 0, "m3"), node("10.0.0.5", 6379, "r4")}),
  }));
  ASSERT_EQ(ranges.size(), 3U);
  EXPECT_EQ(ranges[0].master.id, "m1");
  ASSERT_EQ(ranges[0].replicas.size(), 2U);
  EXPECT_EQ(ranges[0].replicas[1].host, "10.0.0.3");
  EXPECT_EQ(ranges[0].replicas[1].port, 6380);
  EXPECT_EQ(ranges[1].first, 100);
  EXPECT_EQ(ranges[1].last, 100);
  EXPECT_EQ(ranges[1].master.host, "10.0.0.9");
  EXPECT_EQ(ranges[1].master.port, 6390);
  EXPECT_EQ(ranges[1].master.id, "");
  EXPECT_EQ(ranges[2].master.id, "m2");
  EXPECT_THAT(ranges[2].replicas, IsEmpty());

  EXPECT_THAT(ranges_of("*0\r\n"), IsEmpty());  // a cluster with no slot assigned yet
}

TEST(ClusterSlots, ServerErrorsComeBackAsTheServerSaidThem) {
  auto disabled = parse_cluster_slots(
      *parse_reply(error("ERR This instance has cluster support disabled")), "h");
  ASSERT_FALSE(disabled.ok());
  EXPECT_EQ(disabled.error().code, Errc::server);
  EXPECT_THAT(disabled.error().message,
              HasSubstr("CLUSTER SLOTS: ERR This instance has cluster support disabled"));

  auto noauth = parse_cluster_slots(*parse_reply(error("NOAUTH Authentication required.")), "h");
  ASSERT_FALSE(noauth.ok());
  EXPECT_EQ(noauth.error().code, Errc::auth);
}

TEST(ClusterSlots, EveryMalformedShapeIsAProtocolErrorSayingWhat) {
  const std::string ok_node = node("10.0.0.1", 6379, "id");
  const std::pair<std::string, std::string> cases[] = {
      {integer(1), "unexpected integer"},
      {bulk("slots"), "unexpected"},
      {"$-1\r\n", "unexpected"},
      {array({integer(0)}), "range 0 is not an array"},
      {array({array({integer(0), integer(1)})}), "range 0 is not an array"},
      {array({array({bulk("0"), integer(1), ok_node})}), "not integers"},
      {array({array({integer(0), bulk("1"), ok_node})}), "not integers"},
      {array({array({integer(5), integer(4), ok_node})}), "bad slots 5-4"},
      {array({array({integer(0), integer(16384), ok_node})}), "bad slots 0-16384"},
      {array({array({integer(-1), integer(3), ok_node})}), "bad slots -1-3"},
      {array({array({integer(0), integer(1), integer(7)})}), "master is not an array"},
      {array({array({integer(0), integer(1), array({bulk("h")})})}), "master is not an array"},
      {array({array({integer(0), integer(1), array({integer(1), integer(2)})})}),
       "ip is not a string"},
      {array({array({integer(0), integer(1), array({bulk("h"), bulk("6379")})})}),
       "port is not an integer"},
      {array({array({integer(0), integer(1), node("h", 0, "id")})}),
       "master: port 0 is out of range"},
      {array({array({integer(0), integer(1), node("h", 65536, "id")})}),
       "port 65536 is out of range"},
      {array({array({integer(0), integer(1), node("h", -5, "id")})}), "port -5 is out of range"},
      {array({array({integer(0), integer(1), array({bulk("h"), integer(1), integer(3)})})}),
       "node id is not a string"},
      {array({array({integer(0), integer(1), node("bad host", 1, "id")})}), "bad ip 'bad host'"},
      {array({array({integer(0), integer(1), ok_node, node("h", 70000, "r")})}),
       "range 0 (slots 0-1) replica 1: port 70000"},
      {array({array({integer(0), integer(1), ok_node, "$-1\r\n"})}), "replica 1 is not an array"},
      {array({array({integer(0), integer(1), ok_node}), array({integer(2), integer(1), ok_node})}),
       "range 1: bad slots 2-1"},
  };
  for (const auto& [resp, what] : cases) {
    auto r = parse_cluster_slots(*parse_reply(resp), "h");
    ASSERT_FALSE(r.ok()) << resp;
    EXPECT_EQ(r.error().code, Errc::protocol) << resp;
    EXPECT_THAT(r.error().message, HasSubstr("CLUSTER SLOTS: ")) << resp;
    EXPECT_THAT(r.error().message, HasSubstr(what)) << resp;
  }
}

// ---- the keys of a command wire ----------------------------------------------------------------

std::string wire(std::initializer_list<std::string_view> words) {
  std::string out;
  RespWriter w(out);
  w.begin(words.size());
  for (auto word : words) w.arg(word);
  return out;
}

// The keys the parser found, as strings.
std::vector<std::string> keys(const std::string& w) {
  auto c = parse_wire_command(w);
  EXPECT_TRUE(c.ok()) << c.error().to_string();
  if (!c.ok()) return {};
  EXPECT_EQ(c->next, w.size());
  std::vector<std::string> out;
  for (std::size_t i : c->key_index) out.emplace_back(c->args.at(i));
  return out;
}

TEST(WireCommand, CommandsRcacheSendsAndTheirKeys) {
  const std::string get = wire({"GET", "user:1"});
  auto c = parse_wire_command(get);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->name, "GET");
  EXPECT_THAT(c->args, ElementsAre("user:1"));
  EXPECT_THAT(c->key_index, ElementsAre(0U));
  EXPECT_EQ(c->next, get.size());

  EXPECT_THAT(keys(wire({"SET", "k", "v", "PX", "100", "NX"})), ElementsAre("k"));
  EXPECT_THAT(keys(wire({"MSET", "a", "1", "b", "2", "c", "3"})), ElementsAre("a", "b", "c"));
  EXPECT_THAT(keys(wire({"MSETNX", "a", "1"})), ElementsAre("a"));
  EXPECT_THAT(keys(wire({"MGET", "a", "b", "c"})), ElementsAre("a", "b", "c"));
  EXPECT_THAT(keys(wire({"DEL", "x", "y"})), ElementsAre("x", "y"));
  EXPECT_THAT(keys(wire({"UNLINK", "x"})), ElementsAre("x"));
  EXPECT_THAT(keys(wire({"EXISTS", "x", "x"})), ElementsAre("x", "x"));
  EXPECT_THAT(keys(wire({"EVALSHA", "abc", "0", "arg"})), IsEmpty());
  EXPECT_THAT(keys(wire({"EVALSHA", "abc", "2", "k1", "k2", "arg1"})), ElementsAre("k1", "k2"));
  EXPECT_THAT(keys(wire({"EVAL", "return 1", "1", "k"})), ElementsAre("k"));
  EXPECT_THAT(keys(wire({"FCALL_RO", "f", "1", "k", "a"})), ElementsAre("k"));
  EXPECT_THAT(keys(wire({"PING"})), IsEmpty());
  EXPECT_THAT(keys(wire({"PING", "hello"})), IsEmpty());
  EXPECT_THAT(keys(wire({"ECHO", "hello"})), IsEmpty());
  EXPECT_THAT(keys(wire({"CLUSTER", "SLOTS"})), IsEmpty());
  EXPECT_THAT(keys(wire({"PUBLISH", "chan", "msg"})), IsEmpty());
  EXPECT_THAT(keys(wire({"SCAN", "0", "MATCH", "p*"})), IsEmpty());
  EXPECT_THAT(keys(wire({"MEMORY", "USAGE", "k"})), ElementsAre("k"));
  EXPECT_THAT(keys(wire({"memory", "usage", "k"})), ElementsAre("k"));
  EXPECT_THAT(keys(wire({"MEMORY", "STATS"})), IsEmpty());
  EXPECT_THAT(keys(wire({"OBJECT", "ENCODING", "k"})), ElementsAre("k"));
  EXPECT_THAT(keys(wire({"HSET", "h", "f", "v"})), ElementsAre("h"));
  EXPECT_THAT(keys(wire({"UNKNOWNCMD"})), IsEmpty());
  EXPECT_THAT(keys(wire({"SET", "a\r\nb\0c"s, "$3\r\n"})), ElementsAre("a\r\nb\0c"s));
}

TEST(WireCommand, NamesAreUpperCased) {
  auto c = parse_wire_command(wire({"get", "k"}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->name, "GET");
  EXPECT_THAT(keys(wire({"mset", "a", "1", "b", "2"})), ElementsAre("a", "b"));
  EXPECT_THAT(keys(wire({"evalSha", "s", "1", "k"})), ElementsAre("k"));
  EXPECT_THAT(keys(wire({"ping", "x"})), IsEmpty());
}

TEST(WireCommand, CommandsBackToBackAreReadOneByOne) {
  const std::string first = wire({"MULTI"});
  const std::string second = wire({"SET", "k", "v"});
  const std::string third = wire({"EXEC"});
  const std::string all = first + second + third;
  auto a = parse_wire_command(all);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->name, "MULTI");
  EXPECT_EQ(a->next, first.size());
  auto b = parse_wire_command(all, a->next);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->name, "SET");
  EXPECT_THAT(b->key_index, ElementsAre(0U));
  EXPECT_EQ(b->args[0], "k");
  EXPECT_EQ(b->next, first.size() + second.size());
  auto c = parse_wire_command(all, b->next);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->name, "EXEC");
  EXPECT_EQ(c->next, all.size());
  EXPECT_FALSE(parse_wire_command(all, c->next).ok());  // nothing left
  EXPECT_FALSE(parse_wire_command(all, all.size() + 10).ok());
}

TEST(WireCommand, BadScriptKeyCountsAreInvalid) {
  for (const auto& w :
       {wire({"EVALSHA", "abc", "x", "k"}), wire({"EVALSHA", "abc", "3", "k", "j"}),
        wire({"EVAL", "return 1"}), wire({"EVAL", "s", "-1"}),
        wire({"FCALL", "f", "18446744073709551616", "k"}), wire({"EVAL", "s", " 1", "k"})}) {
    auto c = parse_wire_command(w);
    ASSERT_FALSE(c.ok()) << w;
    EXPECT_EQ(c.error().code, Errc::invalid_argument);
  }
}

TEST(WireCommand, MalformedWiresAreErrorsNeverCrashes) {
  for (const std::string& bad : {""s,
                                 "PING\r\n"s,
                                 "*1\r\n"s,
                                 "*2\r\n$3\r\nGET\r\n"s,
                                 "*1\r\n$4\r\nGET\r\n"s,
                                 "*1\r\n$3\r\nGETX\r\n"s,
                                 "*1\r\n$3\r\nGET"s,
                                 "*1\r\n$3\r\nGET\r"s,
                                 "*-1\r\n"s,
                                 "*0\r\n"s,
                                 "*1\r\n:3\r\n"s,
                                 "*1\r\n$-1\r\n"s,
                                 "*1\r\n$0\r\n\r\n"s,
                                 "*1 \r\n$1\r\nA\r\n"s,
                                 "* 1\r\n$1\r\nA\r\n"s,
                                 "*1\n$1\r\nA\r\n"s,
                                 "*1\r\n$1\nA\r\n"s,
                                 "*\r\n$1\r\nA\r\n"s,
                                 "*99999999999999999999999\r\n$1\r\nA\r\n"s,
                                 "*1000000\r\n$1\r\nA\r\n"s,
                                 "*1\r\n$99999999999999999999\r\nA\r\n"s,
                                 "*1\r\n$18446744073709551615\r\nA\r\n"s,
                                 "*1\r\n$18446744073709551614\r\nA\r\n"s,
                                 "*1\r\n+GET\r\n"s}) {
    auto c = parse_wire_command(bad);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.error().code, Errc::invalid_argument) << bad;
  }

  // Every strict prefix of a good wire is an error; the whole wire is not.
  const std::string good = wire({"EVALSHA", "0123456789abcdef", "2", "k1", "k2", "arg"});
  for (std::size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(parse_wire_command(good.substr(0, n)).ok()) << n;
  }
  ASSERT_TRUE(parse_wire_command(good).ok());

  // Every byte replaced by a few values: an answer either way, and views stay inside the wire.
  std::mt19937 rng(7);
  for (std::size_t i = 0; i < good.size(); ++i) {
    for (char c : {'\0', '\r', '\n', '0', '9', '*', '$', '-', static_cast<char>(rng())}) {
      std::string w = good;
      w[i] = c;
      auto r = parse_wire_command(w);
      if (!r.ok()) continue;
      EXPECT_LE(r->next, w.size());
      for (auto a : r->args) {
        EXPECT_GE(a.data(), w.data());
        EXPECT_LE(a.data() + a.size(), w.data() + w.size());
      }
      for (std::size_t k : r->key_index) EXPECT_LT(k, r->args.size());
    }
  }
}

// ---- SlotMap
// -------------------------------------------------------------------------------------

TEST(SlotMap, BuiltFromThreeMastersWithReplicas) {
  const SlotMap map = map_of(ranges_of(three_masters()));
  ASSERT_EQ(map.nodes().size(), 6U);
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(map.nodes()[i].address.port, 7000 + static_cast<int>(i)) << i;
    EXPECT_EQ(map.nodes()[i].master, i < 3) << i;
  }
  EXPECT_EQ(map.nodes()[4].address.id, "id4");
  EXPECT_EQ(map.master_of(0), 0);
  EXPECT_EQ(map.master_of(5460), 0);
  EXPECT_EQ(map.master_of(5461), 1);
  EXPECT_EQ(map.master_of(10922), 1);
  EXPECT_EQ(map.master_of(10923), 2);
  EXPECT_EQ(map.master_of(16383), 2);
  EXPECT_EQ(map.master_of(16384), SlotMap::kNone);
  EXPECT_EQ(map.master_of(key_slot("foo")), 2);  // 12182
  EXPECT_THAT(map.replicas_of(0), ElementsAre(3));
  EXPECT_THAT(map.replicas_of(2), ElementsAre(5));
  EXPECT_THAT(map.replicas_of(3), IsEmpty());
  EXPECT_THAT(map.replicas_of(999), IsEmpty());
  EXPECT_THAT(map.masters(), ElementsAre(0, 1, 2));
  EXPECT_EQ(map.unserved(), 0U);
  EXPECT_EQ(map.index_of(at(7004)), 4);
  EXPECT_EQ(map.index_of(NodeAddress{"127.0.0.1", 7004, "another id"}), 4);
  EXPECT_FALSE(map.index_of(at(7004, "localhost")));
}

TEST(SlotMap, EmptyAndPartialMaps) {
  const SlotMap empty;
  EXPECT_EQ(empty.master_of(0), SlotMap::kNone);
  EXPECT_EQ(empty.unserved(), 16384U);
  EXPECT_THAT(empty.masters(), IsEmpty());
  EXPECT_THAT(empty.nodes(), IsEmpty());
  EXPECT_THAT(empty.replicas_of(0), IsEmpty());
  EXPECT_EQ(empty.describe(), "0 masters, 0 replicas, 0/16384 slots:");

  const SlotMap partial = map_of({range(0, 99, 7000), range(200, 200, 7001)});
  EXPECT_EQ(partial.unserved(), 16384U - 101U);
  EXPECT_EQ(partial.master_of(99), 0);
  EXPECT_EQ(partial.master_of(100), SlotMap::kNone);
  EXPECT_EQ(partial.master_of(200), 1);
  EXPECT_EQ(partial.master_of(201), SlotMap::kNone);
}

TEST(SlotMap, NodesAreDeduplicatedAcrossRanges) {
  // One master with two ranges and the same replica in both (listed once); a node that is a
  // master elsewhere (7000 under 7001) is never a replica.
  const SlotMap map = map_of({range(0, 9, 7000, {7010}), range(10, 19, 7001, {7011, 7000}),
                              range(20, 29, 7000, {7010, 7012})});
  ASSERT_EQ(map.nodes().size(), 5U);
  EXPECT_EQ(map.nodes()[0].address.port, 7000);
  EXPECT_EQ(map.nodes()[1].address.port, 7001);
  EXPECT_EQ(map.nodes()[2].address.port, 7010);
  EXPECT_FALSE(map.nodes()[2].master);
  EXPECT_THAT(map.replicas_of(0), ElementsAre(2, 4));
  EXPECT_THAT(map.replicas_of(1), ElementsAre(3));
  EXPECT_THAT(map.masters(), ElementsAre(0, 1));
  EXPECT_EQ(map.master_of(25), 0);
}

TEST(SlotMap, TwoMastersForOneSlotIsAnError) {
  auto overlap = SlotMap::from_ranges({range(0, 100, 7000), range(100, 200, 7001)});
  ASSERT_FALSE(overlap.ok());
  EXPECT_EQ(overlap.error().code, Errc::protocol);
  EXPECT_THAT(overlap.error().message,
              HasSubstr("CLUSTER SLOTS: slot 100 is served by two masters, 127.0.0.1:7000 and "
                        "127.0.0.1:7001"));
  // The same range from the same master twice is harmless.
  auto twice = SlotMap::from_ranges({range(0, 100, 7000), range(50, 60, 7000)});
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(twice->unserved(), 16384U - 101U);

  auto bad = SlotMap::from_ranges({range(10, 5, 7000)});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::protocol);
  ASSERT_FALSE(SlotMap::from_ranges({range(0, 16384, 7000)}).ok());
}

TEST(SlotMap, MovedSlotsGoToKnownAndNewNodes) {
  SlotMap map = map_of(ranges_of(three_masters()));
  EXPECT_EQ(map.move_slot(0, at(7001)), 1);  // a known master
  EXPECT_EQ(map.master_of(0), 1);
  EXPECT_EQ(map.nodes().size(), 6U);
  EXPECT_EQ(map.unserved(), 0U);

  EXPECT_EQ(map.move_slot(1, at(7100)), 6);  // a new node: added as a master
  ASSERT_EQ(map.nodes().size(), 7U);
  EXPECT_TRUE(map.nodes()[6].master);
  EXPECT_EQ(map.master_of(1), 6);
  EXPECT_EQ(map.move_slot(2, at(7100)), 6);  // known now
  EXPECT_EQ(map.nodes().size(), 7U);

  EXPECT_EQ(map.move_slot(100, at(7003)), 3);  // a replica: promoted
  EXPECT_TRUE(map.nodes()[3].master);
  EXPECT_THAT(map.replicas_of(0), IsEmpty());
  EXPECT_THAT(map.masters(), ElementsAre(0, 1, 2, 3, 6));

  for (std::uint16_t s = 0; s <= 5460; ++s) map.move_slot(s, at(7001));
  EXPECT_THAT(map.masters(), ElementsAre(1, 2));  // 7000, 7003 and 7100 serve nothing now

  EXPECT_EQ(map.move_slot(16384, at(7000)), SlotMap::kNone);
  EXPECT_EQ(map.nodes().size(), 7U);

  SlotMap empty;
  EXPECT_EQ(empty.move_slot(42, at(7000)), 0);
  EXPECT_EQ(empty.master_of(42), 0);
  EXPECT_EQ(empty.master_of(43), SlotMap::kNone);
  EXPECT_EQ(empty.unserved(), 16383U);
}

TEST(SlotMap, SameLayoutIgnoresOrderButNotOwnersRolesOrReplicas) {
  const SlotMap a = map_of(ranges_of(three_masters()));
  const SlotMap copy = a;  // NOLINT(performance-unnecessary-copy-initialization): the point
  EXPECT_TRUE(a.same_layout(copy));
  // The same cluster as another node lists it: ranges in another order.
  const SlotMap reordered = map_of({range(10923, 16383, 7002, {7005}), range(0, 5460, 7000, {7003}),
                                    range(5461, 10922, 7001, {7004})});
  EXPECT_TRUE(a.same_layout(reordered));
  EXPECT_TRUE(reordered.same_layout(a));

  SlotMap moved = a;
  moved.move_slot(7, at(7001));
  EXPECT_FALSE(a.same_layout(moved));
  moved.move_slot(7, at(7000));
  EXPECT_TRUE(a.same_layout(moved));  // moved back: the same again

  const SlotMap swapped = map_of({range(0, 5460, 7000, {7004}), range(5461, 10922, 7001, {7003}),
                                  range(10923, 16383, 7002, {7005})});
  EXPECT_FALSE(a.same_layout(swapped));
  const SlotMap fewer = map_of(
      {range(0, 5460, 7000, {7003}), range(5461, 10922, 7001, {7004}), range(10923, 16383, 7002)});
  EXPECT_FALSE(a.same_layout(fewer));
  const SlotMap hole = map_of({range(0, 5460, 7000, {7003}), range(5461, 10922, 7001, {7004}),
                               range(10924, 16383, 7002, {7005})});
  EXPECT_FALSE(a.same_layout(hole));
  EXPECT_FALSE(a.same_layout(SlotMap{}));
  EXPECT_TRUE(SlotMap{}.same_layout(SlotMap{}));
}

TEST(SlotMap, DescribeNamesMastersRangesAndReplicas) {
  const SlotMap map = map_of(ranges_of(three_masters()));
  EXPECT_EQ(map.describe(),
            "3 masters, 3 replicas, 16384/16384 slots: 127.0.0.1:7000 [0-5460] (127.0.0.1:7003) "
            "127.0.0.1:7001 [5461-10922] (127.0.0.1:7004) 127.0.0.1:7002 [10923-16383] "
            "(127.0.0.1:7005)");

  std::vector<SlotRange> scattered;
  for (std::uint16_t s = 0; s < 20; s += 2) scattered.push_back(range(s, s, 7000));
  scattered.push_back(range(100, 16383, 7001));
  scattered.back().master.host = "::1";
  EXPECT_EQ(map_of(scattered).describe(),
            "2 masters, 0 replicas, 16294/16384 slots: 127.0.0.1:7000 [0,2,4,6,8,10,+4 more] "
            "[::1]:7001 [100-16383]");
}

}  // namespace
}  // namespace rcache::detail
