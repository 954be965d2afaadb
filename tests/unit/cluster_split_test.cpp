// The cluster router's pure decisions: where a wire goes, how a cross-slot call is split, and how
// the parts' replies become the reply the unsplit command would have had.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "protocol/commands.hpp"
#include "protocol/replies.hpp"
#include "protocol/resp.hpp"
#include "rcache/config.hpp"
#include "reply_bytes.hpp"
#include "resilience/cluster_call.hpp"

namespace rcache::detail {
namespace {

using test::parse_reply;
using ::testing::HasSubstr;

std::string wire_of(std::initializer_list<std::string_view> args) {
  std::string w;
  RespWriter out(w);
  out.begin(args.size());
  for (auto a : args) out.arg(a);
  return w;
}

// Keys of three different slots, and two keys sharing a slot by tag.
const std::string kA = "a", kB = "b", kC = "c", kT1 = "{t}.1", kT2 = "{t}.2";

TEST(ClusterRoute, SingleKeyCommandsGoToTheirKeysSlot) {
  auto r = route_of(wire_of({"GET", kA}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->slot, key_slot(kA));
  EXPECT_FALSE(r->cross_slot);
  r = route_of(wire_of({"PING"}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->slot, -1);
  // Several commands back to back (the near cache's GET + PTTL): the first one's key.
  r = route_of(wire_of({"GET", kB}) + wire_of({"PTTL", kB}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->slot, key_slot(kB));
  EXPECT_FALSE(r->splittable);
}

TEST(ClusterRoute, ReadsAreKnownByEveryCommandOfTheWire) {
  auto r = route_of(wire_of({"GET", kA}) + wire_of({"PTTL", kA}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->read_only);
  r = route_of(wire_of({"GET", kA}) + wire_of({"DEL", kA}));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->read_only);
  r = route_of(wire_of({"MGET", kA, kB}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->read_only);
  for (auto w : {"SET", "INCRBY", "EXPIRE", "EVALSHA", "UNLINK", "MULTI", "GETEX", "GETDEL"}) {
    EXPECT_FALSE(read_only_command(w)) << w;
  }
}

TEST(ClusterRoute, CrossSlotMultiKeyCommandsAreSplittableOthersAreNot) {
  auto r = route_of(wire_of({"MGET", kA, kB, kC}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->cross_slot);
  EXPECT_TRUE(r->splittable);
  r = route_of(wire_of({"MGET", kT1, kT2}));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->cross_slot);
  r = route_of(wire_of({"EVALSHA", "abc", "2", kA, kB}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->cross_slot);
  EXPECT_FALSE(r->splittable);  // a script runs on one node: the server says CROSSSLOT
  r = route_of(wire_of({"MGET", kA, kB}) + wire_of({"PING"}));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->splittable);  // not a wire this router knows how to split
  EXPECT_FALSE(route_of("garbage").ok());
}

TEST(ClusterRoute, MsetWithATtlIsATransactionSplitPerSlot) {
  Config cfg;
  std::vector<std::pair<std::string, std::string>> pairs = {{kA, "1"}, {kB, "2"}, {kT1, "3"}};
  std::vector<std::string_view> stored = {"1", "2", "3"};
  auto w = mset_command(cfg, pairs, stored, std::chrono::milliseconds(5000));
  ASSERT_TRUE(w.ok());
  auto r = route_of(w->bytes);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->slot, key_slot(kA));
  EXPECT_TRUE(r->cross_slot);
  EXPECT_TRUE(r->splittable);
  auto plan = plan_split(w->bytes);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->kind, SplitKind::transaction);
  EXPECT_EQ(plan->total, 3u);
  ASSERT_EQ(plan->parts.size(), 3u);
  for (const auto& p : plan->parts) {
    ASSERT_EQ(p.items.size(), 1u);
    EXPECT_EQ(p.replies, 3u);  // MULTI, SET, EXEC
    auto first = parse_wire_command(p.wire);
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(first->name, "MULTI");
    auto set = parse_wire_command(p.wire, first->next);
    ASSERT_TRUE(set.ok());
    EXPECT_EQ(set->name, "SET");
    EXPECT_EQ(key_slot(set->args[0]), p.slot);
    auto exec = parse_wire_command(p.wire, set->next);
    ASSERT_TRUE(exec.ok());
    EXPECT_EQ(exec->name, "EXEC");
    EXPECT_EQ(exec->next, p.wire.size());
  }
}

TEST(ClusterSplit, MgetIsPutBackInTheCallersOrder) {
  const std::string w = wire_of({"MGET", kA, kT1, kB, kT2, kC});
  auto plan = plan_split(w);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->kind, SplitKind::values);
  ASSERT_EQ(plan->parts.size(), 4u);  // a, {t} (two keys), b, c
  std::vector<Outcome> parts(plan->parts.size());
  for (std::size_t g = 0; g < plan->parts.size(); ++g) {
    auto c = parse_wire_command(plan->parts[g].wire);
    ASSERT_TRUE(c.ok());
    std::string resp = "*" + std::to_string(c->args.size()) + "\r\n";
    for (auto key : c->args) {
      resp += key == kB
                  ? std::string("$-1\r\n")
                  : "$" + std::to_string(key.size() + 2) + "\r\nv:" + std::string(key) + "\r\n";
    }
    parts[g].reply = parse_reply(resp);
    parts[g].sent = true;
  }
  Outcome merged = merge_split(*plan, std::move(parts));
  ASSERT_FALSE(merged.error);
  auto values = parse_mget(*merged.reply, 5);
  ASSERT_TRUE(values.ok()) << values.error().to_string();
  ASSERT_EQ(values->size(), 5u);
  EXPECT_EQ((*values)[0], std::optional<std::string>("v:a"));
  EXPECT_EQ((*values)[1], std::optional<std::string>("v:{t}.1"));
  EXPECT_FALSE((*values)[2].has_value());
  EXPECT_EQ((*values)[3], std::optional<std::string>("v:{t}.2"));
  EXPECT_EQ((*values)[4], std::optional<std::string>("v:c"));
}

TEST(ClusterSplit, CountsAreSummedAndAnyFailedPartIsTheOutcome) {
  auto plan = plan_split(wire_of({"DEL", kA, kB, kC}));
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->kind, SplitKind::count);
  auto outcomes = [&](std::vector<std::string> replies) {
    std::vector<Outcome> parts(replies.size());
    for (std::size_t i = 0; i < replies.size(); ++i) parts[i].reply = parse_reply(replies[i]);
    return parts;
  };
  Outcome sum = merge_split(*plan, outcomes({":1\r\n", ":0\r\n", ":1\r\n"}));
  ASSERT_NE(sum.reply, nullptr);
  EXPECT_EQ(sum.reply->type, REDIS_REPLY_INTEGER);
  EXPECT_EQ(sum.reply->integer, 2);
  Outcome err = merge_split(*plan, outcomes({":1\r\n", "-WRONGTYPE x\r\n", ":1\r\n"}));
  ASSERT_NE(err.reply, nullptr);
  EXPECT_EQ(err.reply->type, REDIS_REPLY_ERROR);
  auto parts = outcomes({":1\r\n", ":1\r\n", ":1\r\n"});
  parts[1].reply.reset();
  parts[1].error = Error{Errc::timeout, "DEL: timed out"};
  Outcome timed_out = merge_split(*plan, std::move(parts));
  ASSERT_TRUE(timed_out.error);
  EXPECT_EQ(timed_out.error->code, Errc::timeout);
}

TEST(ClusterSplit, AMsetTransactionMergesIntoOneExecInOrder) {
  Config cfg;
  std::vector<std::pair<std::string, std::string>> pairs = {{kA, "1"}, {kB, "2"}, {kT1, "3"}};
  std::vector<std::string_view> stored = {"1", "2", "3"};
  auto w = mset_command(cfg, pairs, stored, std::chrono::milliseconds(5000));
  ASSERT_TRUE(w.ok());
  auto plan = plan_split(w->bytes);
  ASSERT_TRUE(plan.ok());
  std::vector<Outcome> parts(plan->parts.size());
  for (auto& p : parts) {
    p.earlier.push_back(parse_reply("+OK\r\n"));
    p.earlier.push_back(parse_reply("+QUEUED\r\n"));
    p.reply = parse_reply("*1\r\n+OK\r\n");
  }
  Outcome merged = merge_split(*plan, std::move(parts));
  ASSERT_FALSE(merged.error);
  EXPECT_EQ(merged.earlier.size(), 4u);  // MULTI + 3 QUEUED, as one transaction would have
  EXPECT_TRUE(parse_mset(merged.earlier, *merged.reply, 3).ok());
  // One slot's transaction aborted: the call fails, saying so.
  std::vector<Outcome> aborted(plan->parts.size());
  for (auto& p : aborted) {
    p.earlier.push_back(parse_reply("+OK\r\n"));
    p.earlier.push_back(parse_reply("+QUEUED\r\n"));
    p.reply = parse_reply("*1\r\n+OK\r\n");
  }
  aborted[2].earlier[1] = parse_reply("-OOM command not allowed\r\n");
  aborted[2].reply = parse_reply("-EXECABORT Transaction discarded\r\n");
  Outcome failed = merge_split(*plan, std::move(aborted));
  auto r = parse_mset(failed.earlier, *failed.reply, 3);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("OOM"));
}

TEST(ClusterSplit, BroadcastsGoToEveryMasterAndAnswerOnce) {
  auto r = route_of(wire_of({"DBSIZE"}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->broadcast);
  EXPECT_TRUE(route_of(wire_of({"script", "load", "return 1"}))->broadcast);
  EXPECT_FALSE(route_of(wire_of({"SCRIPT", "EXISTS", "abc"}))->broadcast);
  EXPECT_FALSE(route_of(wire_of({"PING"}))->broadcast);
  const std::vector<std::uint16_t> slots = {0, 5461, 10923};
  auto outcomes = [](std::initializer_list<const char*> replies) {
    std::vector<Outcome> parts;
    for (auto* r : replies) {
      Outcome o;
      o.reply = parse_reply(r);
      parts.push_back(std::move(o));
    }
    return parts;
  };
  const auto size = plan_broadcast(wire_of({"DBSIZE"}), slots);
  ASSERT_EQ(size.parts.size(), 3u);
  EXPECT_EQ(size.parts[1].slot, 5461);
  EXPECT_EQ(merge_split(size, outcomes({":3\r\n", ":4\r\n", ":5\r\n"})).reply->integer, 12);
  const auto keys = plan_broadcast(wire_of({"KEYS", "*"}), slots);
  Outcome all =
      merge_split(keys, outcomes({"*1\r\n$1\r\na\r\n", "*0\r\n", "*2\r\n$1\r\nb\r\n$1\r\nc\r\n"}));
  ASSERT_EQ(all.reply->type, REDIS_REPLY_ARRAY);
  EXPECT_EQ(all.reply->elements, 3u);
  const auto flush = plan_broadcast(wire_of({"FLUSHALL"}), slots);
  EXPECT_EQ(merge_split(flush, outcomes({"+OK\r\n", "+OK\r\n", "+OK\r\n"})).reply->type,
            REDIS_REPLY_STATUS);
  Outcome failed = merge_split(flush, outcomes({"+OK\r\n", "-READONLY no\r\n", "+OK\r\n"}));
  EXPECT_EQ(failed.reply->type, REDIS_REPLY_ERROR);
}

TEST(ClusterRedirect, TheFirstRedirectOfAnyReplyIsFound) {
  Outcome o;
  o.earlier.push_back(parse_reply("+OK\r\n"));
  o.earlier.push_back(parse_reply("-MOVED 3999 127.0.0.1:7001\r\n"));
  o.reply = parse_reply("-EXECABORT Transaction discarded\r\n");
  auto rd = find_redirect(o);
  ASSERT_TRUE(rd.has_value());
  EXPECT_EQ(rd->slot, 3999);
  EXPECT_EQ(rd->port, 7001);
  Outcome plain;
  plain.reply = parse_reply("$1\r\nx\r\n");
  EXPECT_FALSE(find_redirect(plain).has_value());
  const std::string asking = *with_asking(wire_of({"GET", kA})).wire;
  auto first = parse_wire_command(asking);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->name, "ASKING");
  auto get = parse_wire_command(asking, first->next);
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->name, "GET");
}

