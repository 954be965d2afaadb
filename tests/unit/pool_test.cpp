// Pool with fake connections: which link takes a batch, fail fast, status, pool-level log lines.
#include "transport/pool.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "base/log.hpp"

namespace rcache::detail {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using S = LinkState;

// A connection driven by the test: it changes state only when told, and tells the pool as a
// Connection would.
class FakeLink final : public Link {
 public:
  FakeLink(std::size_t index, LinkObserver& observer) : index_(index), observer_(observer) {}

  void start() override { ++starts; }
  LinkState state() const noexcept override { return state_; }
  std::size_t index() const noexcept override { return index_; }
  std::size_t pending() const noexcept override { return load + queued.size(); }
  const Error& last_error() const noexcept override { return last_error_; }
  void enqueue(Request&& request) override { queued.push_back(std::move(request)); }
  void flush() override { ++flushes; }
  void reconnect_now() override { ++reconnect_nows; }
  void redial(const Error& why) override {
    redialled.push_back(why);
    if (state_ != S::down) fail(why);
  }
  void set_push_handler(Completion on_push) override { push = std::move(on_push); }
  const Target* target_seen() const { return observer_.target(); }
  void stop(const Error& why) override {
    for (auto& r : queued) complete(r, why);
    queued.clear();
    become(S::stopped);
  }

  // Moves to `to` and reports it to the pool.
  void become(LinkState to) {
    const LinkState from = state_;
    state_ = to;
    if (from != to) observer_.on_link_state(*this, from, to);
  }
  // A failure as Connection::drop() reports it: the error first, then closing, then down.
  void fail(Error why) {
    last_error_ = std::move(why);
    become(S::closing);
    become(S::down);
  }
  // The first half of fail(): the socket is closing and the link is not down yet (a Connection
  // stays so until libuv's close callback, later in the same loop turn).
  void start_closing(Error why) {
    last_error_ = std::move(why);
    become(S::closing);
  }
  void come_up() {
    become(S::connecting);
    become(S::handshaking);
    become(S::ready);
  }

  std::size_t load = 0;  // pending requests besides those queued here by the test
  std::vector<Request> queued;
  int starts = 0;
  int flushes = 0;
  int reconnect_nows = 0;
  std::vector<Error> redialled;
  Completion push;

 private:
  const std::size_t index_;
  LinkObserver& observer_;
  LinkState state_ = S::down;
  Error last_error_;
};

class PoolTest : public ::testing::Test {
 protected:
  PoolTest()
      : logger_(
            [this](LogLevel level, std::string_view line) {
              std::lock_guard lock(log_mu_);
              log_.emplace_back(level, std::string(line));
            },
            LogLevel::debug) {
    cfg_.pool_size = 3;
    cfg_.reconnect_backoff_min = 50ms;
    cfg_.reconnect_backoff_max = 2000ms;
    cfg_.probe_min = 1000ms;
    cfg_.probe_max = 30000ms;
  }

  Pool& make() {
    pool_ = std::make_unique<Pool>(
        cfg_, logger_, "10.0.0.1:6379", [this] { ++available_; }, clock_);
    pool_->start([this](std::size_t index, LinkObserver& observer) -> std::unique_ptr<Link> {
      auto link = std::make_unique<FakeLink>(index, observer);
      links_.push_back(link.get());
      return link;
    });
    return *pool_;
  }

  Request request(int id, const char* name = "GET") {
    Request r;
    r.wire = std::make_shared<const std::string>("*1\r\n$4\r\nPING\r\n");
    r.name = name;
    r.done = [this, id](Outcome&& o) { outcomes_.emplace_back(id, std::move(o)); };
    return r;
  }

  std::vector<Request> batch(int n) {
    std::vector<Request> b;
    for (int i = 0; i < n; ++i) b.push_back(request(i));
    return b;
  }

  std::vector<std::string> lines_containing(std::string_view what) {
    std::lock_guard lock(log_mu_);
    std::vector<std::string> out;
    for (const auto& [level, line] : log_) {
      if (line.find(what) != std::string::npos) out.push_back(line);
    }
    return out;
  }

