// Pipeline alone: short writes, split replies, deadlines, lost connections, broken streams.
#include "transport/pipeline.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/resp.hpp"

namespace rcache::detail {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// The RESP encoding of one command.
std::string cmd(std::initializer_list<std::string_view> args) {
  std::string out;
  RespWriter w(out);
  w.begin(args.size());
  for (auto a : args) w.arg(a);
  return out;
}

// A reply as short text: "+OK", "$bar", ":5", "nil", "-ERR x", "[$a,:7]".
std::string show(const redisReply* r) {
  if (r == nullptr) return "<none>";
  switch (r->type) {
    case REDIS_REPLY_STATUS:
      return "+" + std::string(r->str, r->len);
    case REDIS_REPLY_ERROR:
      return "-" + std::string(r->str, r->len);
    case REDIS_REPLY_STRING:
      return "$" + std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER:
      return ":" + std::to_string(r->integer);
    case REDIS_REPLY_NIL:
      return "nil";
    case REDIS_REPLY_ARRAY: {
      std::string s = "[";
      for (std::size_t i = 0; i < r->elements; ++i) {
        if (i > 0) s += ",";
        s += show(r->element[i]);
      }
      return s + "]";
    }
    default:
      return "?";
  }
}

std::vector<std::string> show(const std::vector<ReplyPtr>& replies) {
  std::vector<std::string> out;
  for (const auto& r : replies) out.push_back(show(r.get()));
  return out;
}

class PipelineTest : public ::testing::Test {
 protected:
  struct Completed {
    int id;
    Outcome outcome;
  };

  PipelineTest() {
    limits_.reply_budget = 1024 * 1024;
    limits_.hung_after = 100ms;
    limits_.command_timeout = 100ms;
  }

  std::unique_ptr<Pipeline> make_pipeline() {
    return std::make_unique<Pipeline>(limits_, "10.0.0.1:6379");
  }

  Request make(int id, std::string wire, TimePoint deadline = TimePoint::max(),
               std::uint32_t replies = 1, const char* name = "GET") {
    Request r;
    r.wire = std::make_shared<const std::string>(std::move(wire));
    r.replies = replies;
    r.name = name;
    r.deadline = deadline;
    r.done = [this, id](Outcome&& o) { completed_.push_back(Completed{id, std::move(o)}); };
    return r;
  }

  // Everything prepare_write() offers, handed to the socket in full.
  static std::string write_all(Pipeline& p) {
    std::string out(p.prepare_write());
    p.commit_write(out.size());
    return out;
  }

  static std::optional<Error> feed(Pipeline& p, std::string_view s) {
    return p.consume(s.data(), s.size());
  }

  int times_completed(int id) const {
    int n = 0;
    for (const auto& c : completed_) n += c.id == id ? 1 : 0;
    return n;
  }

  // The one completion of `id` (a test failure if it completed zero or several times).
  const Outcome& outcome(int id) {
    EXPECT_EQ(times_completed(id), 1) << "request " << id;
    for (const auto& c : completed_) {
      if (c.id == id) return c.outcome;
    }
    static const Outcome none;
    return none;
  }

  // The error code `id` completed with; nullopt if it completed with replies.
  std::optional<Errc> code(int id) {
    const Outcome& o = outcome(id);
    if (!o.error) return std::nullopt;
    return o.error->code;
  }

  std::vector<int> order() const {
    std::vector<int> ids;
    for (const auto& c : completed_) ids.push_back(c.id);
    return ids;
  }