TEST(ClusterRedirect, AskingGoesBeforeEachCommandOfAPipelinedWireAndItsRepliesAreDropped) {
  // GET + PTTL (the near cache, get_or_load's early refresh): ASKING counts for one command.
  auto a = with_asking(wire_of({"GET", kA}) + wire_of({"PTTL", kA}));
  EXPECT_EQ(a.extra, 2u);
  std::vector<std::string> names;
  for (std::size_t at = 0; at < a.wire->size();) {
    auto c = parse_wire_command(*a.wire, at);
    ASSERT_TRUE(c.ok());
    names.push_back(c->name);
    at = c->next;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"ASKING", "GET", "ASKING", "PTTL"}));
  Outcome o;
  o.earlier.push_back(parse_reply("+OK\r\n"));
  o.earlier.push_back(parse_reply("$1\r\nv\r\n"));
  o.earlier.push_back(parse_reply("+OK\r\n"));
  o.reply = parse_reply(":1500\r\n");
  strip_asking(o, a.extra);
  ASSERT_EQ(o.earlier.size(), 1u);
  EXPECT_EQ(o.earlier[0]->type, REDIS_REPLY_STRING);
  EXPECT_EQ(o.reply->integer, 1500);
  // A transaction needs one ASKING.
  auto t = with_asking(wire_of({"MULTI"}) + wire_of({"SET", kA, "1"}) + wire_of({"EXEC"}));
  EXPECT_EQ(t.extra, 1u);
}

}  // namespace
}  // namespace rcache::detail