  Config cfg_;
  ManualClock clock_;
  LogLevel level_of(std::string_view what) {
    std::lock_guard lock(log_mu_);
    for (const auto& [level, line] : log_) {
      if (line.find(what) != std::string::npos) return level;
    }
    return LogLevel::off;
  }
  std::mutex log_mu_;
  std::vector<std::pair<LogLevel, std::string>> log_;
  Logger logger_;
  std::unique_ptr<Pool> pool_;
  std::vector<FakeLink*> links_;
  std::vector<std::pair<int, Outcome>> outcomes_;
  int available_ = 0;
};

// --- where a batch goes -------------------------------------------------------------------------

TEST_F(PoolTest, StartMakesPoolSizeLinksAndStartsEachOnce) {
  make();
  ASSERT_EQ(links_.size(), 3u);
  for (std::size_t i = 0; i < links_.size(); ++i) {
    EXPECT_EQ(links_[i]->index(), i);
    EXPECT_EQ(links_[i]->starts, 1);
  }
}

TEST_F(PoolTest, LeastLoadedReadyLinkTakesTheWholeBatchAndIsFlushedOnce) {
  auto& pool = make();
  for (auto* l : links_) l->come_up();
  links_[0]->load = 5;
  links_[1]->load = 2;
  links_[2]->load = 7;

  auto b = batch(4);
  pool.dispatch(b);

  EXPECT_TRUE(b.empty());
  EXPECT_EQ(links_[1]->queued.size(), 4u);
  EXPECT_EQ(links_[1]->flushes, 1);
  EXPECT_TRUE(links_[0]->queued.empty());
  EXPECT_TRUE(links_[2]->queued.empty());
  EXPECT_EQ(links_[0]->flushes, 0);
  EXPECT_EQ(links_[2]->flushes, 0);
  EXPECT_TRUE(outcomes_.empty());
}

TEST_F(PoolTest, LeastLoadedPickSkipsALessLoadedLinkThatIsNotReady) {
  auto& pool = make();
  links_[0]->come_up();
  links_[0]->load = 9;
  links_[1]->become(S::connecting);  // empty, but not ready
  links_[2]->come_up();
  links_[2]->load = 4;

  auto b = batch(2);
  pool.dispatch(b);

  EXPECT_EQ(links_[2]->queued.size(), 2u);
  EXPECT_TRUE(links_[1]->queued.empty());
}

TEST_F(PoolTest, EqualLoadsSpreadSuccessiveBatchesOverTheReadyLinks) {
  auto& pool = make();
  for (auto* l : links_) l->come_up();
  for (int round = 0; round < 3; ++round) {
    auto b = batch(1);
    pool.dispatch(b);
    for (auto* l : links_) l->queued.clear();  // each batch answered before the next
  }
  for (auto* l : links_) EXPECT_EQ(l->flushes, 1) << "link " << l->index();
}

TEST_F(PoolTest, WithNoneReadyALinkComingUpTakesTheBatch) {
  auto& pool = make();
  links_[1]->become(S::connecting);

  auto b = batch(3);
  pool.dispatch(b);

  EXPECT_EQ(links_[1]->queued.size(), 3u);
  EXPECT_EQ(links_[1]->flushes, 1);
  EXPECT_TRUE(outcomes_.empty());
}

TEST_F(PoolTest, WithNoneReadyAHandshakingLinkTakesTheBatch) {
  auto& pool = make();
  links_[2]->become(S::connecting);
  links_[2]->become(S::handshaking);

  auto b = batch(2);
  pool.dispatch(b);

  EXPECT_EQ(links_[2]->queued.size(), 2u);
}

TEST_F(PoolTest, EmptyBatchTouchesNoLink) {
  auto& pool = make();
  for (auto* l : links_) l->come_up();
  std::vector<Request> b;
  pool.dispatch(b);
  for (auto* l : links_) EXPECT_EQ(l->flushes, 0);
}

// --- fail fast ----------------------------------------------------------------------------------

TEST_F(PoolTest, NothingConnectedFailsEveryRequestAtOnceWithTheLastConnectionError) {
  auto& pool = make();
  for (auto* l : links_) {
    l->become(S::connecting);
    l->fail(Error{Errc::connection, "connect to 10.0.0.1:6379: connection refused"});
  }

  auto b = batch(3);
  pool.dispatch(b);

  EXPECT_TRUE(b.empty());
  ASSERT_EQ(outcomes_.size(), 3u);
  for (const auto& [id, o] : outcomes_) {
    ASSERT_TRUE(o.error.has_value()) << id;
    EXPECT_EQ(o.error->code, Errc::connection);
    EXPECT_THAT(o.error->message, HasSubstr("GET"));
    EXPECT_THAT(o.error->message, HasSubstr("connection refused"));
    EXPECT_FALSE(o.sent);
  }
  for (auto* l : links_) {
    EXPECT_TRUE(l->queued.empty());
    EXPECT_EQ(l->flushes, 0);
  }
}

TEST_F(PoolTest, NothingEverConnectedStillFailsFast) {
  auto& pool = make();  // every link down, none has an error yet

  auto b = batch(2);
  pool.dispatch(b);

  ASSERT_EQ(outcomes_.size(), 2u);
  for (const auto& [id, o] : outcomes_) EXPECT_EQ(o.error->code, Errc::connection) << id;
}

TEST_F(PoolTest, AnAuthRefusalAsLastErrorFailsWithAuth) {
  auto& pool = make();
  for (auto* l : links_) {
    l->become(S::connecting);
    l->become(S::handshaking);
    l->fail(Error{Errc::auth, "AUTH: WRONGPASS invalid username-password pair"});
  }

  auto b = batch(2);
  pool.dispatch(b);

  ASSERT_EQ(outcomes_.size(), 2u);
  for (const auto& [id, o] : outcomes_) {
    ASSERT_TRUE(o.error.has_value()) << id;
    EXPECT_EQ(o.error->code, Errc::auth);
    EXPECT_THAT(o.error->message, HasSubstr("WRONGPASS"));
  }
}

TEST_F(PoolTest, FailFastNamesTheMostRecentConnectionError) {
  auto& pool = make();
  links_[0]->become(S::connecting);
  links_[0]->fail(Error{Errc::auth, "AUTH: WRONGPASS invalid username-password pair"});
  links_[1]->become(S::connecting);
  links_[1]->fail(Error{Errc::connection, "connect to 10.0.0.1:6379: connection refused"});
  links_[2]->become(S::connecting);
  links_[2]->fail(Error{Errc::connection, "connect to 10.0.0.1:6379: connection refused"});
  ASSERT_THAT(pool.last_error().message, HasSubstr("connection refused"));

  auto b = batch(1);
  pool.dispatch(b);

  ASSERT_EQ(outcomes_.size(), 1u);
  ASSERT_TRUE(outcomes_[0].second.error.has_value());
  EXPECT_EQ(outcomes_[0].second.error->code, Errc::connection);
  EXPECT_THAT(outcomes_[0].second.error->message, HasSubstr("connection refused"));
}

// --- riding through a reconnect -----------------------------------------------------------------

// Before: for the 20-50 ms of a reconnect every call failed at once ("not connected").
TEST_F(PoolTest, RightAfterADropRequestsWaitInALinkThatWillReconnect) {
  auto& pool = make();
  for (auto* l : links_) l->come_up();
  for (auto* l : links_) l->fail(Error{Errc::connection, "server closed the connection"});

  auto b = batch(3);
  pool.dispatch(b);

  EXPECT_TRUE(outcomes_.empty()) << "nothing failed";
  std::size_t queued = 0;
  for (auto* l : links_) queued += l->queued.size();
  EXPECT_EQ(queued, 3u);
  EXPECT_EQ(links_[0]->queued.size(), 3u);  // one link holds the batch, flushed when it is up
  EXPECT_EQ(links_[0]->flushes, 1);
}

// A CLIENT KILL of the whole pool: every link has seen its socket fail and is closing, none is
// down yet, and the callers woken by those failures already send new calls in the same loop
// turn. Those calls ride through like the ones that come a moment later.
TEST_F(PoolTest, RightAfterADropRequestsAlsoWaitInALinkThatIsStillClosing) {
  auto& pool = make();
  for (auto* l : links_) l->come_up();
  for (auto* l : links_) l->start_closing(Error{Errc::connection, "connection reset by peer"});

  auto b = batch(2);
  pool.dispatch(b);

  EXPECT_TRUE(outcomes_.empty()) << "nothing failed";
  std::size_t queued = 0;
  for (auto* l : links_) queued += l->queued.size();
  EXPECT_EQ(queued, 2u);
}

// Losing the whole pool at once is one signal for the breaker and the retry budget, whatever
// pool_size is: the links that were serving share a drop id until one is ready again.
TEST_F(PoolTest, ReadyLinksLostTogetherShareADropIdUntilOneIsReadyAgain) {
  auto& pool = make();
  for (auto* l : links_) l->come_up();
  const std::uint64_t first = pool.drop_id(*links_[0], S::ready);
  links_[0]->fail(Error{Errc::connection, "lost"});
  EXPECT_NE(first, 0u);
  EXPECT_EQ(pool.drop_id(*links_[1], S::ready), first);
  links_[1]->fail(Error{Errc::connection, "lost"});
  // A reconnect attempt that fails in between is an event of its own and ends nothing.
  links_[0]->become(S::connecting);
  const std::uint64_t attempt = pool.drop_id(*links_[0], S::connecting);
  EXPECT_NE(attempt, first);
  EXPECT_NE(pool.drop_id(*links_[0], S::handshaking), attempt);
  links_[0]->fail(Error{Errc::connection, "connect: connection refused"});
  EXPECT_EQ(pool.drop_id(*links_[2], S::ready), first);
  links_[2]->fail(Error{Errc::connection, "lost"});

  links_[0]->come_up();  // the pool serves again: the next loss is a new event
  const std::uint64_t second = pool.drop_id(*links_[0], S::ready);
  EXPECT_NE(second, first);
  EXPECT_NE(second, attempt);
  EXPECT_EQ(pool.drop_id(*links_[0], S::ready), second);
}

// A link that keeps failing to come back must not make every later drop of the others part of
// its loss: drops further apart than the window are events of their own.
TEST_F(PoolTest, DropsFurtherApartThanTheWindowAreSeparateEvents) {
  auto& pool = make();
  for (auto* l : links_) l->come_up();
  const std::uint64_t first = pool.drop_id(*links_[0], S::ready);
  links_[0]->fail(Error{Errc::connection, "lost"});
  clock_.advance(Pool::kLossWindow);
  EXPECT_EQ(pool.drop_id(*links_[1], S::ready), first);  // within the window: the same loss
  links_[1]->fail(Error{Errc::connection, "lost"});
  clock_.advance(Pool::kLossWindow + std::chrono::milliseconds(1));
  const std::uint64_t later = pool.drop_id(*links_[2], S::ready);
  EXPECT_NE(later, first);
  EXPECT_EQ(pool.drop_id(*links_[2], S::ready), later);
}

TEST_F(PoolTest, AFailedReconnectAttemptEndsTheWaitAndCallsFailFastAgain) {
  auto& pool = make();
  for (auto* l : links_) l->come_up();
  for (auto* l : links_) l->fail(Error{Errc::connection, "server closed the connection"});
  links_[1]->become(S::connecting);
  links_[1]->fail(Error{Errc::connection, "connect to 10.0.0.1:6379: connection refused"});

  auto b = batch(2);
  pool.dispatch(b);

  ASSERT_EQ(outcomes_.size(), 2u);
  for (const auto& [id, o] : outcomes_) {
    EXPECT_EQ(o.error->code, Errc::connection) << id;
    EXPECT_THAT(o.error->message, HasSubstr("connection refused"));
  }
  // And it waits again after the next drop of a ready link.
  links_[2]->come_up();
  links_[2]->fail(Error{Errc::connection, "server closed the connection"});
  outcomes_.clear();
  auto again = batch(1);
  pool.dispatch(again);
  EXPECT_TRUE(outcomes_.empty());
}

TEST_F(PoolTest, AFailedAttemptOfOneLinkWhileAnotherIsReadyKeepsTheWait) {
  auto& pool = make();
  for (auto* l : links_) l->come_up();
  links_[0]->fail(Error{Errc::connection, "lost"});
  links_[0]->become(S::connecting);
  links_[0]->fail(Error{Errc::timeout, "connect timed out"});  // while links 1 and 2 are ready
  links_[1]->fail(Error{Errc::connection, "lost"});
  links_[2]->fail(Error{Errc::connection, "lost"});
  auto b = batch(1);
  pool.dispatch(b);
  EXPECT_TRUE(outcomes_.empty());
}

TEST_F(PoolTest, AConnectionLostMidHandshakeKeepsTheWaitARefusedOneEndsIt) {
  auto& pool = make();
  for (auto* l : links_) l->come_up();
  for (auto* l : links_) l->fail(Error{Errc::connection, "lost"});
  links_[0]->become(S::connecting);
  links_[0]->become(S::handshaking);
  links_[0]->fail(Error{Errc::connection, "lost during the handshake"});  // server is up
  auto b = batch(1);
  pool.dispatch(b);
  EXPECT_TRUE(outcomes_.empty());
  links_[1]->become(S::connecting);
  links_[1]->become(S::handshaking);
  links_[1]->fail(Error{Errc::auth, "WRONGPASS"});  // refused: no point waiting
  auto c = batch(1);
  pool.dispatch(c);
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].second.error->code, Errc::auth);
}