  Pipeline::Limits limits_;
  const TimePoint t0_ = TimePoint{} + 1h;
  std::vector<Completed> completed_;
};

// --- short writes -------------------------------------------------------------------------------

TEST_F(PipelineTest, ShortWriteOffersExactlyTheRestNext) {
  auto p = make_pipeline();
  p->open();
  const std::string a = cmd({"GET", "alpha"}), b = cmd({"SET", "beta", "value"});
  p->push(make(1, a));
  p->push(make(2, b));
  const std::string all = a + b;

  std::string first(p->prepare_write());
  ASSERT_EQ(first, all);
  p->commit_write(5);
  EXPECT_EQ(std::string(p->prepare_write()), all.substr(5));
  p->commit_write(a.size());  // ends inside b
  EXPECT_EQ(std::string(p->prepare_write()), all.substr(5 + a.size()));
  p->commit_write(all.size() - 5 - a.size());
  EXPECT_TRUE(p->prepare_write().empty());
}

TEST_F(PipelineTest, NewRequestsWaitUntilTheShortWriteIsFinished) {
  auto p = make_pipeline();
  p->open();
  const std::string a = cmd({"GET", "alpha"}), c = cmd({"GET", "gamma"});
  p->push(make(1, a));
  ASSERT_EQ(std::string(p->prepare_write()), a);
  p->commit_write(3);
  p->push(make(2, c));
  EXPECT_EQ(std::string(p->prepare_write()), a.substr(3));
  p->commit_write(a.size() - 3);
  EXPECT_EQ(std::string(p->prepare_write()), c);
}

TEST_F(PipelineTest, PartlyCommittedRequestIsFailedAsNotSent) {
  auto p = make_pipeline();
  p->open();
  const std::string a = cmd({"GET", "alpha"}), b = cmd({"GET", "beta"});
  p->push(make(1, a));
  p->push(make(2, b));
  ASSERT_EQ(p->prepare_write().size(), a.size() + b.size());
  p->commit_write(a.size() + 2);

  p->fail_all(Error{Errc::connection, "connection lost"});

  EXPECT_TRUE(outcome(1).sent);
  EXPECT_FALSE(outcome(2).sent);
  ASSERT_TRUE(outcome(1).error.has_value());
  ASSERT_TRUE(outcome(2).error.has_value());
  EXPECT_EQ(code(1), Errc::connection);
  EXPECT_EQ(code(2), Errc::connection);
}

TEST_F(PipelineTest, CommitEndingExactlyAtARequestBoundaryCountsItSent) {
  auto p = make_pipeline();
  p->open();
  const std::string a = cmd({"GET", "alpha"}), b = cmd({"GET", "beta"});
  p->push(make(1, a));
  p->push(make(2, b));
  (void)p->prepare_write();
  p->commit_write(a.size());

  p->fail_all(Error{Errc::connection, "connection lost"});

  EXPECT_TRUE(outcome(1).sent);
  EXPECT_FALSE(outcome(2).sent);
}

// --- reply framing ------------------------------------------------------------------------------

// Seven requests and the byte stream that answers them, one multi-command request among them.
struct Script {
  std::vector<std::pair<std::string, std::uint32_t>> requests;  // wire, replies
  std::string replies;
  std::vector<std::string> want;          // show() of each request's last reply
  std::vector<std::string> want_earlier;  // of the multi-command request (index 6)
};

Script script() {
  Script s;
  s.requests = {
      {cmd({"GET", "foo"}), 1},
      {cmd({"SET", "foo", "bar"}), 1},
      {cmd({"INCR", "n"}), 1},
      {cmd({"MGET", "a", "b"}), 1},
      {cmd({"GET", "missing"}), 1},
      {cmd({"HGET", "k"}), 1},
      {cmd({"MULTI"}) + cmd({"SET", "x", "1"}) + cmd({"EXEC"}), 3},
      {cmd({"GET", "empty"}), 1},
  };
  s.replies =
      "$3\r\nbar\r\n"
      "+OK\r\n"
      ":5\r\n"
      "*2\r\n$1\r\na\r\n:7\r\n"
      "$-1\r\n"
      "-ERR wrong number of arguments\r\n"
      "+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n"
      "$0\r\n\r\n";
  s.want = {"$bar", "+OK", ":5", "[$a,:7]", "nil", "-ERR wrong number of arguments", "[+OK]", "$"};
  s.want_earlier = {"+OK", "+QUEUED"};
  return s;
}

TEST_F(PipelineTest, RepliesFedOneByteAtATimeCompleteEveryRequestInOrder) {
  const Script s = script();
  auto p = make_pipeline();
  p->open();
  for (std::size_t i = 0; i < s.requests.size(); ++i) {
    p->push(make(static_cast<int>(i), s.requests[i].first, TimePoint::max(), s.requests[i].second));
  }
  write_all(*p);

  for (char c : s.replies) {
    auto e = p->consume(&c, 1);
    ASSERT_FALSE(e.has_value()) << e->message;
  }

  std::vector<int> want_order;
  for (std::size_t i = 0; i < s.requests.size(); ++i) want_order.push_back(static_cast<int>(i));
  EXPECT_EQ(order(), want_order);
  for (std::size_t i = 0; i < s.requests.size(); ++i) {
    const Outcome& o = outcome(static_cast<int>(i));
    EXPECT_FALSE(o.error.has_value());
    EXPECT_TRUE(o.sent);
    EXPECT_EQ(show(o.reply.get()), s.want[i]) << "request " << i;
  }
  EXPECT_EQ(show(outcome(6).earlier), s.want_earlier);
  EXPECT_EQ(p->pending(), 0u);
}

TEST_F(PipelineTest, RepliesSplitAtAnySinglePointCompleteEveryRequestInOrder) {
  const Script s = script();
  for (std::size_t cut = 0; cut <= s.replies.size(); ++cut) {
    SCOPED_TRACE("split at byte " + std::to_string(cut));
    completed_.clear();
    auto p = make_pipeline();
    p->open();
    for (std::size_t i = 0; i < s.requests.size(); ++i) {
      p->push(
          make(static_cast<int>(i), s.requests[i].first, TimePoint::max(), s.requests[i].second));
    }
    write_all(*p);

    const std::string_view all(s.replies);
    ASSERT_FALSE(feed(*p, all.substr(0, cut)).has_value());
    ASSERT_FALSE(feed(*p, all.substr(cut)).has_value());

    ASSERT_EQ(completed_.size(), s.requests.size());
    for (std::size_t i = 0; i < s.requests.size(); ++i) {
      EXPECT_EQ(completed_[i].id, static_cast<int>(i));
      EXPECT_EQ(show(completed_[i].outcome.reply.get()), s.want[i]) << "request " << i;
    }
    EXPECT_EQ(show(completed_[6].outcome.earlier), s.want_earlier);
  }
}

TEST_F(PipelineTest, MultiReplyRequestCompletesOnceWithEarlierRepliesAndTheLast) {
  auto p = make_pipeline();
  p->open();
  p->push(make(1, cmd({"MULTI"}) + cmd({"SET", "k", "v"}) + cmd({"EXEC"}), TimePoint::max(), 3,
               "MULTI"));
  write_all(*p);

  ASSERT_FALSE(feed(*p, "+OK\r\n").has_value());
  EXPECT_TRUE(completed_.empty());
  ASSERT_FALSE(feed(*p, "+QUEUED\r\n").has_value());
  EXPECT_TRUE(completed_.empty());
  ASSERT_FALSE(feed(*p, "*1\r\n+OK\r\n").has_value());

  const Outcome& o = outcome(1);
  EXPECT_FALSE(o.error.has_value());
  EXPECT_EQ(show(o.reply.get()), "[+OK]");
  EXPECT_EQ(show(o.earlier), (std::vector<std::string>{"+OK", "+QUEUED"}));
  EXPECT_EQ(p->pending(), 0u);
}

// --- the handshake gate -------------------------------------------------------------------------

TEST_F(PipelineTest, WaitingRequestsAreNotWrittenBeforeOpen) {
  auto p = make_pipeline();
  const std::string hello = cmd({"AUTH", "secret"}), a = cmd({"GET", "a"}), b = cmd({"GET", "b"});
  p->push(make(1, a));
  p->push(make(2, b));
  p->push_handshake(make(0, hello, TimePoint::max(), 1, "AUTH"));

  EXPECT_EQ(write_all(*p), hello);
  EXPECT_TRUE(p->prepare_write().empty());
  EXPECT_EQ(p->waiting(), 2u);

  ASSERT_FALSE(feed(*p, "+OK\r\n").has_value());
  EXPECT_EQ(show(outcome(0).reply.get()), "+OK");
  p->open();
  EXPECT_EQ(write_all(*p), a + b);
  EXPECT_EQ(p->waiting(), 0u);
}

TEST_F(PipelineTest, HandshakeGoesAheadOfWaitingRequests) {
  auto p = make_pipeline();
  const std::string hello = cmd({"SELECT", "2"}), a = cmd({"GET", "a"});
  p->push(make(1, a));
  p->push_handshake(make(0, hello, TimePoint::max(), 1, "SELECT"));
  p->open();

  EXPECT_EQ(write_all(*p), hello + a);
  ASSERT_FALSE(feed(*p, "+OK\r\n$1\r\nx\r\n").has_value());
  EXPECT_EQ(order(), (std::vector<int>{0, 1}));
  EXPECT_EQ(show(outcome(1).reply.get()), "$x");
}

// --- deadlines ----------------------------------------------------------------------------------

TEST_F(PipelineTest, WrittenRequestPastItsDeadlineCompletesOnceWithTimeoutAndSent) {
  auto p = make_pipeline();
  p->open();
  p->push(make(1, cmd({"GET", "slow"}), t0_ + 100ms));
  write_all(*p);

  EXPECT_FALSE(p->expire(t0_ + 99ms).has_value());
  EXPECT_TRUE(completed_.empty());
  EXPECT_FALSE(p->expire(t0_ + 100ms).has_value());
  EXPECT_FALSE(p->expire(t0_ + 150ms).has_value());

  const Outcome& o = outcome(1);
  ASSERT_TRUE(o.error.has_value());
  EXPECT_EQ(o.error->code, Errc::timeout);
  EXPECT_THAT(o.error->message, HasSubstr("GET"));
  EXPECT_THAT(o.error->message, HasSubstr("10.0.0.1:6379"));
  EXPECT_TRUE(o.sent);
  EXPECT_EQ(p->abandoned(), 1u);
}

TEST_F(PipelineTest, LateReplyOfAnAbandonedRequestIsAbsorbedNotCrossed) {
  auto p = make_pipeline();
  p->open();
  p->push(make(1, cmd({"GET", "slow"}), t0_ + 100ms));
  p->push(make(2, cmd({"GET", "next"}), t0_ + 500ms));
  write_all(*p);
  ASSERT_FALSE(p->expire(t0_ + 100ms).has_value());
  ASSERT_EQ(times_completed(1), 1);

  ASSERT_FALSE(feed(*p, "$4\r\nlate\r\n").has_value());
  EXPECT_EQ(completed_.size(), 1u);
  EXPECT_EQ(p->abandoned(), 0u);
  ASSERT_FALSE(feed(*p, "$4\r\nmine\r\n").has_value());

  EXPECT_EQ(times_completed(1), 1);
  EXPECT_EQ(show(outcome(2).reply.get()), "$mine");
  EXPECT_EQ(p->pending(), 0u);
}

TEST_F(PipelineTest, AbandonedMultiReplyRequestAbsorbsAllItsReplies) {
  auto p = make_pipeline();
  p->open();
  p->push(make(1, cmd({"MULTI"}) + cmd({"INCR", "n"}) + cmd({"EXEC"}), t0_ + 100ms, 3, "MULTI"));
  p->push(make(2, cmd({"GET", "next"})));
  write_all(*p);
  ASSERT_FALSE(p->expire(t0_ + 100ms).has_value());

  ASSERT_FALSE(feed(*p, "+OK\r\n+QUEUED\r\n*1\r\n:1\r\n$4\r\nmine\r\n").has_value());

  EXPECT_EQ(code(1), Errc::timeout);
  EXPECT_EQ(show(outcome(2).reply.get()), "$mine");
  EXPECT_TRUE(outcome(2).earlier.empty());
}

TEST_F(PipelineTest, ExpiredWaitingRequestCompletesUnsentAndIsNeverWritten) {
  auto p = make_pipeline();
  const std::string a = cmd({"GET", "a"}), b = cmd({"GET", "b"});
  p->push(make(1, a, t0_ + 100ms));
  p->push(make(2, b, t0_ + 900ms));

  ASSERT_FALSE(p->expire(t0_ + 100ms).has_value());
  const Outcome& o = outcome(1);
  ASSERT_TRUE(o.error.has_value());
  EXPECT_EQ(o.error->code, Errc::timeout);
  EXPECT_FALSE(o.sent);
  EXPECT_EQ(p->waiting(), 1u);

  p->open();
  EXPECT_EQ(write_all(*p), b);
  EXPECT_EQ(times_completed(1), 1);
}

TEST_F(PipelineTest, HungServerIsReportedOnlyOnceDeadlinePlusGraceHasPassed) {
  auto p = make_pipeline();
  p->open();
  p->push(make(1, cmd({"GET", "a"}), t0_ + 100ms));
  write_all(*p);

  EXPECT_FALSE(p->expire(t0_ + 100ms).has_value());  // abandoned, not hung
  EXPECT_FALSE(p->expire(t0_ + 200ms - 1ns).has_value());
  auto hung = p->expire(t0_ + 200ms);
  ASSERT_TRUE(hung.has_value());
  EXPECT_EQ(hung->code, Errc::timeout);
  EXPECT_THAT(hung->message, HasSubstr("10.0.0.1:6379"));
  EXPECT_EQ(times_completed(1), 1);
}

TEST_F(PipelineTest, HungServerIsReportedEvenWithoutAnEarlierExpire) {
  auto p = make_pipeline();
  p->open();
  p->push(make(1, cmd({"GET", "a"}), t0_ + 100ms));
  write_all(*p);

  EXPECT_TRUE(p->expire(t0_ + 1s).has_value());
  EXPECT_EQ(code(1), Errc::timeout);
}

TEST_F(PipelineTest, NextDeadlineIsTheDeadlineThenTheHungCheck) {
  auto p = make_pipeline();
  EXPECT_EQ(p->next_deadline(), TimePoint::max());
  p->open();
  p->push(make(1, cmd({"GET", "a"}), t0_ + 100ms));
  p->push(make(2, cmd({"GET", "b"}), t0_ + 300ms));
  EXPECT_EQ(p->next_deadline(), t0_ + 100ms);  // waiting
  write_all(*p);
  EXPECT_EQ(p->next_deadline(), t0_ + 100ms);  // in flight

  ASSERT_FALSE(p->expire(t0_ + 100ms).has_value());
  EXPECT_EQ(p->next_deadline(), t0_ + 200ms);  // oldest (abandoned) + hung_after

  ASSERT_FALSE(feed(*p, "+late\r\n").has_value());
  EXPECT_EQ(p->next_deadline(), t0_ + 300ms);  // the next one's own deadline
  ASSERT_FALSE(feed(*p, "+OK\r\n").has_value());
  EXPECT_EQ(p->next_deadline(), TimePoint::max());
}

TEST_F(PipelineTest, ZeroHungAfterNeverReportsAHungServer) {
  limits_.hung_after = 0ms;
  auto p = make_pipeline();
  p->open();
  p->push(make(1, cmd({"GET", "a"}), t0_ + 100ms));
  write_all(*p);

  EXPECT_FALSE(p->expire(t0_ + 100ms).has_value());
  EXPECT_EQ(p->next_deadline(), TimePoint::max());
  EXPECT_FALSE(p->expire(t0_ + 1h).has_value());
}

// --- lost connections ---------------------------------------------------------------------------

TEST_F(PipelineTest, FailAllWithAHalfParsedReplyCompletesEachPendingRequestOnce) {
  auto p = make_pipeline();
  p->open();
  p->push(make(1, cmd({"GET", "a"})));
  p->push(make(2, cmd({"GET", "b"})));
  p->push(make(3, cmd({"GET", "c"})));
  write_all(*p);
  p->push(make(4, cmd({"GET", "d"})));  // waiting: never written
  ASSERT_FALSE(feed(*p, "$1\r\na\r\n$10\r\nhal").has_value());
  ASSERT_EQ(times_completed(1), 1);

  const Error lost{Errc::connection, "connection to 10.0.0.1:6379 lost"};
  p->fail_all(lost);

  EXPECT_EQ(completed_.size(), 4u);
  EXPECT_EQ(show(outcome(1).reply.get()), "$a");
  for (int id : {2, 3, 4}) {
    const Outcome& o = outcome(id);
    ASSERT_TRUE(o.error.has_value()) << id;
    EXPECT_EQ(o.error->code, Errc::connection);
    EXPECT_EQ(o.error->message, "GET: " + lost.message);  // every error names its command
    EXPECT_FALSE(o.reply);
  }
  EXPECT_TRUE(outcome(2).sent);
  EXPECT_TRUE(outcome(3).sent);
  EXPECT_FALSE(outcome(4).sent);
  EXPECT_EQ(p->pending(), 0u);
  EXPECT_FALSE(p->is_open());
}

TEST_F(PipelineTest, FailAllMarksEveryOutcomeWithTheDropId) {
  auto p = make_pipeline();
  p->open();
  p->push(make(1, cmd({"GET", "a"})));
  p->push(make(2, cmd({"GET", "b"})));
  write_all(*p);
  p->push(make(3, cmd({"GET", "c"})));  // waiting
  p->fail_all(Error{Errc::connection, "lost"}, 77);
  for (int id : {1, 2, 3}) EXPECT_EQ(outcome(id).drop, 77u) << id;
  // Outcomes that are not a drop carry none.
  p->open();
  p->push(make(4, cmd({"GET", "d"})));
  write_all(*p);
  ASSERT_FALSE(feed(*p, "$1\r\nd\r\n").has_value());
  EXPECT_EQ(outcome(4).drop, 0u);
}

TEST_F(PipelineTest, FailAllCompletesAnUnwrittenHandshakeUnsent) {
  auto p = make_pipeline();
  p->push_handshake(make(0, cmd({"AUTH", "pw"}), TimePoint::max(), 1, "AUTH"));
  p->push(make(1, cmd({"GET", "a"})));

  p->fail_all(Error{Errc::timeout, "connect timed out"});

  EXPECT_EQ(code(0), Errc::timeout);
  EXPECT_FALSE(outcome(0).sent);
  EXPECT_EQ(code(1), Errc::timeout);
  EXPECT_FALSE(outcome(1).sent);
  EXPECT_TRUE(p->prepare_write().empty());
}

TEST_F(PipelineTest, FailAllDoesNotCompleteAbandonedRequestsAgain) {
  auto p = make_pipeline();
  p->open();
  p->push(make(1, cmd({"GET", "a"}), t0_ + 100ms));
  p->push(make(2, cmd({"GET", "b"})));
  write_all(*p);
  ASSERT_FALSE(p->expire(t0_ + 100ms).has_value());

  p->fail_all(Error{Errc::connection, "lost"});

  EXPECT_EQ(code(1), Errc::timeout);
  EXPECT_EQ(code(2), Errc::connection);
  EXPECT_EQ(p->abandoned(), 0u);
}

TEST_F(PipelineTest, PipelineIsReusableAfterFailAllAndForgetsTheHalfReply) {
  auto p = make_pipeline();
  p->open();
  p->push(make(1, cmd({"GET", "a"})));
  write_all(*p);
  ASSERT_FALSE(feed(*p, "*3\r\n$5\r\nhel").has_value());
  p->fail_all(Error{Errc::connection, "lost"});
  ASSERT_EQ(times_completed(1), 1);

  const std::string hello = cmd({"PING"}), b = cmd({"GET", "b"});
  p->push(make(2, b));
  p->push_handshake(make(0, hello, TimePoint::max(), 1, "PING"));
  EXPECT_EQ(write_all(*p), hello);  // closed again until open()
  ASSERT_FALSE(feed(*p, "+PONG\r\n").has_value());
  p->open();
  EXPECT_EQ(write_all(*p), b);
  ASSERT_FALSE(feed(*p, ":42\r\n").has_value());

  EXPECT_EQ(show(outcome(0).reply.get()), "+PONG");
  EXPECT_EQ(show(outcome(2).reply.get()), ":42");
  EXPECT_EQ(p->pending(), 0u);
}

// --- broken streams -----------------------------------------------------------------------------

TEST_F(PipelineTest, ReplyWithNothingPendingIsAProtocolError) {
  auto p = make_pipeline();
  p->open();
  auto e = feed(*p, "+OK\r\n");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, Errc::protocol);
}

