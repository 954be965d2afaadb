// The machinery behind Client: turns a call into a Request, and its Outcome into a Result<T>,
// for the blocking, callback and future forms alike.
//
// Thread safety: as Client.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "rcache/client.hpp"
#include "transport.hpp"

namespace rcache::detail {

class ClientCore {
 public:
  ClientCore(Config cfg, std::unique_ptr<Transport> transport)
      : cfg_(std::move(cfg)), transport_(std::move(transport)) {}

  const Config& config() const noexcept { return cfg_; }
  Transport& transport() noexcept { return *transport_; }

  Request make_request(const char* name) const {
    Request r;
    r.name = name;
    r.deadline = Clock::now() + cfg_.command_timeout;
    return r;
  }

  // Blocking form: parse runs on the calling thread.
  template <class T, class Parse>
  Result<T> call(Request&& req, Parse parse) {
    if (std::this_thread::get_id() == transport_->loop_thread()) {
      return Error{Errc::invalid_argument,
                   std::string(req.name) +
                       ": blocking call from an rcache callback would deadlock; use the async form"};
    }
    struct Slot {
      std::mutex mu;
      std::condition_variable cv;
      bool done = false;
      Outcome out;
    } slot;
    req.done = [&slot](Outcome&& o) {
      std::lock_guard lock(slot.mu);  // notify under the lock: `slot` dies as soon as we unlock
      slot.out = std::move(o);
      slot.done = true;
      slot.cv.notify_one();
    };
    transport_->submit(std::move(req));
    std::unique_lock lock(slot.mu);
    slot.cv.wait(lock, [&] { return slot.done; });
    if (slot.out.error) return std::move(*slot.out.error);
    return parse(slot.out);
  }

  // Callback form: parse and cb run on the loop thread.
  template <class T, class Parse>
  void call_async(Request&& req, Parse parse, Callback<T> cb) {
    req.done = [parse = std::move(parse), cb = std::move(cb)](Outcome&& o) {
      if (!cb) return;
      if (o.error) {
        cb(Result<T>(std::move(*o.error)));
      } else {
        cb(parse(o));
      }
    };
    transport_->submit(std::move(req));
  }

  template <class T, class Parse>
  std::future<Result<T>> call_future(Request&& req, Parse parse) {
    auto promise = std::make_shared<std::promise<Result<T>>>();
    auto future = promise->get_future();
    call_async<T>(std::move(req), std::move(parse),
                  Callback<T>([promise](Result<T> r) { promise->set_value(std::move(r)); }));
    return future;
  }

 private:
  const Config cfg_;
  std::unique_ptr<Transport> transport_;
};

}  // namespace rcache::detail