TEST_F(PoolTest, WaitingForAConnectionIsBoundedAndTheRestIsRejected) {
  cfg_.max_waiting_for_connection = 2;
  auto& pool = make();
  for (auto* l : links_) l->come_up();
  for (auto* l : links_) l->fail(Error{Errc::connection, "lost"});

  auto b = batch(5);
  pool.dispatch(b);
  auto more = batch(1);
  pool.dispatch(more);

  ASSERT_EQ(outcomes_.size(), 4u);
  for (const auto& [id, o] : outcomes_) {
    EXPECT_EQ(o.error->code, Errc::rejected) << id;
    EXPECT_THAT(o.error->message, HasSubstr("GET: 2 calls already waiting for a connection"));
    EXPECT_THAT(o.error->message, HasSubstr("max_waiting_for_connection"));
    EXPECT_FALSE(o.sent);
  }
  EXPECT_EQ(links_[0]->queued.size(), 2u);
}

TEST_F(PoolTest, TheBoundAppliesToALinkComingUpToo) {
  cfg_.max_waiting_for_connection = 1;
  auto& pool = make();
  links_[0]->become(S::connecting);
  auto b = batch(3);
  pool.dispatch(b);
  EXPECT_EQ(links_[0]->queued.size(), 1u);
  EXPECT_EQ(outcomes_.size(), 2u);
}