TEST_F(PipelineTest, ExtraReplyAfterTheLastRequestIsAProtocolError) {
  auto p = make_pipeline();
  p->open();
  p->push(make(1, cmd({"GET", "a"})));
  write_all(*p);
  auto e = feed(*p, "$1\r\na\r\n+EXTRA\r\n");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, Errc::protocol);
  EXPECT_EQ(show(outcome(1).reply.get()), "$a");
}

TEST_F(PipelineTest, ReplyForARequestNotFullyWrittenIsAProtocolError) {
  auto p = make_pipeline();
  p->open();
  const std::string a = cmd({"GET", "a"});
  p->push(make(1, a));
  ASSERT_EQ(std::string(p->prepare_write()), a);
  p->commit_write(a.size() - 1);

  auto e = feed(*p, "+OK\r\n");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, Errc::protocol);
  EXPECT_TRUE(completed_.empty());
}

TEST_F(PipelineTest, ReplyForAStagedButUncommittedRequestIsAProtocolError) {
  auto p = make_pipeline();
  p->open();
  p->push(make(1, cmd({"GET", "a"})));
  ASSERT_FALSE(p->prepare_write().empty());

  auto e = feed(*p, "+OK\r\n");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, Errc::protocol);
  EXPECT_TRUE(completed_.empty());
}

