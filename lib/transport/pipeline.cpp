// The pure logic of one pipelined connection: request states, reply matching, deadlines.
#include "transport/pipeline.hpp"

#include <algorithm>

#include "protocol/replies.hpp"

namespace rcache::detail {

Pipeline::Pipeline(Limits limits, std::string endpoint)
    : limits_(limits), endpoint_(std::move(endpoint)) {
  budget_.limit = limits_.reply_budget;
  reader_ = create_reader(&budget_);
}

Pipeline::~Pipeline() {
  if (reader_ != nullptr) redisReaderFree(reader_);
}

void Pipeline::run(std::vector<Done>& done) noexcept {
  for (auto& d : done) complete(d.done, std::move(d.outcome));
  done.clear();
}

void Pipeline::push(Request&& r) {
  waiting_.push_back(std::move(r));
}

void Pipeline::push_handshake(Request&& r) {
  handshake_ = std::move(r);
}

void Pipeline::stage(Request&& r) {
  buffer_.append(*r.wire);
  staged_total_ += r.wire->size();
  r.wire.reset();  // the bytes are in the buffer; a retry holds its own reference
  in_flight_.push_back(Entry{std::move(r), {}, staged_total_, false});
}

std::string_view Pipeline::prepare_write() {
  if (buffer_handed_ < buffer_.size()) {
    return std::string_view(buffer_).substr(buffer_handed_);
  }
  buffer_.clear();
  buffer_handed_ = 0;
  if (buffer_.capacity() > (std::size_t{1} << 20)) std::string().swap(buffer_);
  if (handshake_) {
    stage(std::move(*handshake_));
    handshake_.reset();
  }
  if (open_) {
    while (!waiting_.empty()) {
      stage(std::move(waiting_.front()));
      waiting_.pop_front();
    }
  }
  return buffer_;
}

void Pipeline::commit_write(std::size_t n) noexcept {
  n = std::min(n, buffer_.size() - buffer_handed_);
  buffer_handed_ += n;
  handed_total_ += n;
}

std::optional<Error> Pipeline::consume(const char* data, std::size_t len) {
  if (len == 0) return std::nullopt;
  if (in_flight_.empty() && !on_push_) {
    return Error{Errc::protocol, endpoint_ + ": " + std::to_string(len) +
                                     " bytes received with no command pending"};
  }
  if (redisReaderFeed(reader_, data, len) != REDIS_OK) return error_from_reader(*reader_);
  std::vector<Done> done;
  std::optional<Error> broken;
  for (;;) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
      broken = budget_.exceeded ? over_budget() : error_from_reader(*reader_);
      if (!budget_.exceeded) broken->message = endpoint_ + ": " + broken->message;
      break;
    }
    if (raw == nullptr) break;
    budget_.used = 0;  // a whole reply came out: the next one starts from nothing
    if (auto e = deliver(ReplyPtr(static_cast<redisReply*>(raw)), done)) {
      broken = std::move(e);
      break;
    }
  }
  if (!broken) {
    // What is left unparsed belongs to the reply under construction and counts against its
    // budget: a garbage bulk length cannot make the buffer grow past it.
    const std::size_t unparsed = reader_->len - reader_->pos;
    if (unparsed > 0 && in_flight_.empty() && !on_push_) {
      broken = Error{Errc::protocol, endpoint_ + ": " + std::to_string(unparsed) +
                                         " bytes received with no command pending"};
    } else if (unparsed > limits_.reply_budget || budget_.used > limits_.reply_budget - unparsed) {
      broken = over_budget();
    }
  }
  run(done);
  return broken;
}

Error Pipeline::over_budget() const {
  return Error{Errc::protocol, endpoint_ + ": reply larger than the reply budget of " +
                                   std::to_string(limits_.reply_budget) +
                                   " bytes (max_value_size + 1 MiB); dropping the connection"};
}