TEST_F(PoolTest, ZeroWaitingFailsAtOnceEvenWithALinkComingUp) {
  cfg_.max_waiting_for_connection = 0;
  auto& pool = make();
  for (auto* l : links_) l->come_up();
  for (auto* l : links_) l->fail(Error{Errc::connection, "lost"});
  links_[0]->become(S::connecting);
  auto b = batch(2);
  pool.dispatch(b);
  ASSERT_EQ(outcomes_.size(), 2u);
  EXPECT_EQ(outcomes_[0].second.error->code, Errc::connection);
}

TEST_F(PoolTest, WhileProbingADownServerNothingWaits) {
  auto& pool = make();
  for (auto* l : links_) l->come_up();
  for (auto* l : links_) l->fail(Error{Errc::connection, "lost"});
  pool.set_probing(true);
  auto b = batch(1);
  pool.dispatch(b);
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].second.error->code, Errc::connection);
}

// --- status -------------------------------------------------------------------------------------

TEST_F(PoolTest, StatusCountsFollowLinkStateChanges) {
  auto& pool = make();
  auto st = pool.status();
  EXPECT_EQ(st.ready, 0u);
  EXPECT_EQ(st.connecting, 0u);
  EXPECT_EQ(st.down, 3u);
  EXPECT_EQ(st.last_error, "");

  links_[0]->become(S::connecting);
  links_[1]->become(S::connecting);
  links_[1]->become(S::handshaking);
  st = pool.status();
  EXPECT_EQ(st.ready, 0u);
  EXPECT_EQ(st.connecting, 2u);
  EXPECT_EQ(st.down, 1u);

  links_[0]->become(S::handshaking);
  links_[0]->become(S::ready);
  links_[1]->become(S::ready);
  st = pool.status();
  EXPECT_EQ(st.ready, 2u);
  EXPECT_EQ(st.connecting, 0u);
  EXPECT_EQ(st.down, 1u);
  EXPECT_EQ(pool.ready(), 2u);

  links_[0]->fail(Error{Errc::connection, "connection to 10.0.0.1:6379 lost"});
  st = pool.status();
  EXPECT_EQ(st.ready, 1u);
  EXPECT_EQ(st.connecting, 0u);
  EXPECT_EQ(st.down, 2u);
  EXPECT_EQ(st.reconnects, 1u);
  EXPECT_THAT(st.last_error, HasSubstr("lost"));
}