TEST_F(PipelineTest, GarbageBytesAreAProtocolError) {
  auto p = make_pipeline();
  p->open();
  p->push(make(1, cmd({"GET", "a"})));
  write_all(*p);

  auto e = feed(*p, "!oops\r\n");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, Errc::protocol);
  EXPECT_TRUE(completed_.empty());  // the caller fails it
  p->fail_all(*e);
  EXPECT_EQ(code(1), Errc::protocol);
}

TEST_F(PipelineTest, OversizedElementIsRefusedWithoutBufferingItAll) {
  limits_.reply_budget = 1024;
  auto p = make_pipeline();
  p->open();
  p->push(make(1, cmd({"GET", "huge"})));
  write_all(*p);

  std::optional<Error> e = feed(*p, "$999999999\r\n");
  ASSERT_FALSE(e.has_value());
  const std::string chunk(4096, 'x');
  std::size_t fed = 0;
  while (!e && fed < 1024u * 1024) {  // far less than the announced 999999999 bytes
    e = feed(*p, chunk);
    fed += chunk.size();
  }
  ASSERT_TRUE(e.has_value()) << "still buffering after " << fed << " bytes";
  EXPECT_EQ(e->code, Errc::protocol);
  EXPECT_THAT(e->message, HasSubstr("reply budget of 1024 bytes"));
  EXPECT_LE(fed, 1024u + chunk.size());
  EXPECT_TRUE(completed_.empty());
}

