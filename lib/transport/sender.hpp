// The narrow interface the layers above use to reach the transport: submit a request, run work
// on the loop thread now or later. The executor is unit-tested against a fake Sender.
//
// Thread safety: submit() and post() from any thread; schedule_after() from the loop thread.
#pragma once

#include <chrono>
#include <functional>

#include "transport/request.hpp"

namespace rcache::detail {

class Sender {
 public:
  virtual ~Sender() = default;
  // The request's completion runs exactly once, on the loop thread (at shutdown: on the thread
  // that submits or destroys, with Errc::shutdown).
  virtual void submit(Request&& request) = 0;
  // Runs `fn` on the loop thread soon (at shutdown: at once, on the calling thread).
  virtual void post(std::function<void()> fn) = 0;
  // Loop thread only: runs `fn` on the loop thread after `delay`; at shutdown pending ones run at
  // once (whatever they submit then fails with Errc::shutdown).
  virtual void schedule_after(std::chrono::microseconds delay, std::function<void()> fn) = 0;
  virtual bool on_loop_thread() const noexcept = 0;
};

}  // namespace rcache::detail