TEST_F(PoolTest, ReconnectsCountOnlyReadyLinksThatClose) {
  auto& pool = make();
  links_[0]->become(S::connecting);
  links_[0]->fail(Error{Errc::connection, "refused"});  // connecting -> closing: not a reconnect
  EXPECT_EQ(pool.status().reconnects, 0u);

  links_[1]->come_up();
  links_[1]->fail(Error{Errc::connection, "lost"});
  links_[1]->come_up();
  links_[1]->fail(Error{Errc::connection, "lost"});
  EXPECT_EQ(pool.status().reconnects, 2u);
}

TEST_F(PoolTest, StoppedLinksLeaveEveryCount) {
  auto& pool = make();
  links_[0]->come_up();
  links_[1]->become(S::connecting);
  pool.stop(Error{Errc::shutdown, "client destroyed"});

  const auto st = pool.status();
  EXPECT_EQ(st.ready, 0u);
  EXPECT_EQ(st.connecting, 0u);
  EXPECT_EQ(st.down, 0u);
  for (auto* l : links_) EXPECT_EQ(l->state(), S::stopped);
}

TEST_F(PoolTest, StatusLastErrorIsTheMostRecentOne) {
  auto& pool = make();
  links_[0]->become(S::connecting);
  links_[0]->fail(Error{Errc::timeout, "connect to 10.0.0.1:6379 timed out after 1000 ms"});
  links_[1]->become(S::connecting);
  links_[1]->fail(Error{Errc::connection, "connect to 10.0.0.1:6379: connection refused"});

  EXPECT_EQ(pool.status().last_error, "connection: connect to 10.0.0.1:6379: connection refused");
  EXPECT_EQ(pool.last_error().code, Errc::connection);
}