TEST_F(PipelineTest, ElementOfMaxValueSizeFollowedByAFullSocketReadIsAccepted) {
  // The connection reads up to 64 KiB at a time. A legitimate value of exactly max_value_size
  // whose last bytes arrive at the front of a full read must not look like a garbage length.
  limits_.reply_budget = 2048;  // the connection's: max_value_size + framing
  auto p = make_pipeline();
  p->open();
  p->push(make(0, cmd({"GET", "big"})));
  // The full read: the big value's "\r\n", then 2 status and 16381 integer replies (65536 bytes).
  std::string read = "\r\n";
  int id = 1;
  for (int i = 0; i < 2; ++i, ++id) {
    p->push(make(id, cmd({"SET", "k", "v"})));
    read += "+OK\r\n";
  }
  for (int i = 0; i < 16381; ++i, ++id) {
    p->push(make(id, cmd({"INCR", "n"})));
    read += ":1\r\n";
  }
  ASSERT_EQ(read.size(), 64u * 1024);
  write_all(*p);

  const std::string value(1024, 'v');
  ASSERT_FALSE(feed(*p, "$1024\r\n" + value).has_value());
  auto e = feed(*p, read);
  EXPECT_FALSE(e.has_value()) << e->message;
  EXPECT_EQ(completed_.size(), static_cast<std::size_t>(id));
}