std::optional<Error> Pipeline::deliver(ReplyPtr reply, std::vector<Done>& out) {
  if (in_flight_.empty() || (on_push_ && is_pubsub_message(*reply))) {
    if (on_push_) {
      out.push_back(Done{on_push_, Outcome{std::nullopt, true, std::move(reply), {}}});
      return std::nullopt;
    }
    return Error{Errc::protocol, endpoint_ + ": reply received with no command pending"};
  }
  Entry& front = in_flight_.front();
  if (front.end > handed_total_) {
    return Error{Errc::protocol, endpoint_ + ": reply received for a command not yet sent"};
  }
  if (front.earlier.size() + 1 < front.request.replies) {
    front.earlier.push_back(std::move(reply));
    return std::nullopt;
  }
  Entry e = std::move(front);
  in_flight_.pop_front();
  ++delivered_;
  if (e.abandoned) {
    --abandoned_;
    return std::nullopt;
  }
  out.push_back(Done{std::move(e.request.done),
                     Outcome{std::nullopt, true, std::move(reply), std::move(e.earlier)}});
  return std::nullopt;
}

// Every error names the command it ended: "GET: connection to 127.0.0.1:6379 lost: ...".
Error Pipeline::named(const Request& r, const Error& why) {
  if (r.name == nullptr || *r.name == '\0') return why;
  return Error{why.code, std::string(r.name) + ": " + why.message};
}

Error Pipeline::timeout_error(const Request& r) const {
  return Error{Errc::timeout, std::string(r.name) + ": no reply from " + endpoint_ + " within " +
                                  std::to_string(limits_.command_timeout.count()) + " ms"};
}

std::optional<Error> Pipeline::expire(TimePoint now) {
  std::vector<Done> done;
  // Not yet prepared: simply removed, never sent.
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->deadline <= now) {
      Outcome o;
      o.error = open_
                    ? timeout_error(*it)
                    : Error{Errc::timeout,
                            std::string(it->name) + ": no connection to " + endpoint_ + " within " +
                                std::to_string(limits_.command_timeout.count()) + " ms (not sent)"};
      done.push_back(Done{std::move(it->done), std::move(o)});
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
  // Prepared or written: completed, but kept to absorb the reply and keep the order.
  for (auto& e : in_flight_) {
    if (!e.abandoned && e.request.deadline <= now) {
      e.abandoned = true;
      ++abandoned_;
      Outcome o;
      o.error = timeout_error(e.request);
      o.sent = true;
      done.push_back(Done{std::move(e.request.done), std::move(o)});
      e.request.done = nullptr;
    }
  }
  std::optional<Error> hung;
  if (limits_.hung_after.count() > 0 && !in_flight_.empty() &&
      in_flight_.front().request.deadline != TimePoint::max() &&
      in_flight_.front().request.deadline + limits_.hung_after <= now) {
    hung = Error{Errc::timeout,
                 "no reply from " + endpoint_ + " for " +
                     std::to_string((limits_.command_timeout + limits_.hung_after).count()) +
                     " ms; replacing the connection"};
  }
  run(done);
  return hung;
}

TimePoint Pipeline::next_deadline() const noexcept {
  auto next = TimePoint::max();
  for (const auto& r : waiting_) next = std::min(next, r.deadline);
  for (const auto& e : in_flight_) {
    if (!e.abandoned) next = std::min(next, e.request.deadline);
  }
  if (limits_.hung_after.count() > 0 && !in_flight_.empty() &&
      in_flight_.front().request.deadline != TimePoint::max()) {
    next = std::min(next, in_flight_.front().request.deadline + limits_.hung_after);
  }
  return next;
}

void Pipeline::fail_all(const Error& why, std::uint64_t drop) {
  std::vector<Done> done;
  done.reserve(pending() + 1);
  for (auto& e : in_flight_) {
    if (e.abandoned) continue;
    Outcome o;
    o.error = named(e.request, why);
    o.drop = drop;
    o.sent = e.end <= handed_total_;
    done.push_back(Done{std::move(e.request.done), std::move(o)});
  }
  if (handshake_) {
    Outcome o;
    o.error = named(*handshake_, why);
    o.drop = drop;
    done.push_back(Done{std::move(handshake_->done), std::move(o)});
  }
  for (auto& r : waiting_) {
    Outcome o;
    o.error = named(r, why);
    o.drop = drop;
    done.push_back(Done{std::move(r.done), std::move(o)});
  }
  in_flight_.clear();
  waiting_.clear();
  handshake_.reset();
  abandoned_ = 0;
  open_ = false;
  buffer_.clear();
  buffer_handed_ = 0;
  staged_total_ = handed_total_ = 0;
  redisReaderFree(reader_);
  budget_.used = 0;
  budget_.exceeded = false;
  reader_ = create_reader(&budget_);
  run(done);
}

}  // namespace rcache::detail