// --- availability -------------------------------------------------------------------------------

TEST_F(PoolTest, OnAvailableRunsWhenTheFirstLinkBecomesReadyNotTheSecond) {
  make();
  links_[0]->come_up();
  EXPECT_EQ(available_, 1);
  links_[1]->come_up();
  EXPECT_EQ(available_, 1);
}

TEST_F(PoolTest, OnAvailableRunsAgainAfterThePoolWentDown) {
  make();
  links_[0]->come_up();
  links_[1]->come_up();
  links_[0]->fail(Error{Errc::connection, "lost"});
  links_[1]->fail(Error{Errc::connection, "lost"});
  links_[1]->come_up();
  EXPECT_EQ(available_, 2);
}

TEST_F(PoolTest, FirstReadyLinkMakesTheOthersReconnectNow) {
  make();
  for (auto* l : links_) {
    l->become(S::connecting);
    l->fail(Error{Errc::connection, "refused"});
  }
  links_[2]->come_up();

  EXPECT_EQ(links_[0]->reconnect_nows, 1);
  EXPECT_EQ(links_[1]->reconnect_nows, 1);

  links_[0]->come_up();  // second ready: nobody is hurried again
  EXPECT_EQ(links_[0]->reconnect_nows, 1);
  EXPECT_EQ(links_[1]->reconnect_nows, 1);
}

// --- log lines ----------------------------------------------------------------------------------

TEST_F(PoolTest, OneUnreachableLineWhenTheLastReadyLinkGoesDown) {
  make();
  for (auto* l : links_) l->come_up();
  links_[0]->fail(Error{Errc::connection, "connection to 10.0.0.1:6379 lost"});
  links_[1]->fail(Error{Errc::connection, "connection to 10.0.0.1:6379 lost"});
  EXPECT_TRUE(lines_containing("unreachable").empty());

  links_[2]->fail(Error{Errc::connection, "connection to 10.0.0.1:6379 lost"});
  // Reconnect attempts that fail again add nothing.
  for (auto* l : links_) {
    l->become(S::connecting);
    l->fail(Error{Errc::connection, "connect to 10.0.0.1:6379: connection refused"});
  }

  const auto lines = lines_containing("unreachable");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("10.0.0.1:6379"));
  EXPECT_THAT(lines[0], HasSubstr("lost"));
}