TEST_F(PipelineTest, BytesOnAnIdleConnectionBreakTheStreamAtOnce) {
  auto p = make_pipeline();
  p->open();
  // An endless nested array, streamed with nothing asked: refused on its first bytes.
  auto e = feed(*p, "*16777216\r\n*16777216\r\n");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, Errc::protocol);
  EXPECT_THAT(e->message, HasSubstr("with no command pending"));
}

// --- subscriber connections ---------------------------------------------------------------------

TEST_F(PipelineTest, ASubscriberConnectionHandsUnaskedRepliesToItsPushHandler) {
  auto p = make_pipeline();
  std::vector<std::string> pushed;
  p->set_push_handler([&](Outcome&& o) { pushed.push_back(show(o.reply.get())); });
  p->open();
  p->push(make(1, cmd({"SUBSCRIBE", "+switch-master"})));
  write_all(*p);
  // The confirmation answers the SUBSCRIBE; the message after it, and one split across reads,
  // go to the handler.
  ASSERT_FALSE(feed(*p,
                    "*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n"
                    "*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$5\r\nm a 1\r\n*3\r\n$7")
                   .has_value());
  ASSERT_FALSE(feed(*p, "\r\nmessage\r\n$1\r\nc\r\n$1\r\nx\r\n").has_value());
  ASSERT_EQ(completed_.size(), 1u);
  EXPECT_EQ(show(outcome(1).reply.get()), "[$subscribe,$+switch-master,:1]");
  EXPECT_EQ(pushed,
            (std::vector<std::string>{"[$message,$+switch-master,$m a 1]", "[$message,$c,$x]"}));
}

// A message that arrives while a command is in flight (a heartbeat PING) is still a message: it
// goes to the handler, and the command gets its own reply after it. Only on subscriber
// connections: elsewhere a reply shaped like a message is a reply.
TEST_F(PipelineTest, AMessageWhileACommandIsInFlightGoesToTheHandlerNotToTheCommand) {
  auto p = make_pipeline();
  std::vector<std::string> pushed;
  p->set_push_handler([&](Outcome&& o) { pushed.push_back(show(o.reply.get())); });
  p->open();
  p->push(make(1, cmd({"PING"})));
  write_all(*p);
  ASSERT_FALSE(feed(*p,
                    "*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n*1\r\n$1\r\nk\r\n"
                    "*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$1\r\nc\r\n$1\r\nx\r\n"
                    "*2\r\n$4\r\npong\r\n$0\r\n\r\n")
                   .has_value());
  ASSERT_EQ(completed_.size(), 1u);
  EXPECT_EQ(show(outcome(1).reply.get()), "[$pong,$]");
  EXPECT_EQ(pushed, (std::vector<std::string>{"[$message,$c,[$k]]", "[$pmessage,$*,$c,$x]"}));

  auto plain = make_pipeline();
  plain->open();
  plain->push(make(2, cmd({"LRANGE", "l", "0", "-1"})));
  write_all(*plain);
  ASSERT_FALSE(feed(*plain, "*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nx\r\n").has_value());
  EXPECT_EQ(show(outcome(2).reply.get()), "[$message,$c,$x]");
}

TEST_F(PipelineTest, APushedMessageOverTheReplyBudgetStillBreaksTheStream) {
  limits_.reply_budget = 1024;
  auto p = make_pipeline();
  int pushed = 0;
  p->set_push_handler([&](Outcome&&) { ++pushed; });
  p->open();
  auto e = feed(*p, "*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$100000\r\n" + std::string(2000, 'x'));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, Errc::protocol);
  EXPECT_THAT(e->message, HasSubstr("reply budget"));
  EXPECT_EQ(pushed, 0);
}

