// What the client hands a call to: the Executor for one endpoint, or the cluster router that
// picks a node's executor. Same contract as Executor::execute.
//
// Thread safety: execute() from any thread.
#pragma once

#include "resilience/command.hpp"
#include "transport/request.hpp"

namespace rcache::detail {

class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  // An Error return means the call was refused: `done` is left untouched (the caller still owns
  // it) and will never be called. Otherwise `done` is moved from and runs exactly once, on the
  // loop thread.
  [[nodiscard]] virtual Result<void> execute(Command&& cmd, Completion&& done) = 0;
};

}  // namespace rcache::detail