TEST_F(PoolTest, OneReachableAgainLineWhenALinkComesBack) {
  make();
  links_[0]->come_up();
  links_[0]->fail(Error{Errc::connection, "lost"});
  ASSERT_EQ(lines_containing("unreachable").size(), 1u);

  for (auto* l : links_) l->come_up();

  EXPECT_EQ(lines_containing("reachable again").size(), 1u);
  EXPECT_EQ(lines_containing("unreachable").size(), 1u);
  // The end of an outage is logged at the level of its start.
  EXPECT_EQ(level_of("reachable again"), level_of("unreachable"));
  EXPECT_EQ(level_of("reachable again"), LogLevel::warning);
}

TEST_F(PoolTest, AProtocolErrorDropIsLoggedAsAnErrorNamingIt) {
  make();
  for (auto* l : links_) l->come_up();
  links_[1]->fail(Error{Errc::protocol, "10.0.0.1:6379: 9 bytes received with no command pending"});
  const auto lines = lines_containing("no command pending");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("connection 1 dropped"));
  EXPECT_EQ(level_of("no command pending"), LogLevel::error);
  links_[2]->fail(Error{Errc::connection, "lost"});
  EXPECT_TRUE(lines_containing("connection 2 dropped").empty());  // a plain drop is not an error
}

TEST_F(PoolTest, FirstConnectionIsNotReportedAsReachableAgain) {
  make();
  for (auto* l : links_) l->come_up();
  EXPECT_TRUE(lines_containing("reachable").empty());
}

TEST_F(PoolTest, StoppingTheLastReadyLinkIsNotReportedUnreachable) {
  auto& pool = make();
  links_[0]->come_up();
  pool.stop(Error{Errc::shutdown, "client destroyed"});
  EXPECT_TRUE(lines_containing("unreachable").empty());
}

// --- reconnect schedule -------------------------------------------------------------------------

TEST_F(PoolTest, ReconnectShapeFollowsProbing) {
  auto& pool = make();
  auto shape = pool.reconnect_shape();
  EXPECT_EQ(shape.base, std::chrono::microseconds(50ms));
  EXPECT_EQ(shape.cap, std::chrono::microseconds(2000ms));

  pool.set_probing(true);
  shape = pool.reconnect_shape();
  EXPECT_EQ(shape.base, std::chrono::microseconds(1000ms));
  EXPECT_EQ(shape.cap, std::chrono::microseconds(30000ms));

  pool.set_probing(false);
  shape = pool.reconnect_shape();
  EXPECT_EQ(shape.base, std::chrono::microseconds(50ms));
  EXPECT_EQ(shape.cap, std::chrono::microseconds(2000ms));
}

// --- first outcome ------------------------------------------------------------------------------

TEST_F(PoolTest, WaitFirstOutcomeIsTrueOnceALinkIsReady) {
  auto& pool = make();
  links_[1]->come_up();
  EXPECT_TRUE(pool.wait_first_outcome(0ms));
}

TEST_F(PoolTest, WaitFirstOutcomeIsFalseWhenNoLinkHasAnOutcomeYet) {
  auto& pool = make();
  links_[0]->become(S::connecting);
  EXPECT_FALSE(pool.wait_first_outcome(0ms));
}

TEST_F(PoolTest, WaitFirstOutcomeReturnsFalseWithoutWaitingOnceEveryLinkFailed) {
  auto& pool = make();
  for (auto* l : links_) {
    l->become(S::connecting);
    l->fail(Error{Errc::connection, "refused"});
  }
  // A limit this long would hang the test if the pool kept waiting.
  EXPECT_FALSE(pool.wait_first_outcome(std::chrono::hours(1)));
}

TEST_F(PoolTest, WaitFirstOutcomeIsTrueWhenOneLinkIsReadyAndTheOthersFailed) {
  auto& pool = make();
  links_[0]->become(S::connecting);
  links_[0]->fail(Error{Errc::connection, "refused"});
  links_[1]->become(S::connecting);
  links_[1]->fail(Error{Errc::connection, "refused"});
  links_[2]->come_up();
  EXPECT_TRUE(pool.wait_first_outcome(std::chrono::hours(1)));
}