TEST_F(PipelineTest, BytesAfterTheLastPendingReplyBreakTheStream) {
  auto p = make_pipeline();
  p->open();
  p->push(make(1, cmd({"GET", "k"})));
  write_all(*p);
  auto e = feed(*p, "$1\r\nv\r\n*2\r\n:1");  // a reply, then the start of one nobody asked for
  ASSERT_TRUE(e.has_value());
  EXPECT_THAT(e->message, HasSubstr("with no command pending"));
  ASSERT_EQ(completed_.size(), 1u);  // the real reply was still delivered
  EXPECT_FALSE(completed_[0].outcome.error.has_value());
}

TEST_F(PipelineTest, AnArrayCountOverTheBudgetIsRefusedBeforeAllocating) {
  limits_.reply_budget = 64 * 1024;
  auto p = make_pipeline();
  p->open();
  p->push(make(1, cmd({"MGET", "a", "b"})));
  write_all(*p);
  auto e = feed(*p, "*1000000\r\n");  // 8 MB of element pointers
  ASSERT_TRUE(e.has_value());
  EXPECT_THAT(e->message, HasSubstr("reply budget"));
}

TEST_F(PipelineTest, AnEndlessArrayOfSmallElementsStopsAtTheBudget) {
  limits_.reply_budget = 64 * 1024;
  auto p = make_pipeline();
  p->open();
  p->push(make(1, cmd({"MGET", "a", "b"})));
  write_all(*p);
  // Nested arrays of integers: each element is a few bytes on the wire and an object in memory.
  std::optional<Error> e = feed(*p, "*1000\r\n*1000\r\n*1000\r\n");
  std::string chunk;
  for (int i = 0; i < 256; ++i) chunk += ":1\r\n";
  std::size_t fed = 0;
  while (!e && fed < 16u * 1024 * 1024) {
    e = feed(*p, chunk);
    fed += chunk.size();
  }
  ASSERT_TRUE(e.has_value()) << "still reading after " << fed << " bytes";
  EXPECT_THAT(e->message, HasSubstr("reply budget"));
  // Every element is charged at least 64 bytes: the budget is spent within budget / 64 of them.
  EXPECT_LE(fed, (64u * 1024 / 64) * 4 + chunk.size());
}

TEST_F(PipelineTest, TheBudgetIsPerReplyNotPerConnection) {
  limits_.reply_budget = 64 * 1024;
  auto p = make_pipeline();
  p->open();
  const std::string value(48 * 1024, 'v');
  std::string stream;
  for (int i = 0; i < 20; ++i) {  // 20 replies of 48 KiB: ~1 MB through a 64 KiB budget
    p->push(make(i, cmd({"GET", "k"})));
    stream += "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  }
  write_all(*p);
  for (std::size_t off = 0; off < stream.size(); off += 16 * 1024) {
    auto e = feed(*p, stream.substr(off, 16 * 1024));
    ASSERT_FALSE(e.has_value()) << e->message;
  }
  ASSERT_EQ(completed_.size(), 20u);
  for (const auto& c : completed_) EXPECT_FALSE(c.outcome.error.has_value());
}

// --- completions calling back in ----------------------------------------------------------------

TEST_F(PipelineTest, CompletionMayPushFromConsume) {
  auto p = make_pipeline();
  p->open();
  Request again = make(2, cmd({"GET", "again"}));
  Request first;
  first.wire = std::make_shared<const std::string>(cmd({"GET", "first"}));
  first.name = "GET";
  first.done = [&](Outcome&& o) {
    completed_.push_back(Completed{1, std::move(o)});
    p->push(std::move(again));
  };
  p->push(std::move(first));
  write_all(*p);

  ASSERT_FALSE(feed(*p, "$1\r\n1\r\n").has_value());
  EXPECT_EQ(p->waiting(), 1u);
  EXPECT_EQ(write_all(*p), cmd({"GET", "again"}));
  ASSERT_FALSE(feed(*p, "$1\r\n2\r\n").has_value());

  EXPECT_EQ(show(outcome(1).reply.get()), "$1");
  EXPECT_EQ(show(outcome(2).reply.get()), "$2");
}

TEST_F(PipelineTest, CompletionMayFailAllFromConsume) {
  auto p = make_pipeline();
  p->open();
  Request first;
  first.wire = std::make_shared<const std::string>(cmd({"GET", "a"}));
  first.name = "GET";
  first.done = [&](Outcome&& o) {
    completed_.push_back(Completed{1, std::move(o)});
    p->fail_all(Error{Errc::connection, "closed from a completion"});
  };
  p->push(std::move(first));
  p->push(make(2, cmd({"GET", "b"})));
  p->push(make(3, cmd({"GET", "c"})));
  write_all(*p);

  // The replies of 1 and 2 arrive together, with half of 3's.
  ASSERT_FALSE(feed(*p, "$1\r\na\r\n$1\r\nb\r\n$1\r\n").has_value());

  EXPECT_EQ(completed_.size(), 3u);
  EXPECT_EQ(show(outcome(1).reply.get()), "$a");
  EXPECT_EQ(show(outcome(2).reply.get()), "$b");
  EXPECT_EQ(code(3), Errc::connection);
  EXPECT_EQ(p->pending(), 0u);
  // The half reply went with the reset reader: the stream starts afresh.
  p->push(make(4, cmd({"GET", "d"})));
  p->open();
  write_all(*p);
  ASSERT_FALSE(feed(*p, "$1\r\nd\r\n").has_value());
  EXPECT_EQ(show(outcome(4).reply.get()), "$d");
}

TEST_F(PipelineTest, CompletionMayFailAllFromExpire) {
  auto p = make_pipeline();
  p->open();
  Request first;
  first.wire = std::make_shared<const std::string>(cmd({"GET", "a"}));
  first.name = "GET";
  first.deadline = t0_ + 100ms;
  first.done = [&](Outcome&& o) {
    completed_.push_back(Completed{1, std::move(o)});
    p->fail_all(Error{Errc::connection, "closed from a completion"});
  };
  p->push(std::move(first));
  p->push(make(2, cmd({"GET", "b"}), t0_ + 100ms));
  p->push(make(3, cmd({"GET", "c"}), t0_ + 900ms));
  write_all(*p);
  p->push(make(4, cmd({"GET", "d"}), t0_ + 100ms));  // waiting, expires too

  EXPECT_FALSE(p->expire(t0_ + 100ms).has_value());

  EXPECT_EQ(completed_.size(), 4u);
  EXPECT_EQ(code(1), Errc::timeout);
  EXPECT_EQ(code(2), Errc::timeout);
  EXPECT_EQ(code(3), Errc::connection);
  EXPECT_EQ(code(4), Errc::timeout);
  EXPECT_EQ(p->pending(), 0u);
}

TEST_F(PipelineTest, RequestPushedByAFailAllCompletionSurvivesTheReset) {
  auto p = make_pipeline();
  p->open();
  Request retry = make(2, cmd({"GET", "a"}));
  Request first;
  first.wire = std::make_shared<const std::string>(cmd({"GET", "a"}));
  first.name = "GET";
  first.done = [&](Outcome&& o) {
    completed_.push_back(Completed{1, std::move(o)});
    p->push(std::move(retry));
  };
  p->push(std::move(first));
  write_all(*p);

  p->fail_all(Error{Errc::connection, "lost"});

  EXPECT_EQ(times_completed(1), 1);
  EXPECT_EQ(times_completed(2), 0);
  EXPECT_EQ(p->waiting(), 1u);
  p->open();
  EXPECT_EQ(write_all(*p), cmd({"GET", "a"}));
}

TEST_F(PipelineTest, CompletionMayFailAllFromFailAll) {
  auto p = make_pipeline();
  p->open();
  Request first;
  first.wire = std::make_shared<const std::string>(cmd({"GET", "a"}));
  first.name = "GET";
  first.done = [&](Outcome&& o) {
    completed_.push_back(Completed{1, std::move(o)});
    p->fail_all(Error{Errc::shutdown, "nested"});
  };
  p->push(std::move(first));
  p->push(make(2, cmd({"GET", "b"})));
  write_all(*p);
  p->push(make(3, cmd({"GET", "c"})));

  p->fail_all(Error{Errc::connection, "lost"});

  EXPECT_EQ(completed_.size(), 3u);
  for (int id : {1, 2, 3}) EXPECT_EQ(code(id), Errc::connection) << id;
}

// --- exactly once -------------------------------------------------------------------------------

TEST_F(PipelineTest, EveryCompletionRunsExactlyOnceWhateverEndsIt) {
  limits_.hung_after = 10s;  // keep the hung check out of it
  auto p = make_pipeline();
  p->push_handshake(make(0, cmd({"PING"}), t0_ + 1s, 1, "PING"));
  for (int id = 1; id <= 10; ++id) p->push(make(id, cmd({"GET", "k"}), t0_ + 100ms * id));
  write_all(*p);
  ASSERT_FALSE(feed(*p, "+PONG\r\n").has_value());
  p->open();
  write_all(*p);  // 1..10 in flight
  for (int id = 11; id <= 15; ++id) p->push(make(id, cmd({"GET", "k"}), t0_ + 150ms));  // waiting

  ASSERT_FALSE(feed(*p, ":1\r\n:2\r\n").has_value());        // 1, 2 answered
  ASSERT_FALSE(p->expire(t0_ + 400ms).has_value());          // 3, 4 abandoned; 11..15 expired
  ASSERT_FALSE(feed(*p, ":3\r\n:4\r\n:5\r\n").has_value());  // 3, 4 absorbed; 5 answered
  ASSERT_FALSE(p->expire(t0_ + 600ms).has_value());          // 6 abandoned
  p->fail_all(Error{Errc::connection, "lost"});              // 7..10 lost
  ASSERT_FALSE(p->expire(t0_ + 10s).has_value());            // nothing left
  p->fail_all(Error{Errc::connection, "lost again"});

  for (int id = 0; id <= 15; ++id) EXPECT_EQ(times_completed(id), 1) << "request " << id;
  EXPECT_EQ(completed_.size(), 16u);
  EXPECT_EQ(show(outcome(5).reply.get()), ":5");
  EXPECT_EQ(code(3), Errc::timeout);
  EXPECT_EQ(code(6), Errc::timeout);
  EXPECT_EQ(code(9), Errc::connection);
  EXPECT_EQ(code(12), Errc::timeout);
  EXPECT_FALSE(outcome(12).sent);
}

}  // namespace
}  // namespace rcache::detail