TEST_F(PoolTest, WaitFirstOutcomeWakesAWaiterWhenALinkBecomesReady) {
  auto& pool = make();
  links_[0]->become(S::connecting);
  links_[0]->fail(Error{Errc::connection, "refused"});
  links_[0]->become(S::connecting);
  links_[0]->fail(Error{Errc::connection, "refused"});  // one link failing twice is one outcome
  bool result = false;
  std::thread waiter([&] { result = pool.wait_first_outcome(std::chrono::hours(1)); });
  links_[1]->come_up();
  waiter.join();
  EXPECT_TRUE(result);
}

// --- topology: a target set from outside (Sentinel) ----------------------------------------------

TEST_F(PoolTest, WithSentinelTheLinksStartAtTheFirstTargetAndDialIt) {
  cfg_.sentinels = {"127.0.0.1:26379"};
  cfg_.sentinel_master = "mymaster";
  Pool& pool = make();
  EXPECT_TRUE(links_.empty());  // nothing to dial yet
  EXPECT_EQ(pool.target(), nullptr);
  pool.set_target(Target{"10.0.0.7", 6380}, "sentinel 127.0.0.1:26379");
  ASSERT_EQ(links_.size(), 3u);
  for (auto* l : links_) {
    EXPECT_EQ(l->starts, 1);
    ASSERT_NE(l->target_seen(), nullptr);
    EXPECT_EQ(*l->target_seen(), (Target{"10.0.0.7", 6380}));
  }
  const PoolStatus s = pool.status();
  EXPECT_EQ(s.endpoint, "10.0.0.7:6380");
  EXPECT_EQ(s.via, "sentinel 127.0.0.1:26379");
}

TEST_F(PoolTest, AMovedTargetRedialsEveryLinkOnceAndTheSameTargetNone) {
  cfg_.sentinels = {"127.0.0.1:26379"};
  cfg_.sentinel_master = "mymaster";
  Pool& pool = make();
  pool.set_target(Target{"10.0.0.7", 6380}, "sentinel a");
  for (auto* l : links_) l->come_up();
  pool.set_target(Target{"10.0.0.7", 6380}, "sentinel b");  // the same master: nothing to do
  for (auto* l : links_) EXPECT_TRUE(l->redialled.empty());
  pool.set_target(Target{"::1", 7000}, "sentinel b +switch-master");
  for (auto* l : links_) {
    ASSERT_EQ(l->redialled.size(), 1u);
    EXPECT_EQ(l->redialled[0].code, Errc::connection);
    EXPECT_THAT(l->redialled[0].message, HasSubstr("moved to [::1]:7000"));
  }
  EXPECT_EQ(pool.status().endpoint, "[::1]:7000");
  EXPECT_EQ(lines_containing("master moved from 10.0.0.7:6380 to [::1]:7000").size(), 1u);
}

TEST_F(PoolTest, FailedDiscoveryEndsTheStartUpWaitWithItsError) {
  cfg_.sentinels = {"127.0.0.1:26379"};
  cfg_.sentinel_master = "mymaster";
  Pool& pool = make();
  std::thread t([&] {
    pool.fail_discovery(Error{Errc::invalid_argument, "sentinel x monitors no master named 'm'"});
  });
  EXPECT_FALSE(pool.wait_first_outcome(10s));  // returns at once, not after 10 s
  t.join();
  auto b = batch(1);
  pool.dispatch(b);
  ASSERT_EQ(outcomes_.size(), 1u);
  ASSERT_TRUE(outcomes_[0].second.error.has_value());
  EXPECT_EQ(outcomes_[0].second.error->code, Errc::invalid_argument);
  EXPECT_THAT(outcomes_[0].second.error->message, HasSubstr("monitors no master named 'm'"));
}

TEST_F(PoolTest, FailedLinksAreReportedToTheWatcher) {
  Pool& pool = make();
  std::vector<std::string> seen;
  pool.set_failure_watcher([&](const Error& e) { seen.push_back(e.message); });
  links_[0]->fail(Error{Errc::connection, "refused"});
  links_[1]->come_up();
  links_[1]->fail(Error{Errc::connection, "reset"});
  EXPECT_EQ(seen, (std::vector<std::string>{"refused", "reset"}));
}

}  // namespace
}  // namespace rcache::detail
